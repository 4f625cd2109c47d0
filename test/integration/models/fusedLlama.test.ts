import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { loadModelFolder } from '../../../src/models/modelFolder.js';
import { CausalLmRunner } from '../../../src/runtime/causalLm.js';
import { withAdapter } from '../../../src/peft/apply.js';
import { ANSWER_ROOM, emptyKv, reorderKv, resizeKv, roomFor } from '../../../src/runtime/kvBuffers.js';
import { ort } from '../../../src/runtime/session.js';
import { logitAgreement } from '../../../src/runtime/logitAgreement.js';
import { scaledError } from '../../helpers/goldens.js';
import { tempDir } from '../../helpers/gitRepo.js';
import { SafetensorsFile } from '../../../src/models/safetensorsFile.js';
import { closeWeights, DeferredWeight } from '../../../src/models/weights.js';

/**
 * The fused decoder graph (GroupQueryAttention with the cache in place, SkipSimplifiedLayerNormalization) against the
 * composed one, on the tiny Qwen2 trained here (real, peaked distributions) and a head size of 64: the same tokens
 * and logits within 1e-5 through a left-padded batch, an answer longer than the cache's first room (the buffers
 * grow), beam search (rows reordered), the prompt cache, and int8.
 */
const DECODER = resolve('test/fixtures/decoder');
const prompt = (n: number, seed: number, vocab: number) => Array.from({ length: n }, (_, i) => (i * 37 + seed * 11 + 5) % vocab);
/** Two rows of different lengths, left-padded as callers pass them. */
const padded = (vocab: number) => {
  const long = prompt(30, 1, vocab);
  const short = prompt(17, 2, vocab);
  return {
    ids: [long, [...new Array<number>(13).fill(0), ...short]],
    mask: [long.map(() => 1), [...new Array<number>(13).fill(0), ...short.map(() => 1)]],
  };
};
const worst = (a: Float32Array[], b: Float32Array[]) => Math.max(...a.map((x, i) => scaledError(x, b[i]!)));

for (const folder of ['qwen2-trained', 'qwen2-hd64']) {
  test(`${folder}: the fused graph generates what the composed one does, past its first cache room, and beam search agrees`, async () => {
    const model = await loadModelFolder(join(DECODER, folder));
    const fused = await CausalLmRunner.create(model, { precision: 'fp32' });
    const composed = await CausalLmRunner.create(model, { precision: 'fp32', attention: 'composed' });
    assert.equal(fused.fused, true);
    assert.equal(composed.fused, false);
    const batch = padded(fused.info.vocabSize);
    const n = ANSWER_ROOM + 40; // the buffers must grow at least once
    const o = { maxNewTokens: n, minNewTokens: n };
    const f = await fused.greedy(batch, o);
    const c = await composed.greedy(batch, o);
    assert.deepEqual(f.sequences, c.sequences);
    assert.equal(f.stepLogits.length, n);
    const err = worst(f.stepLogits, c.stepLogits);
    assert.ok(err < 1e-5, `step logits: ${err}`);
    const beam = { numBeams: 3, numReturnSequences: 2, maxNewTokens: 12 };
    const fb = await fused.beam(batch, beam);
    const cb = await composed.beam(batch, beam);
    assert.deepEqual(
      fb.flat().map((h) => h.tokens),
      cb.flat().map((h) => h.tokens),
    );
    fb.flat().forEach((h, i) => assert.ok(Math.abs(h.score - cb.flat()[i]!.score) < 1e-4));
  });
}

