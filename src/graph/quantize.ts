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
    const { q, scale } = symmetricInt8(k, cols, at, 1);
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

/**
 * Symmetric int8 of a [rows, cols] matrix read through `at`, laid out [rows, cols]: one scale (max |x| / 127) per
 * column (`axis` 1) or per row (`axis` 0).
 */
function symmetricInt8(
  rows: number,
  cols: number,
  at: (r: number, c: number) => number,
  axis: 0 | 1,
): { q: Int8Array; scale: Float32Array } {
  const q = new Int8Array(rows * cols);
  const [outer, inner] = axis === 1 ? [cols, rows] : [rows, cols];
  const scale = new Float32Array(outer);
  const get = axis === 1 ? (o: number, i: number) => at(i, o) : at;
  for (let o = 0; o < outer; o++) {
    let max = 0;
    for (let i = 0; i < inner; i++) max = Math.max(max, Math.abs(get(o, i)));
    // The scale as stored (float32), and each value rounded half up against it: what the goldens restate.
    const s = max > 0 ? Math.fround(max / 127) : 1;
    scale[o] = s;
    for (let i = 0; i < inner; i++) {
      const [r, c] = axis === 1 ? [i, o] : [o, i];
      q[r * cols + c] = Math.max(-127, Math.min(127, Math.floor(get(o, i) / s + 0.5)));
    }
  }
  return { q, scale };
}

/**
 * Frozen weights kept in int8 while training (QLoRA's idea, with int8 instead of 4-bit NormalFloat): every frozen
 * fp32 matrix (an initializer, so never a trained one) of at least `minSize` rows and columns that is read only
 * through a transpose (a projection `x W^T`, a tied LM head) or an embedding lookup is stored as int8 with one
 * symmetric scale per row (output feature, vocabulary entry). A projection reads DequantizeLinear(W) and the
 * backward dequantizes it again where it needs it (the segment is marked recomputable: grad.ts replays it), so no
 * fp32 copy of a frozen weight lives longer than the product that uses it; the gradient flows through the frozen
 * quantized weight to the adapters below it. A lookup gathers int8 rows and scales them. Returns the matrices
 * quantized and the bytes of fp32 they no longer take.
 */
export function quantizeFrozen(b: GraphBuilder, o: { minSize?: number } = {}): { count: number; savedBytes: number } {
  const minSize = o.minSize ?? 128;
  const readers = new Map<Tensor, Node[]>();
  for (const n of b.nodes) for (const t of n.inputs) if (t) readers.set(t, [...(readers.get(t) ?? []), n]);
  let count = 0;
  let savedBytes = 0;
  for (const init of [...b.initializers]) {
    const w = init.tensor;
    const data = init.data;
    if (!(data instanceof Float32Array) || w.rank !== 2 || b.outputs.includes(w)) continue;
    const [rows, cols] = w.shape as [number, number];
    const uses = readers.get(w) ?? [];
    const supported = (n: Node) =>
      (n.op === 'Transpose' && !n.domain && ((n.attrs.perm as number[] | undefined)?.join(',') ?? '1,0') === '1,0') ||
      (n.op === 'Gather' && !n.domain && ((n.attrs.axis as number | undefined) ?? 0) === 0);
    if (rows < minSize || cols < minSize || uses.length === 0 || !uses.every(supported)) continue;
    const { q, scale } = symmetricInt8(rows, cols, (r, c) => data[r * cols + c]!, 0);
    const qw = b.initializer(`${w.name}.int8`, 'int8', [rows, cols], q);
    const qs = b.initializer(`${w.name}.scale`, 'float32', [rows], scale);
    for (const n of uses) {
      const at = b.nodes.indexOf(n);
      const before = b.nodes.length;
      if (n.op === 'Transpose') {
        // DequantizeLinear, then the transpose as it was: the pair is what the backward replays.
        const dq = b.dequantizeLinear(qw, qs, 0);
        n.inputs = [dq, ...n.inputs.slice(1)];
        const made = b.nodes.splice(before);
        b.nodes.splice(at, 0, ...made);
        b.recomputable.set(n.outputs[0]!, { output: n.outputs[0]!, nodes: [dq.producer!, n] });
      } else {
        // An embedding lookup: the int8 rows, times their scales.
        const ids = n.inputs[1]!;
        const rowsQ = b.cast(b.gather(qw, ids), 'float32');
        const scaled = b.mul(rowsQ, b.unsqueeze(b.gather(qs, ids), [-1]));
        const made = b.nodes.splice(before);
        // The lookup's node now scales: Identity of the product, so its output tensor (and every reader) stays.
        n.op = 'Identity';
        n.attrs = {};
        n.inputs = [scaled];
        b.nodes.splice(at, 0, ...made);
      }
    }
    count++;
    savedBytes += data.byteLength - q.byteLength - scale.byteLength;
  }
  // Only the fp32 initializers go: every node was rewired in place, and a training graph's loss is not an output yet.
  const read = new Set<Tensor>(b.outputs);
  for (const n of b.nodes) for (const t of n.inputs) if (t) read.add(t);
  const keep = b.initializers.filter((i) => read.has(i.tensor));
  b.initializers.splice(0, b.initializers.length, ...keep);
  return { count, savedBytes };
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
