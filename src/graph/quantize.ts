import type { GraphBuilder } from './builder.js';
import type { Node, Tensor } from './ir.js';

/**
 * int8 weights for inference: every MatMul by a constant weight matrix (a projection `x W^T`, the T5 LM head
 * on the tied embeddings, RoBERTa's dense layers) becomes onnxruntime's `DynamicQuantizeMatMul`
 * (com.microsoft): the weight stored as int8 with one symmetric scale per output column, the activations
 * quantized per call. Measured against fp32 MatMul and `MatMulNBits` (8 and 4 bits) on onnxruntime-node's
 * CPU provider, it was the fastest at every shape that matters here (docs/performance.md), so it is used.
 *
 * Small matrices (fewer than `minSize` rows or columns: LoRA's low-rank factors, classifier outputs)
 * stay fp32: they cost nothing and their error would not average out. Embedding lookups (Gather) stay fp32;
 * a weight that is also read by another node (the tied embedding) keeps its fp32 copy for that node.
 */
export function quantizeWeights(b: GraphBuilder, o: { minSize?: number } = {}): number {
  const minSize = o.minSize ?? 128;
  const dataOf = new Map(b.initializers.map((i) => [i.tensor, i.data]));
  let count = 0;
  for (const n of b.nodes) {
    if (n.op !== 'MatMul' || n.domain) continue;
    const [a, w] = n.inputs;
    if (!a || !w || a.dtype !== 'float32') continue;
    const source = constantMatrix(w, dataOf);
    if (!source) continue;
    const { k, cols, at } = source;
    if (k < minSize || cols < minSize) continue;
    const q = new Int8Array(k * cols);
    const scale = new Float32Array(cols);
    for (let c = 0; c < cols; c++) {
      let max = 0;
      for (let r = 0; r < k; r++) max = Math.max(max, Math.abs(at(r, c)));
      const s = max > 0 ? max / 127 : 1;
      scale[c] = s;
      for (let r = 0; r < k; r++) q[r * cols + c] = Math.max(-127, Math.min(127, Math.round(at(r, c) / s)));
    }
    const name = source.name;
    const qw = b.initializer(`${name}.int8`, 'int8', [k, cols], q);
    const qs = b.initializer(`${name}.scale`, 'float32', [cols], scale);
    n.op = 'DynamicQuantizeMatMul';
    n.domain = 'com.microsoft';
    n.inputs = [a, qw, qs];
    count++;
  }
  if (count) prune(b);
  return count;
}

/** A MatMul's right operand when it is a constant 2-D matrix: an initializer, or the transpose of one. */
function constantMatrix(
  w: Tensor,
  dataOf: Map<Tensor, unknown>,
): { name: string; k: number; cols: number; at: (r: number, c: number) => number } | null {
  const direct = dataOf.get(w);
  if (direct instanceof Float32Array && w.rank === 2) {
    const [k, cols] = w.shape as [number, number];
    return { name: w.name, k, cols, at: (r, c) => direct[r * cols + c]! };
  }
  const t = w.producer;
  if (!t || t.op !== 'Transpose' || w.rank !== 2) return null;
  const perm = t.attrs.perm as number[] | undefined;
  const src = t.inputs[0];
  const data = src ? dataOf.get(src) : undefined;
  if (!src || !(data instanceof Float32Array) || src.rank !== 2 || (perm && (perm[0] !== 1 || perm[1] !== 0))) return null;
  // W is [out, in]: the MatMul reads W^T, [in, out].
  const [out, inner] = src.shape as [number, number];
  return { name: src.name, k: inner, cols: out, at: (r, c) => data[c * inner + r]! };
}

/** Drops the nodes and initializers nothing reads any more (the fp32 weights and their transposes). */
function prune(b: GraphBuilder): void {
  for (;;) {
    const used = new Set<Tensor>(b.outputs);
    for (const n of b.nodes) for (const t of n.inputs) if (t) used.add(t);
    const dead = b.nodes.filter((n: Node) => n.outputs.every((t) => !used.has(t)));
    if (dead.length === 0) {
      const keep = b.initializers.filter((i) => used.has(i.tensor));
      b.initializers.splice(0, b.initializers.length, ...keep);
      return;
    }
    const gone = new Set(dead);
    b.nodes.splice(0, b.nodes.length, ...b.nodes.filter((n) => !gone.has(n)));
  }
}