test('the fused prompt cache: a prompt asked again after a long answer, extended, or cut gives a fresh run`s tokens', async () => {
  const model = await loadModelFolder(join(DECODER, 'qwen2-trained'));
  const cached = await CausalLmRunner.create(model, { precision: 'fp32', prefixCache: true });
  const fresh = await CausalLmRunner.create(model, { precision: 'fp32', attention: 'composed' });
  const V = cached.info.vocabSize;
  const one = (ids: number[]) => ({ ids: [ids], mask: [ids.map(() => 1)] });
  const p = prompt(50, 3, V);
  const long = { maxNewTokens: 120, minNewTokens: 120 };
  await cached.greedy(one(p), long); // appends 120 tokens after the cached prompt's slots, growing its buffers
  for (const [ids, reused] of [
    [p, 50],
    [[...p, 7, 8, 9], 50],
    [p.slice(0, 35), 34],
  ] as Array<[number[], number]>) {
    const a = await cached.greedy(one(ids), long);
    assert.equal(cached.reused, reused);
    const b = await fresh.greedy(one(ids), long);
    assert.deepEqual(a.sequences, b.sequences);
    assert.ok(worst(a.stepLogits, b.stepLogits) < 1e-5);
  }
});

test('int8 through the fused graph agrees with int8 through the composed one', async () => {
  const model = await loadModelFolder(join(DECODER, 'qwen2-trained'));
  const fused = await CausalLmRunner.create(model, { precision: 'int8' });
  const composed = await CausalLmRunner.create(model, { precision: 'int8', attention: 'composed' });
  const V = fused.info.vocabSize;
  const ids = prompt(64, 4, V);
  const batch = { ids: [ids], mask: [ids.map(() => 1)] };
  const a = (await fused.forward(batch)).data as Float32Array;
  const b = (await composed.forward(batch)).data as Float32Array;
  const agreement = logitAgreement(b, a, V);
  // Not to the bit: MatMulNBits quantizes each product's activations per block, and inputs a rounding apart can land
  // on either side of a step. Far inside the int8 gate against fp32 (top-1 0.95, KL 0.01).
  assert.ok(agreement.top1 >= 0.98, `top-1 agreement ${agreement.top1}`);
  assert.ok(agreement.kl < 1e-4, `KL ${agreement.kl}`);
  assert.ok(scaledError(a, b) < 1e-2, `int8 logits: ${scaledError(a, b)}`);
});

test('the fused graph is used only where it computes the same model: not with a PEFT prefix, nor off the CPU, nor when disabled', async () => {
  const base = await loadModelFolder(join(DECODER, 'qwen2-tiny'));
  assert.equal((await CausalLmRunner.create(base)).fused, true);
  const lora = await withAdapter(base, join(DECODER, 'qwen2-tiny-lora-init'));
  assert.equal((await CausalLmRunner.create(lora)).fused, true, 'LoRA is merged into the weights');
  const prefix = await withAdapter(base, join(DECODER, 'qwen2-tiny-prefix-init'));
  assert.equal((await CausalLmRunner.create(prefix)).fused, false, 'a PEFT prefix precedes every row: composed');
  process.env.CHANGELING_FUSED_ATTENTION = '0';
  try {
    assert.equal((await CausalLmRunner.create(base)).fused, false);
  } finally {
    delete process.env.CHANGELING_FUSED_ATTENTION;
  }
});

test('cache buffers: room is made by doubling, rows keep their tokens through growth, cuts and reordering', async () => {
  const rt = await ort();
  const shape = { layers: 1, kvHeads: 2, headDim: 4, maxPositions: 20 };
  const kv = emptyKv(rt, shape, 2, 3);
  const key = kv.tensors['past.0.key']!.data as Float32Array;
  for (let i = 0; i < key.length; i++) key[i] = i;
  kv.lengths = [3, 2];
  assert.equal(roomFor(rt, shape, kv, 3), kv, 'room enough: the same buffers');
  const grown = roomFor(rt, shape, kv, 4);
  assert.equal(grown.capacity, 6);
  const g = grown.tensors['past.0.key']!.data as Float32Array;
  // Row 1, head 0 began at slot (1 * 2 + 0) * 3 * 4 = 24 and now at (1 * 2 + 0) * 6 * 4 = 48.
  assert.deepEqual(Array.from(g.subarray(48, 48 + 12)), Array.from(key.subarray(24, 36)));
  assert.deepEqual(Array.from(g.subarray(60, 72)), new Array(12).fill(0));
  assert.equal(roomFor(rt, shape, kv, 15).capacity, 15);
  assert.throws(() => roomFor(rt, shape, kv, 21), /need 21 positions; the fused attention holds 20/);
  const cut = resizeKv(rt, shape, kv, 1, 5);
  assert.deepEqual(cut.lengths, [1, 1]);
  assert.deepEqual(Array.from((cut.tensors['past.0.key']!.data as Float32Array).subarray(0, 8)), [0, 1, 2, 3, 0, 0, 0, 0]);
  const swapped = reorderKv(rt, kv, [1, 1, 0]);
  assert.deepEqual(swapped.lengths, [2, 2, 3]);
  assert.deepEqual(Array.from((swapped.tensors['past.0.key']!.data as Float32Array).subarray(0, 4)), [24, 25, 26, 27]);
});

