import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { serialize } from '../../../src/graph/serialize.js';
import { createSession } from '../../../src/runtime/session.js';
import { parseT5Config, readConfigJson } from '../../../src/models/config.js';
import { GraphWeights, loadSafetensors } from '../../../src/models/weights.js';
import { t5 } from '../../../src/models/t5.js';
import { parseLoraConfig } from '../../../src/peft/lora/config.js';
import { injectLora } from '../../../src/peft/lora/inject.js';
import { readAdapter } from '../../../src/peft/files.js';
import { GOLDENS, readGoldens, type GoldenTensor, goldenInt64 } from '../../helpers/goldens.js';
import { TestRepo, tempDir } from '../../helpers/gitRepo.js';
import { trainJson } from '../../helpers/trainCli.js';

const T5 = join(GOLDENS, 't5-tiny');
function dataset(): string {
  const f = join(tempDir(), 'data.jsonl');
  let s = 1;
  const rnd = () => (s = (s * 48271) % 2147483647) / 2147483647;
  const lines = Array.from({ length: 24 }, () => {
    const ids = Array.from({ length: 4 + Math.floor(rnd() * 6) }, () => 5 + Math.floor(rnd() * 490));
    return JSON.stringify({ input_ids: [...ids, 2], labels: [...ids.slice(0, 3), 2] });
  });
  writeFileSync(f, lines.join('\n') + '\n');
  return f;
}
const train = (...args: string[]) =>
  spawnSync(process.execPath, [resolve('dist/cli.mjs'), 'train', ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });

