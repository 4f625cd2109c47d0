import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { serialize } from '../../../src/graph/serialize.js';
import { rng } from '../../helpers/gradCheck.js';

async function run(b: GraphBuilder, feeds: Record<string, ort.Tensor>) {
  return (await ort.InferenceSession.create(serialize(b).model)).run(feeds);
}

test('token cross-entropy: ignore index and label smoothing as PyTorch defines them', async () => {
  const B = 2,
    T = 3,
    V = 5;
  const r = rng(3);
  const logits = Float32Array.from({ length: B * T * V }, () => 2 * r());
  const labels = [1, -100, 4, 0, 2, -100];
  for (const eps of [0, 0.1]) {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [B, T, V]);
    const l = b.input('l', 'int64', [B, T]);
    b.output(b.crossEntropy(x, l, { ignoreIndex: -100, labelSmoothing: eps }), 'loss');
    const out = await run(b, {
      x: new ort.Tensor('float32', logits, [B, T, V]),
      l: new ort.Tensor('int64', BigInt64Array.from(labels.map(BigInt)), [B, T]),
    });
    // Reference: mean over non-ignored tokens of (1-eps) * -log p[label] + eps * mean_v(-log p[v]).
    let total = 0;
    let count = 0;
    labels.forEach((lab, i) => {
      if (lab === -100) return;
      const row = Array.from(logits.slice(i * V, i * V + V));
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
      const nll = lse - row[lab]!;
      const smooth = row.reduce((s, v) => s + (lse - v), 0) / V;
      total += (1 - eps) * nll + eps * smooth;
      count++;
    });
    assert.ok(Math.abs(Number(out.loss!.data[0]) - total / count) < 1e-6, `eps ${eps}`);
  }
});

test('binary cross-entropy with logits is stable for large logits', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', [4]);
  const y = b.input('y', 'float32', [4]);
  b.output(b.bceWithLogits(x, y), 'loss');
  const xs = [100, -100, 0.5, -2];
  const ys = [0, 1, 1, 0];
  const out = await run(b, {
    x: new ort.Tensor('float32', Float32Array.from(xs), [4]),
    y: new ort.Tensor('float32', Float32Array.from(ys), [4]),
  });
  const ref = xs.reduce((s, v, i) => s + Math.max(v, 0) - v * ys[i]! + Math.log1p(Math.exp(-Math.abs(v))), 0) / 4;
  assert.ok(Math.abs(Number(out.loss!.data[0]) - ref) < 1e-4, `${out.loss!.data[0]} vs ${ref}`);
});

test('dropout: inverted scaling, about p dropped, same mask for the same seed, another for another seed', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', [64, 64]);
  const seed = b.input('seed', 'int64', []);
  b.output(b.dropout(x, 0.25, seed), 'y');
  const s = await ort.InferenceSession.create(serialize(b).model);
  const ones = new ort.Tensor('float32', new Float32Array(4096).fill(1), [64, 64]);
  const y = async (sd: number) =>
    (await s.run({ x: ones, seed: new ort.Tensor('int64', BigInt64Array.from([BigInt(sd)]), []) })).y!.data as Float32Array;
  const a = await y(1);
  const kept = a.filter((v) => v !== 0);
  assert.ok(kept.every((v) => Math.abs(v - 1 / 0.75) < 1e-6));
  assert.ok(Math.abs(1 - kept.length / 4096 - 0.25) < 0.03, `dropped ${1 - kept.length / 4096}`);
  assert.deepEqual(await y(1), a);
  const other = await y(2);
  assert.ok(other.some((v, i) => v !== a[i]));
});
