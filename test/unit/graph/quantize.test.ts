import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { serialize } from '../../../src/graph/serialize.js';
import { quantizeWeights } from '../../../src/graph/quantize.js';
import { createSession } from '../../../src/runtime/session.js';
import { parsePrecision, precisionPlan, resolvePrecision } from '../../../src/runtime/precision.js';
import { int8Weights, signedProductSaturates } from '../../../src/runtime/int8Kernel.js';
import { seededRandom } from '../../../src/train/batching.js';

const rand = (n: number, scale: number, seed: number) => {
  const r = seededRandom(seed);
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
};

/** A projection x W^T (W [256, 192]), a lookup of the same W (tied, as T5's LM head), and a rank-8 factor. */
function graph(): GraphBuilder {
  const b = new GraphBuilder('q');
  const x = b.input('x', 'float32', [4, 192]);
  const w = b.initializer('proj.weight', 'float32', [256, 192], rand(256 * 192, 0.05, 1));
  const y = b.matmul(x, b.transpose(w, [1, 0]));
  b.output(b.matmul(y, b.initializer('lora_A', 'float32', [256, 8], rand(256 * 8, 0.1, 2))), 'low_rank');
  b.output(y, 'projected');
  b.output(b.gather(w, b.input('ids', 'int64', [3])), 'looked_up');
  return b;
}

test('int8 weights: projections become DynamicQuantizeMatMul with per-column scales, close to fp32; small factors and lookups stay fp32', async () => {
  const ref = graph();
  const q = graph();
  // The form this CPU's int8 kernel needs (signed saturates without VNNI: runtime/int8Kernel.ts).
  const unsigned = (await int8Weights()) === 'unsigned';
  assert.equal(quantizeWeights(q, { form: { kind: 'dynamic', unsigned } }), 1, 'only the 256x192 projection');
  const ops = q.nodes.map((n) => n.op);
  assert.deepEqual(ops.filter((o) => o === 'DynamicQuantizeMatMul').length, 1);
  assert.ok(!ops.includes('Transpose'), 'the transpose of the fp32 weight is gone');
  assert.ok(
    q.initializers.some((i) => i.tensor.name === 'proj.weight'),
    'the fp32 weight stays for the lookup',
  );
  assert.equal(q.initializers.find((i) => /\.u?int8$/.test(i.tensor.name))!.tensor.dtype, unsigned ? 'uint8' : 'int8');
  const feeds = {
    x: new ort.Tensor('float32', rand(4 * 192, 1, 3), [4, 192]),
    ids: new ort.Tensor('int64', BigInt64Array.from([0n, 5n, 255n]), [3]),
  };
  const [a, b] = await Promise.all([createSession(serialize(ref)), createSession(serialize(q))]);
  const [ra, rb] = [await a.run(feeds), await b.run(feeds)];
  for (const name of ['projected', 'low_rank']) {
    const u = ra[name]!.data as Float32Array;
    const v = rb[name]!.data as Float32Array;
    let num = 0;
    let den = 0;
    for (let i = 0; i < u.length; i++) {
      num += (u[i]! - v[i]!) ** 2;
      den += u[i]! ** 2;
    }
    const rel = Math.sqrt(num / den);
    assert.ok(rel < 0.02 && rel > 0, `${name}: relative error ${rel}`);
  }
  assert.deepEqual(rb.looked_up!.data, ra.looked_up!.data, 'lookups are exact');
});

test('precision: auto is int8 on the CPU where the gate held, fp32 on other providers; bad values are usage errors', () => {
  assert.equal(resolvePrecision('auto', 'roberta', 'cpu'), 'int8');
  assert.equal(resolvePrecision('auto', 'roberta', 'cuda'), 'fp32');
  assert.equal(resolvePrecision('auto', 't5', 'cpu'), 'fp32', 'the gate did not hold for T5');
  assert.equal(resolvePrecision('fp32', 'roberta', 'cpu'), 'fp32');
  assert.equal(resolvePrecision('int8', 'bart', 'webgpu'), 'int8');
  assert.equal(parsePrecision(undefined), 'auto');
  assert.throws(() => parsePrecision('fp16'), /--precision must be one of auto, fp32, int8, int4/);
  assert.equal(resolvePrecision('auto', 'llama', 'cpu'), 'int8', 'the code LLM passed its gate');
  assert.equal(resolvePrecision('int4', 't5', 'cpu'), 'int4');
});

/** The weight as a block form stores it: each block of 32 inputs of a row rounded against its own scale (max / qmax). */
function blockDequantized(w: Float32Array, rows: number, cols: number, bits: 4 | 8): Float32Array {
  const maxq = bits === 8 ? 127 : 7;
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < cols; j += 32) {
      let max = 0;
      for (let c = j; c < j + 32; c++) max = Math.max(max, Math.abs(w[r * cols + c]!));
      const s = Math.fround(max / maxq);
      for (let c = j; c < j + 32; c++) out[r * cols + c] = Math.max(-maxq, Math.min(maxq, Math.floor(w[r * cols + c]! / s + 0.5))) * s;
    }
  return out;
}

