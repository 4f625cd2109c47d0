// Reordering a cache: rows of a tensor along its first axis, for beam search and for repeating inputs per beam.
import type { Tensor as OrtTensor } from 'onnxruntime-node';

/** Rows of a tensor along its first axis, in the given order: a copy, or the tensor itself when every row keeps its place. */
export function gatherRows(rt: typeof import('onnxruntime-node'), t: OrtTensor, rows: number[]): OrtTensor {
  if (rows.length === t.dims[0] && rows.every((r, i) => r === i)) return t;
  const per = t.dims.slice(1).reduce((a, b) => a * b, 1);
  const src = t.data as Float32Array | BigInt64Array;
  const out = new (src.constructor as Float32ArrayConstructor)(rows.length * per) as unknown as Float32Array | BigInt64Array;
  rows.forEach((r, i) => (out as Float32Array).set((src as Float32Array).subarray(r * per, (r + 1) * per), i * per));
  return new rt.Tensor(t.type as 'float32', out as Float32Array, [rows.length, ...t.dims.slice(1)]);
}