test('deferred weights: read from the file only when a graph asks, never kept, for one file or shards; llama graphs build from them', async () => {
  for (const folder of ['qwen2-tiny', 'qwen2-hd64']) {
    const model = await loadModelFolder(join(DECODER, folder));
    const eager = await model.loadWeights();
    const reads = new Map<string, number>();
    const original = SafetensorsFile.prototype.float32Sync;
    SafetensorsFile.prototype.float32Sync = function (this: SafetensorsFile, name: string) {
      reads.set(name, (reads.get(name) ?? 0) + 1);
      return original.call(this, name);
    };
    try {
      const deferred = await model.loadWeights({ deferred: true });
      assert.deepEqual([...deferred.keys()].sort(), [...eager.keys()].sort());
      assert.equal(reads.size, 0, 'nothing read before it is asked for');
      for (const [name, w] of deferred) {
        assert.ok(w instanceof DeferredWeight);
        assert.deepEqual(w.shape, eager.get(name)!.shape);
        assert.notEqual(w.data, w.data, 'read afresh each time, not kept');
        assert.deepEqual(Array.from(w.data), Array.from(eager.get(name)!.data), name);
      }
      // An int8 graph built from them reads each weight a few times at most (quantized, or serialized), one at a time.
      reads.clear();
      const before = process.env.CHANGELING_GRAPH_CACHE;
      process.env.CHANGELING_GRAPH_CACHE = tempDir();
      try {
        const runner = await CausalLmRunner.create(model, { precision: 'int8' });
        assert.equal(runner.precision, 'int8');
      } finally {
        if (before === undefined) delete process.env.CHANGELING_GRAPH_CACHE;
        else process.env.CHANGELING_GRAPH_CACHE = before;
      }
      assert.ok(reads.size > 0 && Math.max(...reads.values()) <= 3, JSON.stringify([...reads]));
      // Closed: a weight asked for afterwards fails instead of reading a stale handle; another load has its own files.
      const first = await model.loadWeights({ deferred: true });
      const second = await model.loadWeights({ deferred: true });
      const kept = first.values().next().value!;
      await closeWeights(first);
      assert.throws(() => kept.data, /was closed before .* was read/);
      assert.ok(second.values().next().value!.data.length > 0, 'the other load still reads');
      await closeWeights(second);
      // Two graphs built at once from one model (a cold cache): neither closes the other's files.
      const cold = process.env.CHANGELING_GRAPH_CACHE;
      process.env.CHANGELING_GRAPH_CACHE = tempDir();
      try {
        const built = await Promise.all(
          (['fp32', 'int8', 'int4'] as const).map((precision) => CausalLmRunner.create(model, { precision })),
        );
        assert.deepEqual(
          built.map((r) => r.precision),
          ['fp32', 'int8', 'int4'],
        );
      } finally {
        if (cold === undefined) delete process.env.CHANGELING_GRAPH_CACHE;
        else process.env.CHANGELING_GRAPH_CACHE = cold;
      }
    } finally {
      SafetensorsFile.prototype.float32Sync = original;
    }
  }
});