test('changeling train: deterministic for a seed, PEFT files out, losses fall, --init continues from an adapter', () => {
  const data = dataset();
  const runs = [0, 1].map(() => {
    const out = join(tempDir(), 'lora');
    const r = train(
      '--model',
      T5,
      '--method',
      'lora',
      '--data',
      data,
      '--out',
      out,
      '--steps',
      '8',
      '--lr',
      '5e-3',
      '--seed',
      '7',
      '--json',
    );
    assert.equal(r.status, 0, r.stderr);
    return { out, json: JSON.parse(r.stdout) };
  });
  assert.deepEqual(runs[0]!.json.steps, runs[1]!.json.steps);
  assert.deepEqual(
    readFileSync(join(runs[0]!.out, 'adapter_model.safetensors')),
    readFileSync(join(runs[1]!.out, 'adapter_model.safetensors')),
  );
  const losses = runs[0]!.json.steps.map((s: { loss: number }) => s.loss);
  assert.equal(losses.length, 8);
  assert.ok(losses.at(-1) < losses[0], `loss ${losses[0]} -> ${losses.at(-1)}`);
  const cfg = JSON.parse(readFileSync(join(runs[0]!.out, 'adapter_config.json'), 'utf8'));
  assert.deepEqual([cfg.peft_type, cfg.r, cfg.lora_alpha, cfg.target_modules, cfg.task_type], ['LORA', 8, 32, ['q', 'v'], 'SEQ_2_SEQ_LM']);
  // What is saved carries the profile it is fed by: the base model's (here the default), or --input-format.
  assert.equal(JSON.parse(readFileSync(join(runs[0]!.out, 'changeling.json'), 'utf8')).inputFormat, 'study');
  const again = train(
    '--model',
    T5,
    '--method',
    'lora',
    '--data',
    data,
    '--out',
    join(tempDir(), 'more'),
    '--steps',
    '2',
    '--lr',
    '5e-3',
    '--seed',
    '7',
    '--init',
    runs[0]!.out,
    '--input-format',
    'commitchronicle',
    '--json',
  );
  assert.equal(JSON.parse(readFileSync(join(JSON.parse(again.stdout).out, 'changeling.json'), 'utf8')).inputFormat, 'commitchronicle');
  assert.equal(again.status, 0, again.stderr);
  assert.ok(JSON.parse(again.stdout).steps[0].loss < losses[0], 'starts from the trained adapter');
  for (const [method, ...extra] of [['adapter'], ['prefix'], ['prefix', '--peft-prefix'], ['fmft']]) {
    const out = join(tempDir(), method!);
    const r = train(
      '--model',
      T5,
      '--method',
      method!,
      ...extra,
      '--data',
      data,
      '--out',
      out,
      '--steps',
      '2',
      '--prefix-tokens',
      '3',
      '--json',
    );
    assert.equal(r.status, 0, `${method}: ${r.stderr}`);
    assert.ok(existsSync(join(out, method === 'fmft' ? 'model.safetensors' : 'adapter_model.safetensors')), method);
    if (method === 'prefix') {
      const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
      assert.equal(cfg.peft_type, extra.length ? 'PREFIX_TUNING' : 'CHANGELING_PREFIX');
      if (!extra.length) assert.equal(cfg.sites.length, 6, 'every attention of t5-tiny');
    }
  }
  // Continuing a PEFT prefix adapter takes its own number of virtual tokens, not the --prefix-tokens default.
  const peftOut = join(tempDir(), 'peft-prefix');
  assert.equal(
    train('--model', T5, '--method', 'prefix', '--peft-prefix', '--prefix-tokens', '3', '--data', data, '--out', peftOut, '--steps', '1')
      .status,
    0,
  );
  const cont = train(
    '--model',
    T5,
    '--method',
    'prefix',
    '--peft-prefix',
    '--init',
    peftOut,
    '--data',
    data,
    '--out',
    join(tempDir(), 'peft-more'),
    '--steps',
    '1',
    '--json',
  );
  assert.equal(cont.status, 0, cont.stderr);
  assert.equal(JSON.parse(cont.stdout).trainableParameters, 3 * 2 * 2 * 64);
  // A PLBART with its SentencePiece tokenizer (as uclanlp/plbart-base ships it).
  const plbart = resolve('test/fixtures/sentencepiece/plbart-tiny-spm');
  const bp = join(tempDir(), 'bp');
  const bart = train(
    '--model',
    plbart,
    '--method',
    'prefix',
    '--data',
    data,
    '--out',
    bp,
    '--steps',
    '2',
    '--prefix-tokens',
    '3',
    '--json',
  );
  assert.equal(bart.status, 0, bart.stderr);
  // A prefix-tuned PLBART generates messages for a staged change.
  const repo = TestRepo.init();
  repo.write('a.py', 'x = 1\n').commit('first');
  repo.write('a.py', 'x = 2\nprint(x)\n');
  repo.git('add', 'a.py');
  const s = spawnSync(process.execPath, [resolve('dist/cli.mjs'), 'suggest', '--model', plbart, '--adapter', bp, '--json', '-n', '2'], {
    cwd: repo.dir,
    encoding: 'utf8',
    env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
  });
  assert.equal(s.status, 0, s.stderr);
  assert.ok(
    JSON.parse(s.stdout).candidates.some((c: { source: string }) => c.source === 'model+adapter'),
    s.stdout,
  );
  // Continuing an adapter of another method is refused with what it is.
  const wrong = train('--model', T5, '--method', 'lora', '--init', peftOut, '--data', data, '--out', join(tempDir(), 'w'), '--steps', '1');
  assert.equal(wrong.status, 2);
  assert.match(wrong.stderr, /is a peft-prefix adapter, not lora/);
});

test('changeling train: clear errors for bad data and options', () => {
  const bad = join(tempDir(), 'bad.jsonl');
  writeFileSync(bad, '{"input_ids": [1, 2]}\n');
  let r = train('--model', T5, '--method', 'lora', '--data', bad, '--out', join(tempDir(), 'x'));
  assert.equal(r.status, 2);
  assert.match(r.stderr, /bad\.jsonl:1: sequence-to-sequence data needs "labels"/);
  r = train('--model', T5, '--method', 'bitfit', '--data', bad, '--out', join(tempDir(), 'x'));
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--method must be lora, adapter, prefix or fmft/);
  r = train('--model', join(GOLDENS, 'roberta-tiny'), '--method', 'prefix', '--data', bad, '--out', join(tempDir(), 'x'));
  assert.notEqual(r.status, 0);
  r = train('--model', T5, '--method', 'lora', '--data', dataset(), '--out', join(tempDir(), 'x'), '--recompute', 'sometimes');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--recompute must be auto, blocks, attention, lean or none, not "sometimes"/);
});

