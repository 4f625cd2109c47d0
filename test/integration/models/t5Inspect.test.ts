import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadModelFolder } from '../../../src/models/modelFolder.js';
import { T5Runner } from '../../../src/runtime/t5Runner.js';
import { GOLDENS, maxRelError, readGoldens } from '../../helpers/goldens.js';
import { tempDir } from '../../helpers/gitRepo.js';

const g = readGoldens('t5-tiny');
const rows = (t: { shape: number[]; data: number[] }) => Array.from({ length: t.shape[0]! }, (_, i) => t.data.slice(i * t.shape[1]!, (i + 1) * t.shape[1]!));

test('changeling inspect on t5-tiny prints what transformers computes', () => {
  const input = join(tempDir(), 'input.json');
  writeFileSync(input, JSON.stringify({
    input_ids: rows(g.inputs.input_ids),
    attention_mask: rows(g.inputs.attention_mask),
    labels: rows(g.inputs.labels),
    generate: { max_new_tokens: g.generate.args.max_new_tokens, num_beams: 1 },
  }));
  const r = spawnSync(process.execPath, [resolve('dist/cli.mjs'), 'inspect', '--model', join(GOLDENS, 't5-tiny'), '--input', input, '--json'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.logits.shape, g.forward.logits.shape);
  assert.ok(maxRelError(out.logits.data, g.forward.logits.data) < 1e-4, 'logits (decoder inputs from shifted labels)');
  assert.ok(maxRelError(out.encoder_last_hidden_state.data, g.forward.encoder_last_hidden_state.data) < 1e-4);
  assert.ok(Math.abs(out.loss - g.train.loss) < 1e-5, `loss ${out.loss}`);
  assert.deepEqual(out.sequences, g.generate.sequences);
});

test('greedy generation: every step\'s logits match transformers\' KV-cached steps', async () => {
  const runner = await T5Runner.create(await loadModelFolder(join(GOLDENS, 't5-tiny')));
  const i64 = (t: { shape: number[]; data: number[] }) => new ort.Tensor('int64', BigInt64Array.from(t.data.map(BigInt)), t.shape);
  const r = await runner.greedy(i64(g.inputs.input_ids), i64(g.inputs.attention_mask), 8);
  const [steps, B, V] = g.generate.step_logits.shape as number[];
  assert.equal(r.stepLogits.length, steps);
  for (let s = 0; s < steps!; s++) {
    const e = maxRelError(r.stepLogits[s]!, g.generate.step_logits.data.slice(s * B! * V!, (s + 1) * B! * V!));
    assert.ok(e < 1e-4, `step ${s}: ${e}`);
  }
});

test('inspect: clear errors for a missing model and a bad input file', () => {
  const bad = join(tempDir(), 'bad.json');
  writeFileSync(bad, '{"input_ids": [[1, 2], [3]]}');
  const cli = (...a: string[]) => spawnSync(process.execPath, [resolve('dist/cli.mjs'), 'inspect', ...a], { encoding: 'utf8' });
  let r = cli('--model', '/nonexistent', '--input', bad);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /no such model folder/);
  r = cli('--model', join(GOLDENS, 't5-tiny'), '--input', bad);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /"input_ids" must be a non-empty rectangular array/);
});
