import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { serialize } from '../../../src/graph/serialize.js';
import { createSession } from '../../../src/runtime/session.js';

test('shape inference: symbolic and static dims through matmul, reshape, transpose, concat, slice, gather', () => {
  const b = new GraphBuilder();
  const ids = b.input('ids', 'int64', ['batch', 'seq']);
  const emb = b.initializer('emb', 'float32', [10, 8], new Float32Array(80));
  const x = b.gather(emb, ids);
  assert.deepEqual(x.shape, ['batch', 'seq', 8]);
  const w = b.initializer('w', 'float32', [8, 6], new Float32Array(48));
  const h = b.reshape(b.matmul(x, w), [0, 0, 2, 3]);
  assert.deepEqual(h.shape, ['batch', 'seq', 2, 3]);
  assert.deepEqual(b.transpose(h, [0, 2, 1, 3]).shape, ['batch', 2, 'seq', 3]);
  assert.deepEqual(b.concat([h, h], 3).shape, ['batch', 'seq', 2, 6]);
  assert.deepEqual(b.slice(h, [1], [Infinity], [3]).shape, ['batch', 'seq', 2, 2]);
  assert.deepEqual(b.reduceSum(h, [1], false).shape, ['batch', 2, 3]);
  assert.deepEqual(b.add(b.input('a', 'float32', [4, 1, 3]), b.input('c', 'float32', [5, 1])).shape, [4, 5, 3]);
});

test('shape errors name the op and the shapes', () => {
  const b = new GraphBuilder();
  const a = b.input('a', 'float32', [2, 3]);
  const c = b.input('c', 'float32', [4, 5]);
  assert.throws(() => b.matmul(a, c), /MatMul: inner dimensions differ: a: float32\[2, 3\] x c: float32\[4, 5\]/);
  assert.throws(() => b.add(a, c), /Add: cannot broadcast \[2, 3\] with \[4, 5\]/);
  assert.throws(() => b.reshape(a, [4, 2]), /Reshape: a: float32\[2, 3\] has 6 elements, not 8/);
  assert.throws(() => b.softmax(a, 2), /Softmax: axis 2 is out of range for rank 2/);
  assert.throws(() => b.add(a, b.input('i', 'int64', [3])), /Add: dtypes differ/);
  assert.throws(() => b.input('a', 'float32', [1]), /input name "a" is already used/);
});

test('large initializers go to the external data file, and the model loads and runs from files', async () => {
  const b = new GraphBuilder('ext');
  const n = 1024;
  const big = new Float32Array(n * n).map((_, i) => (i % 7) - 3);
  const w = b.initializer('w', 'float32', [n, n], big);
  const small = b.initializer('s', 'float32', [n], new Float32Array(n).fill(0.5));
  const x = b.input('x', 'float32', [1, n]);
  b.output(b.add(b.matmul(x, w), small), 'y');
  const m = serialize(b);
  assert.equal(
    m.externalParts.reduce((a, p) => a + p.length, 0),
    n * n * 4,
    'the 4 MiB weight is external',
  );
  assert.ok(m.model.length < 64 * 1024, `the model file stays small (${m.model.length} bytes)`);
  const s = await createSession(m);
  const xs = new Float32Array(n).fill(0);
  xs[2] = 1;
  const y = (await s.run({ x: new ort.Tensor('float32', xs, [1, n]) })).y!.data as Float32Array;
  assert.deepEqual(Array.from(y.slice(0, 4)), [big[2 * n]! + 0.5, big[2 * n + 1]! + 0.5, big[2 * n + 2]! + 0.5, big[2 * n + 3]! + 0.5]);
});