test('changeling train --recompute attention, lean and blocks: the same losses and adapter as keeping everything (T5: LoRA, and prefixes in every attention)', () => {
  const data = dataset();
  for (const method of ['lora', 'prefix']) {
    const runs = ['none', 'attention', 'lean', 'blocks'].map((recompute) => {
      const out = join(tempDir(), `${method}-${recompute}`);
      const json = trainJson(
        T5,
        data,
        ...['--method', method, '--prefix-tokens', '3', '--out', out, '--steps', '4', '--lr', '5e-3'],
        ...['--seed', '3', '--recompute', recompute],
      );
      return { out, json };
    });
    assert.deepEqual(
      runs.map((r) => [r.json.attention.recomputed, r.json.attention.lean, r.json.blocksRecomputed]),
      [
        [false, false, false],
        [true, false, false],
        [true, true, false],
        [false, false, true],
      ],
    );
    assert.ok(runs[2]!.json.attention.keptBytes > 0);
    const [kept, ...others] = runs;
    for (const r of others) {
      assert.deepEqual(r.json.steps, kept!.json.steps, method);
      assert.deepEqual(
        readFileSync(join(r.out, 'adapter_model.safetensors')),
        readFileSync(join(kept!.out, 'adapter_model.safetensors')),
        method,
      );
    }
  }
});

test('unmerged LoRA: one graph, several adapters switched by their inputs, without reloading the base', async () => {
  const dir = join(GOLDENS, 't5-tiny-peft-lora');
  const g = readGoldens('t5-tiny-peft-lora');
  const cfg = parseT5Config(await readConfigJson(dir));
  const b = new GraphBuilder('switch');
  const w = new GraphWeights(b, await loadSafetensors(join(dir, 'model.safetensors')));
  const inputs = {
    inputIds: b.input('input_ids', 'int64', ['batch', 'src']),
    attentionMask: b.input('attention_mask', 'int64', ['batch', 'src']),
    decoderInputIds: b.input('decoder_input_ids', 'int64', ['batch', 'tgt']),
  };
  const out = t5(b, cfg, w, inputs, { maxLength: 64 });
  const adapter = await readAdapter(dir);
  const lora = injectLora(b, parseLoraConfig(adapter.config));
  b.output(out.logits, 'logits');
  const s = await createSession(serialize(b));
  const run = async (pick: (name: string, data: Float32Array) => Float32Array) => {
    const feeds: Record<string, ort.Tensor> = {
      input_ids: goldenInt64(g.inputs.input_ids),
      attention_mask: goldenInt64(g.inputs.attention_mask),
      decoder_input_ids: goldenInt64(g.inputs.decoder_input_ids),
    };
    for (const l of lora)
      for (const t of [l.a, l.b])
        feeds[t.name] = new ort.Tensor('float32', pick(t.name, adapter.weights.get(t.name)!.data), t.shape as number[]);
    return (await s.run(feeds)).logits!.data as Float32Array;
  };
  const withAdapter = await run((_, d) => d);
  const zeroB = await run((n, d) => (n.endsWith('lora_B.weight') ? new Float32Array(d.length) : d)); // an adapter that is "off"
  const again = await run((_, d) => d);
  const base = readGoldens('t5-tiny').forward.logits.data as number[];
  assert.ok(Math.max(...Array.from(zeroB, (v, i) => Math.abs(v - base[i]!))) < 1e-4, 'B = 0: the base model');
  assert.ok(Math.max(...Array.from(withAdapter, (v, i) => Math.abs(v - g.forward.logits.data[i]))) < 1e-4, 'the adapter');
  assert.deepEqual(again, withAdapter);
});
