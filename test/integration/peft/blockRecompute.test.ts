import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tempDir } from '../../helpers/gitRepo.js';
import { goldenRowsFile, trainJson } from '../../helpers/trainCli.js';

/**
 * `changeling train --recompute blocks` on the decoder-only family: only each decoder block's input is kept through a
 * step and the block's forward runs again in its backward. The same losses and the same saved weights as keeping
 * everything, to the bit, for every method (LoRA on some layers, PEFT's prefix, bottleneck adapters, full
 * fine-tuning) and over int8 frozen weights (whose dequantized copies the replayed block replays too).
 */
const DECODER = resolve('test/fixtures/decoder');
const golden = JSON.parse(readFileSync(join(DECODER, 'qwen2-tiny', 'train_goldens.json'), 'utf8'));
const data = goldenRowsFile(golden);

function trained(model: string, recompute: string, args: string[]) {
  const out = join(tempDir(), recompute);
  const r = trainJson(
    join(DECODER, model),
    data,
    '--out',
    out,
    '--steps',
    '3',
    '--batch',
    '2',
    '--lr',
    '5e-3',
    '--seed',
    '3',
    '--recompute',
    recompute,
    ...args,
  );
  const file = args.includes('fmft') ? 'model.safetensors' : 'adapter_model.safetensors';
  return { r, weights: readFileSync(join(out, file)) };
}

const CASES: Array<[string, string[]]> = [
  ['qwen2-tiny', ['--method', 'lora', '--layers', '1']],
  ['qwen2-tiny', ['--method', 'prefix', '--prefix-tokens', '3']],
  ['qwen2-tiny', ['--method', 'adapter', '--adapter-size', '8']],
  ['qwen2-tiny', ['--method', 'fmft']],
  ['qwen2-tiny', ['--method', 'lora', '--frozen', 'int8']],
  ['llama-tiny', ['--method', 'lora']],
];

for (const [model, args] of CASES) {
  test(`${model} ${args.join(' ')}: whole decoder blocks recomputed give the same losses and weights to the bit`, () => {
    const kept = trained(model, 'none', args);
    const again = trained(model, 'blocks', args);
    assert.equal(kept.r.blocksRecomputed, false);
    assert.equal(again.r.blocksRecomputed, true);
    assert.equal(again.r.attention.recomputed, false);
    assert.equal(again.r.steps.length, 3);
    assert.deepEqual(
      again.r.steps.map((s: { loss: number }) => s.loss),
      kept.r.steps.map((s: { loss: number }) => s.loss),
    );
    assert.ok(again.weights.equals(kept.weights), 'the saved weights differ');
  });
}
