import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadModelFolder } from '../../../src/models/modelFolder.js';
import { Seq2SeqRunner } from '../../../src/runtime/seq2seq.js';
import { GOLDENS, maxRelError, readGoldens, goldenInt64 } from '../../helpers/goldens.js';
import { tempDir } from '../../helpers/gitRepo.js';

const g = readGoldens('t5-tiny');
const rows = (t: { shape: number[]; data: number[] }) =>
  Array.from({ length: t.shape[0]! }, (_, i) => t.data.slice(i * t.shape[1]!, (i + 1) * t.shape[1]!));

test('changeling inspect on t5-tiny prints what transformers computes', () => {
  const input = join(tempDir(), 'input.json');
  writeFileSync(
    input,
    JSON.stringify({
      input_ids: rows(g.inputs.input_ids),
      attention_mask: rows(g.inputs.attention_mask),
      labels: rows(g.inputs.labels),
      generate: { max_new_tokens: g.generate.args.max_new_tokens, num_beams: 1 },
    }),
  );
  const r = spawnSync(
    process.execPath,
    [resolve('dist/cli.mjs'), 'inspect', '--model', join(GOLDENS, 't5-tiny'), '--input', input, '--json'],
    { encoding: 'utf8', maxBuffer: 1 << 26 },
  );
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.logits.shape, g.forward.logits.shape);
  assert.ok(maxRelError(out.logits.data, g.forward.logits.data) < 1e-4, 'logits (decoder inputs from shifted labels)');
  assert.ok(maxRelError(out.encoder_last_hidden_state.data, g.forward.encoder_last_hidden_state.data) < 1e-4);
  assert.ok(Math.abs(out.loss - g.train.loss) < 1e-5, `loss ${out.loss}`);
  assert.deepEqual(out.sequences, g.generate.sequences);
});

test("changeling inspect on plbart-tiny: decoder inputs from PLBART's shift, forced EOS in generation", () => {
  const p = readGoldens('plbart-tiny');
  const input = join(tempDir(), 'input.json');
  writeFileSync(
    input,
    JSON.stringify({
      input_ids: rows(p.inputs.input_ids),
      attention_mask: rows(p.inputs.attention_mask),
      labels: rows(p.inputs.labels),
      generate: { max_new_tokens: 8, decoder_start_token_id: p.generate.args.decoder_start_token_id },
    }),
  );
  const r = spawnSync(
    process.execPath,
    [resolve('dist/cli.mjs'), 'inspect', '--model', join(GOLDENS, 'plbart-tiny'), '--input', input, '--json'],
    { encoding: 'utf8', maxBuffer: 1 << 26 },
  );
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.ok(maxRelError(out.logits.data, p.forward.logits.data) < 1e-4);
  assert.ok(maxRelError(out.encoder_last_hidden_state.data, p.forward.encoder_last_hidden_state.data) < 1e-4);
  assert.ok(Math.abs(out.loss - p.train.loss) < 1e-5, `loss ${out.loss}`);
  assert.deepEqual(out.sequences, p.generate.sequences);
});

test('changeling inspect on roberta-tiny: hidden states, pooler, classifier logits and loss', () => {
  const r0 = readGoldens('roberta-tiny');
  const input = join(tempDir(), 'input.json');
  writeFileSync(
    input,
    JSON.stringify({ input_ids: rows(r0.inputs.input_ids), attention_mask: rows(r0.inputs.attention_mask), labels: r0.inputs.labels.data }),
  );
  const r = spawnSync(
    process.execPath,
    [resolve('dist/cli.mjs'), 'inspect', '--model', join(GOLDENS, 'roberta-tiny'), '--input', input, '--json'],
    { encoding: 'utf8', maxBuffer: 1 << 26 },
  );
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.ok(maxRelError(out.encoder_last_hidden_state.data, r0.base.last_hidden_state.data) < 1e-4);
  assert.ok(maxRelError(out.pooler_output.data, r0.base.pooler_output.data) < 1e-4);
  assert.ok(maxRelError(out.logits.data, r0.seq_cls.logits.data) < 1e-4);
  assert.ok(Math.abs(out.loss - r0.seq_cls.loss) < 1e-5, `loss ${out.loss}`);
});

test("greedy generation: every step's logits match transformers' KV-cached steps", async () => {
  for (const folder of ['t5-tiny', 'plbart-tiny']) {
    const gg = readGoldens(folder);
    const runner = await Seq2SeqRunner.create(await loadModelFolder(join(GOLDENS, folder)));
    const r = await runner.greedy(goldenInt64(gg.inputs.input_ids), goldenInt64(gg.inputs.attention_mask), 8, {
      decoderStartTokenId: gg.generate.args.decoder_start_token_id,
    });
    const [steps, B, V] = gg.generate.step_logits.shape as number[];
    assert.equal(r.stepLogits.length, steps);
    for (let s = 0; s < steps!; s++) {
      const e = maxRelError(r.stepLogits[s]!, gg.generate.step_logits.data.slice(s * B! * V!, (s + 1) * B! * V!));
      assert.ok(e < 1e-4, `${folder} step ${s}: ${e}`);
    }
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