for (const bits of [8, 4] as const)
  test(`${bits}-bit blocks of 32: projections become MatMulNBits and lookups GatherBlockQuantized, computing with exactly the blocks' values`, async () => {
    const q = graph();
    // accuracy 0: the product in fp32 from the stored weight, so that it can be compared with the dequantized one.
    assert.equal(quantizeWeights(q, { form: { kind: 'nbits', bits, block: 32, accuracy: 0 } }), 2, 'the projection and the lookup');
    assert.deepEqual(
      q.nodes.map((n) => n.op).filter((o) => o === 'MatMulNBits' || o === 'GatherBlockQuantized'),
      ['MatMulNBits', 'GatherBlockQuantized'],
    );
    assert.ok(!q.initializers.some((i) => i.tensor.name === 'proj.weight'), 'no fp32 copy of the weight is left');
    const deq = blockDequantized(rand(256 * 192, 0.05, 1), 256, 192, bits);
    const ref = new GraphBuilder('r');
    const x = ref.input('x', 'float32', [4, 192]);
    const w = ref.initializer('deq', 'float32', [256, 192], deq);
    ref.output(ref.matmul(x, ref.transpose(w, [1, 0])), 'projected');
    ref.output(ref.gather(w, ref.input('ids', 'int64', [3])), 'looked_up');
    const feeds = {
      x: new ort.Tensor('float32', rand(4 * 192, 1, 3), [4, 192]),
      ids: new ort.Tensor('int64', BigInt64Array.from([0n, 5n, 255n]), [3]),
    };
    const [a, b] = await Promise.all([createSession(serialize(ref)), createSession(serialize(q))]);
    const [ra, rb] = [await a.run(feeds), await b.run(feeds)];
    assert.deepEqual(rb.looked_up!.data, ra.looked_up!.data, 'the rows gathered are the blocks dequantized');
    const u = ra.projected!.data as Float32Array;
    const v = rb.projected!.data as Float32Array;
    for (let i = 0; i < u.length; i++) assert.ok(Math.abs(u[i]! - v[i]!) < 1e-5, `projected[${i}]: ${v[i]} vs ${u[i]}`);
  });

test("int8 weights on this CPU: the worst case's product is exact in the form precisionPlan picks; unsigned is exact everywhere and gives signed's levels", async () => {
  // Weights of +-127 levels against activations quantized to 0 and 255: VPMADDUBSW (AVX2 without VNNI) saturates there.
  const worst = (unsigned: boolean) => {
    const b = new GraphBuilder('worst');
    const x = b.input('x', 'float32', [1, 128]);
    const w = new Float32Array(128 * 128).fill(1);
    b.output(b.matmul(x, b.transpose(b.initializer('w.weight', 'float32', [128, 128], w), [1, 0])), 'y');
    quantizeWeights(b, { form: { kind: 'dynamic', unsigned } });
    return b;
  };
  const x = new Float32Array(128).fill(1);
  x[0] = 0;
  const feeds = { x: new ort.Tensor('float32', x, [1, 128]) };
  const run = async (b: GraphBuilder) => (await (await createSession(serialize(b))).run(feeds)).y!.data as Float32Array;
  const unsigned = await run(worst(true));
  for (const v of unsigned) assert.ok(Math.abs(v - 127) < 1e-3, `unsigned: ${v}`);
  const u = worst(true).initializers.find((i) => i.tensor.name.endsWith('.uint8'))!;
  assert.equal(u.tensor.dtype, 'uint8');
  assert.ok(
    (u.data as Uint8Array).every((v) => v === 255),
    '127 + the zero point 128',
  );
  const signed = await run(worst(false));
  const saturates = await signedProductSaturates();
  assert.equal(
    signed.some((v) => Math.abs(v - 127) > 1),
    saturates,
    'the probe says what the signed form does here',
  );
  // The plan's form is exact here, whichever this CPU needs.
  const plan = await precisionPlan('int8', 'roberta', 'cpu');
  assert.equal(plan.key, saturates ? 'int8-u8-' : 'int8-');
  const b = new GraphBuilder('planned');
  const xi = b.input('x', 'float32', [1, 128]);
  b.output(b.matmul(xi, b.transpose(b.initializer('w.weight', 'float32', [128, 128], new Float32Array(128 * 128).fill(1)), [1, 0])), 'y');
  assert.equal(plan.apply(b), 1);
  for (const v of await run(b)) assert.ok(Math.abs(v - 127) < 1e-3, `planned: ${v}`);
  // The code LLM's int8 is MatMulNBits, whose kernels do not saturate: its key never changes.
  assert.equal((await precisionPlan('int8', 'llama', 'cpu')).key, 'int8-');
});

test('a deferred weight is quantized a slice of rows at a time, to the same bytes as the whole matrix, and is never read whole', () => {
  // 40,000 x 128 is 5.1M values: more than one 4M-value slice, so the slice boundary is crossed.
  const rows = 40000;
  const cols = 128;
  const w = rand(rows * cols, 0.05, 9);
  const build = (deferred: boolean, reads: number[]) => {
    const b = new GraphBuilder('q');
    const x = b.input('x', 'float32', [2, cols]);
    const data = () => {
      reads.push(rows);
      return w;
    };
    const t = deferred
      ? b.initializer('embed.weight', 'float32', [rows, cols], data, {
          rows: (start, count) => {
            reads.push(count);
            return w.subarray(start * cols, (start + count) * cols);
          },
        })
      : b.initializer('embed.weight', 'float32', [rows, cols], w);
    b.output(b.matmul(x, b.transpose(t, [1, 0])), 'head');
    b.output(b.gather(t, b.input('ids', 'int64', [3])), 'rows');
    quantizeWeights(b, { form: { kind: 'nbits', bits: 8, block: 32, accuracy: 4 } });
    return new Map(b.initializers.map((i) => [i.tensor.name, Array.from(i.data as Uint8Array | Float32Array)]));
  };
  const whole = build(false, []);
  const reads: number[] = [];
  const sliced = build(true, reads);
  assert.deepEqual([...sliced.keys()].sort(), [...whole.keys()].sort());
  for (const [name, v] of whole) assert.deepEqual(sliced.get(name), v, name);
  assert.ok(reads.length >= 4, 'two slices for the head, two for the lookup');
  assert.ok(Math.max(...reads) < rows, `never the whole matrix: ${reads}`);
});
