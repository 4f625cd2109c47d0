import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/graph/builder.js';
import { gradients } from '../../src/graph/grad.js';
import { serialize } from '../../src/graph/serialize.js';
import { staticSize, type DType, type Tensor } from '../../src/graph/ir.js';

/** A deterministic pseudo-random stream in [-1, 1). */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) / 2 ** 32) * 2 - 1;
  };
}

export interface GradCase {
  shapes: number[][];
  build: (b: GraphBuilder, xs: Tensor[]) => Tensor;
  /** Inputs that must stay positive (log, sqrt, pow). */
  positive?: boolean;
  /** Inputs not to differentiate (e.g. integer indices); given as int64 data. */
  ints?: Array<{ shape: number[]; values: number[] }>;
  seed?: number;
  /** Check in this precision only (default: float64 where possible). */
  dtype?: DType;
}

async function session(c: GradCase, dtype: DType) {
  const b = new GraphBuilder('gradcheck');
  const xs = c.shapes.map((s, i) => b.input(`x${i}`, dtype, s));
  const extra = (c.ints ?? []).map((t, i) => b.input(`i${i}`, 'int64', t.shape));
  const y = c.build(b, [...xs, ...extra]);
  const r = rng(99);
  const n = staticSize(y.shape)!;
  const R = b.initializer(
    'R',
    y.dtype,
    y.shape as number[],
    dtype === 'float64' ? Float64Array.from({ length: n }, r) : Float32Array.from({ length: n }, r),
  );
  const loss = b.sumAll(b.mul(y, R));
  b.output(loss, 'loss');
  gradients(b, loss, xs).forEach((g, i) => b.output(g, `grad${i}`));
  return ort.InferenceSession.create(serialize(b).model);
}

/**
 * Checks the autodiff gradients of sum(f(x) * R) against central finite differences: in float64 where
 * onnxruntime has every op of the graph in double, else in float32 with a looser tolerance.
 * Returns which precision was used.
 */
export async function gradCheck(c: GradCase): Promise<DType> {
  let dtype: DType = c.dtype ?? 'float64';
  let s: ort.InferenceSession;
  try {
    s = await session(c, dtype);
  } catch (err) {
    if (dtype === 'float32') throw err;
    dtype = 'float32';
    s = await session(c, 'float32');
  }
  const Arr = (dtype === 'float64' ? Float64Array : Float32Array) as typeof Float64Array;
  const r = rng(c.seed ?? 7);
  const xs = c.shapes.map((shape) =>
    Arr.from({ length: shape.reduce((p, q) => p * q, 1) }, () => (c.positive ? 0.5 + Math.abs(r()) : r())),
  );
  const feeds = (vals: Array<Float64Array | Float32Array>) => {
    const f: Record<string, ort.Tensor> = {};
    vals.forEach((v, i) => (f[`x${i}`] = new ort.Tensor(dtype, v, c.shapes[i]!)));
    (c.ints ?? []).forEach((t, i) => (f[`i${i}`] = new ort.Tensor('int64', BigInt64Array.from(t.values.map(BigInt)), t.shape)));
    return f;
  };
  const out = await s.run(feeds(xs));
  const h = dtype === 'float64' ? 1e-6 : 1e-2;
  const tol = dtype === 'float64' ? 1e-6 : 3e-2;
  for (let i = 0; i < xs.length; i++) {
    const analytic = out[`grad${i}`]!.data as Float64Array;
    for (let k = 0; k < xs[i]!.length; k++) {
      const plus = xs.map((v) => v.slice());
      const minus = xs.map((v) => v.slice());
      plus[i]![k]! += h;
      minus[i]![k]! -= h;
      const lp = Number((await s.run(feeds(plus))).loss!.data[0]);
      const lm = Number((await s.run(feeds(minus))).loss!.data[0]);
      const fd = (lp - lm) / (2 * h);
      const err = Math.abs(fd - analytic[k]!) / Math.max(1, Math.abs(fd));
      assert.ok(err < tol, `input ${i}[${k}]: autodiff ${analytic[k]} vs finite difference ${fd} (${dtype}, error ${err})`);
    }
  }
  return dtype;
}
