import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadModelFolder } from '../../../src/models/modelFolder.js';
import { withAdapter } from '../../../src/peft/apply.js';
import { readAdapter } from '../../../src/peft/files.js';
import { CausalLmRunner } from '../../../src/runtime/causalLm.js';
import { scaledError, type GoldenTensor } from '../../helpers/goldens.js';
import { tempDir } from '../../helpers/gitRepo.js';
import { goldenRowsFile } from '../../helpers/trainCli.js';

/**
 * LoRA on the decoder-only family through `changeling train`, against PEFT itself
 * (test/fixtures/decoder/make_train_goldens.py): all seven projections, r 4, PEFT's initial adapter given with
 * --init, 4 AdamW steps on a right-padded batch with a labelled prompt masked out; the losses, the adapter
 * saved in PEFT's format and the logits through it are PEFT's.
 */
const DECODER = resolve('test/fixtures/decoder');

for (const [name, tag] of [
  ['qwen2-tiny', ''],
  ['llama-tiny', ''],
  ['qwen2-tiny', '-layer1'],
]) {
  test(`${name}${tag}: LoRA on all seven projections${tag ? ' of layer 1 only (layers_to_transform)' : ''} trains as PEFT does: losses, the saved adapter and its logits`, async () => {
    const g = JSON.parse(readFileSync(join(DECODER, name!, `train_goldens${tag}.json`), 'utf8'));
    const data = goldenRowsFile(g);
    const out = join(tempDir(), 'lora');
    const r = spawnSync(
      process.execPath,
      [
        resolve('dist/cli.mjs'),
        'train',
        '--model',
        join(DECODER, name!),
        '--method',
        'lora',
        '--init',
        join(DECODER, `${name}-lora${tag}-init`),
        '--data',
        data,
        '--out',
        out,
        '--steps',
        String(g.steps),
        '--batch',
        '2',
        '--lr',
        String(g.lr),
        '--weight-decay',
        String(g.weight_decay),
        '--clip',
        '0',
        '--schedule',
        'constant',
        '--json',
      ],
      { encoding: 'utf8', maxBuffer: 1 << 24 },
    );
    assert.equal(r.status, 0, r.stderr);
    const losses = (JSON.parse(r.stdout).steps as Array<{ loss: number }>).map((s) => s.loss);
    losses.forEach((l, i) =>
      assert.ok(
        Math.abs(l - g.loss_before_step[i]) <= 1e-3 * Math.abs(g.loss_before_step[i]),
        `step ${i + 1}: ${l} vs ${g.loss_before_step[i]}`,
      ),
    );
    // The adapter is PEFT's: its config, its keys, and the weights after the steps.
    const saved = await readAdapter(out);
    assert.equal(saved.config.task_type, 'CAUSAL_LM');
    assert.deepEqual([...(saved.config.target_modules as string[])].sort(), [
      'down_proj',
      'gate_proj',
      'k_proj',
      'o_proj',
      'q_proj',
      'up_proj',
      'v_proj',
    ]);
    const want = g.weights_after as Record<string, GoldenTensor>;
    assert.deepEqual([...saved.weights.keys()].sort(), Object.keys(want).sort());
    // AdamW moves each weight by about lr a step whatever the gradient's size, so a gradient within float
    // rounding of zero can move either way: each weight within two steps' move of PEFT's, most much closer.
    let close = 0;
    let all = 0;
    for (const [k, t] of Object.entries(want)) {
      const got = saved.weights.get(k)!.data;
      got.forEach((x, i) => {
        const d = Math.abs(x - t.data[i]!);
        assert.ok(d <= 2 * g.lr, `${k}[${i}]: ${x} vs ${t.data[i]}`);
        if (d <= 1e-4) close++;
        all++;
      });
    }
    assert.ok(close >= 0.98 * all, `${close} of ${all} weights within 1e-4 of PEFT's`);
    // Loaded here (merged into the base), it gives the logits PEFT gives.
    assert.deepEqual(saved.config.layers_to_transform ?? null, g.layers_to_transform);
    const runner = await CausalLmRunner.create(await withAdapter(await loadModelFolder(join(DECODER, name!)), out));
    const ids: number[] = g.eval_input_ids;
    const logits = await runner.forward({ ids: [ids], mask: [ids.map(() => 1)] });
    const err = scaledError(logits.data as Float32Array, g.eval_logits.data);
    assert.ok(err < 1e-3, `logits: ${err} relative to the largest`);
  });
}

test('changeling train on a decoder-only model: rows with mismatched labels and adapters of another method or model are refused clearly', () => {
  const data = join(tempDir(), 'bad.jsonl');
  writeFileSync(data, JSON.stringify({ input_ids: [1, 2, 3], labels: [1, 2] }) + '\n');
  const run = (...args: string[]) =>
    spawnSync(
      process.execPath,
      [resolve('dist/cli.mjs'), 'train', '--model', join(DECODER, 'qwen2-tiny'), '--data', data, '--out', join(tempDir(), 'o'), ...args],
      {
        encoding: 'utf8',
      },
    );
  const bad = run('--method', 'lora');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /a causal LM's data needs "labels" as many as "input_ids"/);
  writeFileSync(data, JSON.stringify({ input_ids: [1, 2, 3], labels: [-100, 2, 3] }) + '\n');
  const other = run('--method', 'prefix', '--init', join(DECODER, 'qwen2-tiny-lora-init'));
  assert.equal(other.status, 2);
  assert.match(other.stderr, /qwen2-tiny-lora-init is a lora adapter, not peft-prefix/);
  const wrong = run('--method', 'prefix', '--init', join(DECODER, 'llama-tiny-prefix-init'));
  assert.equal(wrong.status, 2);
  assert.match(wrong.stderr, /made for 2 layers of 1 key\/value heads \(token_dim 16\); this model has 2 layers of 2 \(token_dim 32\)/);
});

test('chat rows: rendered with the model template, labelled on the assistant turns with their closing token, as the golden made over transformers', async () => {
  const { chatRow } = await import('../../../src/peft/chatRows.js');
  const { loadChatTemplate } = await import('../../../src/models/chatTemplate.js');
  const { CodeTokenizer } = await import('../../../src/models/tokenizer.js');
  const dir = join(DECODER, 'tokenizer');
  const g = JSON.parse(readFileSync(join(dir, 'chat_train_goldens.json'), 'utf8'));
  const row = chatRow(g.messages, (await loadChatTemplate(dir))!, await CodeTokenizer.fromFolder(dir), 'golden');
  assert.deepEqual(row.inputIds, g.input_ids);
  assert.deepEqual(row.labels, g.labels);
  // And `changeling train` takes such rows on a code LLM folder with a template.
  const { writeTinyQwen2 } = await import('../../helpers/tinyModels.js');
  const model = writeTinyQwen2(join(tempDir(), 'qwen2-chat'));
  const data = join(tempDir(), 'chat.jsonl');
  writeFileSync(data, [JSON.stringify({ messages: g.messages }), JSON.stringify({ messages: g.messages.slice(0, 3) })].join('\n') + '\n');
  const r = spawnSync(
    process.execPath,
    [
      resolve('dist/cli.mjs'),
      'train',
      '--model',
      model,
      '--method',
      'lora',
      '--data',
      data,
      '--out',
      join(tempDir(), 'o'),
      '--steps',
      '3',
      '--batch',
      '2',
      '--lr',
      '1e-2',
      '--layers',
      '1',
      '--json',
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.steps.length, 3);
  assert.ok(j.steps[2].loss < j.steps[0].loss, JSON.stringify(j.steps));
  const cfg = JSON.parse(readFileSync(join(j.out, 'adapter_config.json'), 'utf8'));
  assert.deepEqual([cfg.task_type, cfg.layers_to_transform], ['CAUSAL_LM', [1]]);
  const noAssistant = join(tempDir(), 'none.jsonl');
  writeFileSync(noAssistant, JSON.stringify({ messages: g.messages.slice(0, 2) }) + '\n');
  const bad = spawnSync(
    process.execPath,
    [resolve('dist/cli.mjs'), 'train', '--model', model, '--method', 'lora', '--data', noAssistant, '--out', join(tempDir(), 'x')],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /a chat row needs at least one assistant turn/);
});
