import type { GraphBuilder } from './builder.js';
import { reachedFrom, type Node, type Tensor } from './ir.js';

/**
 * How inference holds a weight matrix in fewer bits (`quantizeWeights`):
 * - `dynamic`: onnxruntime's `DynamicQuantizeMatMul` (com.microsoft): the weight as int8 with one symmetric scale per
 *   output column, the activations quantized to uint8 per call (one scale for the whole tensor): int8 arithmetic.
 * - `nbits`: `MatMulNBits` (com.microsoft): the weight as `bits`-bit integers with one symmetric scale per block of
 *   `block` inputs of each output column (offset 2^(bits-1), stored unsigned, two 4-bit values a byte, low first);
 *   `accuracy` 0 computes in fp32 from the dequantized weight, 4 quantizes the activations per block to int8 as well.
 */
export type WeightQuantization = { kind: 'dynamic'; unsigned: boolean } | { kind: 'nbits'; bits: 4 | 8; block: number; accuracy: 0 | 4 };

/**
 * DynamicQuantizeMatMul's weight operands for int8 values `q` ([k, cols], one scale per column in `scale`): the int8
 * values, or with `unsigned` (where this CPU's signed kernel saturates: runtime/int8Kernel.ts) the same levels as uint8
 * with a zero point of 128 per column. Every DynamicQuantizeMatMul Changeling makes takes its weight from here.
 */
export function dynamicWeightInputs(
  b: GraphBuilder,
  name: string,
  q: Int8Array,
  shape: [number, number],
  scale: Tensor,
  unsigned: boolean,
): Tensor[] {
  if (!unsigned) return [b.initializer(`${name}.int8`, 'int8', shape, q), scale];
  const u = new Uint8Array(q.length);
  for (let i = 0; i < q.length; i++) u[i] = q[i]! + 128;
  return [
    b.initializer(`${name}.uint8`, 'uint8', shape, u),
    scale,
    b.initializer(`${name}.zero`, 'uint8', [shape[1]], new Uint8Array(shape[1]).fill(128)),
  ];
}

/**
 * Quantized weights for inference: every MatMul by a constant weight matrix (a projection `x W^T`, the T5 LM head
 * on the tied embeddings, RoBERTa's dense layers) becomes the `form`'s op (default `dynamic`: measured against fp32
 * MatMul and `MatMulNBits` on onnxruntime-node's CPU provider, it was the fastest at the seed models' shapes,
 * docs/performance.md).
 *
 * Small matrices (fewer than `minSize` rows or columns: LoRA's low-rank factors, classifier outputs)
 * stay fp32: they cost nothing and their error would not average out. Embedding lookups stay fp32 in the `dynamic`
 * form (a weight also read by another node, the tied embedding, keeps its fp32 copy for that node) and take the
 * block form's bits in the `nbits` form (quantizeLookups).
 */
export function quantizeWeights(b: GraphBuilder, o: { minSize?: number; form: WeightQuantization }): number {
  const minSize = o.minSize ?? 128;
  const form = o.form;
  // Each weight's data read when its product is quantized (a deferred weight is read from its file then, and dropped).
  const dataOf = initializerData(b);
  let count = 0;
  for (const n of b.nodes) {
    if (n.op !== 'MatMul' || n.domain) continue;
    const [a, w] = n.inputs;
    if (!a || !w || a.dtype !== 'float32') continue;
    const source = constantMatrix(w, dataOf);
    if (!source) continue;
    const { k, cols, at } = source;
    if (k < minSize || cols < minSize) continue;
    const name = source.name;
    n.domain = 'com.microsoft';
    if (form.kind === 'dynamic') {
      const { q, scale } = symmetricInt8(k, cols, at, 1);
      n.op = 'DynamicQuantizeMatMul';
      n.inputs = [
        a,
        ...dynamicWeightInputs(b, name, q, [k, cols], b.initializer(`${name}.scale`, 'float32', [cols], scale), form.unsigned),
      ];
    } else {
      const { packed, scales, blocks, blob } = nbitsBlocks(k, cols, at, form.bits, form.block);
      n.op = 'MatMulNBits';
      n.inputs = [
        a,
        b.initializer(`${name}.q${form.bits}`, 'uint8', [cols, blocks, blob], packed),
        b.initializer(`${name}.scales`, 'float32', [cols * blocks], scales),
      ];
      n.attrs = { K: k, N: cols, bits: form.bits, block_size: form.block, accuracy_level: form.accuracy };
    }
    count++;
  }
  if (form.kind === 'nbits') count += quantizeLookups(b, dataOf, minSize, form);
  if (count) prune(b);
  return count;
}

/**
 * Embedding lookups (Gather of rows of a constant [rows, cols] matrix) in the block form's bits: GatherBlockQuantized
 * (com.microsoft) dequantizes only the rows it gathers, so the graph keeps no fp32 copy of the table (Qwen2.5-Coder-0.5B's
 * tied embedding is 544 MB in fp32, 136 MB in 8 bits: its cached int8 graph went from 1.1 GB to 681 MB; the resident
 * memory of a warm start stayed 870 MiB, as onnxruntime maps the table and reads only the rows it gathers). The rows are
 * laid out as `nbitsBlocks` lays out MatMulNBits' columns,
 * with the zero point written out (2^(bits-1); two 4-bit ones a byte). Tables whose width is not a whole number of
 * blocks stay fp32.
 */
function quantizeLookups(
  b: GraphBuilder,
  dataOf: InitializerData,
  minSize: number,
  form: Extract<WeightQuantization, { kind: 'nbits' }>,
): number {
  let count = 0;
  for (const n of b.nodes) {
    if (n.op !== 'Gather' || n.domain || ((n.attrs.axis as number | undefined) ?? 0) !== 0) continue;
    const [table, indices] = n.inputs;
    const row = table ? dataOf.rowMajor(table) : null;
    if (!table || !indices || !row) continue;
    const [rows, cols] = table.shape as [number, number];
    if (rows < minSize || cols < minSize || cols % form.block !== 0) continue;
    const { packed, scales, blocks } = nbitsBlocks(cols, rows, (r, c) => row(c, r), form.bits, form.block);
    const zeroCols = form.bits === 8 ? blocks : Math.ceil(blocks / 2);
    const zero = new Uint8Array(rows * zeroCols).fill(form.bits === 8 ? 0x80 : 0x88);
    n.op = 'GatherBlockQuantized';
    n.domain = 'com.microsoft';
    n.inputs = [
      b.initializer(`${table.name}.rows${form.bits}`, 'uint8', [rows, (cols * form.bits) / 8], packed),
      indices,
      b.initializer(`${table.name}.row_scales`, 'float32', [rows, blocks], scales),
      b.initializer(`${table.name}.row_zero`, 'uint8', [rows, zeroCols], zero),
    ];
    n.attrs = { gather_axis: 0, quantize_axis: 1, block_size: form.block, bits: form.bits };
    count++;
  }
  return count;
}

/**
 * MatMulNBits' weight layout for a [k, cols] matrix read through `at` (the MatMul's B): for each output column, blocks
 * of `block` inputs (the last padded with zeros), each with the symmetric scale max |x| / (2^(bits-1) - 1) and its
 * values rounded half up, offset by 2^(bits-1), packed `8 / bits` to a byte (low bits first).
 */
export function nbitsBlocks(
  k: number,
  cols: number,
  at: (r: number, c: number) => number,
  bits: 4 | 8,
  block: number,
): { packed: Uint8Array; scales: Float32Array; blocks: number; blob: number } {
  const blocks = Math.ceil(k / block);
  const blob = (block * bits) / 8;
  const zero = 1 << (bits - 1);
  const maxq = zero - 1;
  const packed = new Uint8Array(cols * blocks * blob);
  const scales = new Float32Array(cols * blocks);
  for (let c = 0; c < cols; c++)
    for (let j = 0; j < blocks; j++) {
      const end = Math.min(k, (j + 1) * block);
      let max = 0;
      for (let r = j * block; r < end; r++) max = Math.max(max, Math.abs(at(r, c)));
      const s = max > 0 ? Math.fround(max / maxq) : 1;
      scales[c * blocks + j] = s;
      const base = (c * blocks + j) * blob;
      for (let i = 0; i < block; i++) {
        const r = j * block + i;
        const q = (r < end ? Math.max(-maxq, Math.min(maxq, Math.floor(at(r, c) / s + 0.5))) : 0) + zero;
        if (bits === 8) packed[base + i] = q;
        else packed[base + (i >> 1)]! |= i & 1 ? q << 4 : q;
      }
    }
  return { packed, scales, blocks, blob };
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

/** A [rows, cols] float32 matrix (row-major) as int8 with one symmetric scale per row: what a frozen weight becomes. */
export function int8Rows(data: Float32Array, rows: number, cols: number): { q: Int8Array; scale: Float32Array } {
  return symmetricInt8(rows, cols, (r, c) => data[r * cols + c]!, 0);
}

/** Whether a weight is one that int8 training holds in int8: a matrix of at least `minSize` rows and columns. */
export const int8Eligible = (shape: readonly number[], minSize: number) =>
  shape.length === 2 && shape[0]! >= minSize && shape[1]! >= minSize;

/**
 * Frozen weights kept in int8 while training (QLoRA's idea, with int8 instead of 4-bit NormalFloat), in a graph
 * built with fp32 frozen weights: every frozen fp32 matrix (an initializer, so never a trained one) of at least
 * `minSize` rows and columns read only through a transpose (a projection `x W^T`, a tied LM head) or an embedding
 * lookup becomes int8 with one symmetric scale per row (output feature, vocabulary entry) and a DequantizeLinear
 * named as the weight was; then `placeInt8Weights` arranges how they are read. (`changeling train --frozen int8`
 * quantizes while reading instead, so the model is never whole in fp32: GraphWeights makes the same nodes.)
 * Returns the matrices quantized and the bytes of fp32 they no longer take.
 */
export function quantizeFrozen(b: GraphBuilder, o: { minSize?: number; sliceBytes?: number } = {}): { count: number; savedBytes: number } {
  const minSize = o.minSize ?? 128;
  const readers = readersOf(b);
  let count = 0;
  let savedBytes = 0;
  for (const init of [...b.initializers]) {
    const w = init.tensor;
    const data = init.data;
    if (!(data instanceof Float32Array) || !int8Eligible(w.shape as number[], minSize) || b.outputs.includes(w)) continue;
    const uses = readers.get(w) ?? [];
    if (uses.length === 0 || !uses.every(int8Reader)) continue;
    const [rows, cols] = w.shape as [number, number];
    const { q, scale } = int8Rows(data, rows, cols);
    // The fp32 initializer goes first, so that the dequantized weight can take its name.
    b.initializers.splice(b.initializers.indexOf(init), 1);
    b.forgetName(w.name);
    const before = b.nodes.length;
    const dq = b.dequantizeWeight(w.name, { shape: [rows, cols], q, scale });
    const made = b.nodes.splice(before);
    b.nodes.splice(Math.min(...uses.map((n) => b.nodes.indexOf(n))), 0, ...made);
    for (const n of uses) n.inputs = n.inputs.map((x) => (x === w ? dq : x));
    count++;
    savedBytes += data.byteLength - q.byteLength - scale.byteLength;
  }
  placeInt8Weights(b, o);
  return { count, savedBytes };
}

/** What an int8 weight may be read by: a transpose (x W^T) or an embedding lookup. */
const int8Reader = (n: Node) =>
  (n.op === 'Transpose' && !n.domain && ((n.attrs.perm as number[] | undefined)?.join(',') ?? '1,0') === '1,0') ||
  (n.op === 'Gather' && !n.domain && ((n.attrs.axis as number | undefined) ?? 0) === 0);

/**
 * How int8 weights (a DequantizeLinear of an int8 initializer) are read while training: through a transpose, the
 * pair is marked recomputable (grad.ts replays it in the backward where a product needs the weight, so no fp32
 * copy of a frozen weight lives longer than the product that uses it; the gradient flows through the frozen
 * quantized weight to the adapters below); an embedding lookup gathers int8 rows and scales them (never the
 * whole fp32 table). Any other reader reads the dequantized weight as it is.
 */
export function placeInt8Weights(b: GraphBuilder, o: { sliceBytes?: number } = {}): void {
  const readers = readersOf(b);
  for (const dq of b.nodes.filter(
    (n) => n.op === 'DequantizeLinear' && n.inputs[0]?.dtype === 'int8' && n.inputs[0].kind === 'initializer',
  )) {
    const [qw, qs] = dq.inputs as [Tensor, Tensor];
    for (const n of readers.get(dq.outputs[0]!) ?? []) {
      if (n.op === 'Transpose' && int8Reader(n)) {
        b.recomputable.set(n.outputs[0]!, { output: n.outputs[0]!, nodes: [dq, n] });
        splitLargeProducts(b, dq, n, readers.get(n.outputs[0]!) ?? [], o.sliceBytes ?? SLICE_BYTES);
      } else if (n.op === 'Gather' && int8Reader(n)) {
        const at = b.nodes.indexOf(n);
        const before = b.nodes.length;
        const ids = n.inputs[1]!;
        const scaled = b.mul(b.cast(b.gather(qw, ids), 'float32'), b.unsqueeze(b.gather(qs, ids), [-1]));
        const made = b.nodes.splice(before);
        // The lookup's node passes the scaled rows on, so its output tensor (and every reader) stays.
        n.op = 'Identity';
        n.attrs = {};
        n.inputs = [scaled];
        b.nodes.splice(at, 0, ...made);
      }
    }
  }
  dropUnreadInt8(b);
}

/** A dequantized weight (or its transpose) nothing reads any more goes, and the int8 data only it read. */
function dropUnreadInt8(b: GraphBuilder): void {
  prune(b, { node: (n) => n.op === 'DequantizeLinear' || n.op === 'Transpose', initializer: (t) => t.dtype === 'int8' });
}

/** Each tensor's readers, in graph order. */
function readersOf(b: GraphBuilder): Map<Tensor, Node[]> {
  const readers = new Map<Tensor, Node[]>();
  for (const n of b.nodes) for (const t of n.inputs) if (t) readers.set(t, [...(readers.get(t) ?? []), n]);
  return readers;
}

/** Dequantized at most this many bytes of fp32 at once: a larger weight's product is computed in slices of its rows. */
const SLICE_BYTES = 64 * 2 ** 20;

/**
 * A product by a large int8 weight (the LM head over a 151,936-word vocabulary: 933 MB in fp32 for the 1.5B) in
 * slices of its rows, each dequantized on its own (and again in the backward), the outputs concatenated: no more
 * than SLICE_BYTES of fp32 weight exist at once. The slices are views of the int8 data (nothing copied here).
 */
function splitLargeProducts(b: GraphBuilder, dq: Node, tr: Node, readers: Node[], sliceBytes: number): void {
  const [qw, qs] = dq.inputs as [Tensor, Tensor];
  const [rows, cols] = qw.shape as [number, number];
  const per = Math.max(1, Math.floor(sliceBytes / (4 * cols)));
  if (rows <= per) return;
  const products = readers.filter((m) => m.op === 'MatMul' && !m.domain && m.inputs[1] === tr.outputs[0] && m.inputs[0] !== tr.outputs[0]);
  if (products.length !== readers.length) return;
  const q = b.initializers.find((i) => i.tensor === qw)!.data as Int8Array;
  const scale = b.initializers.find((i) => i.tensor === qs)!.data as Float32Array;
  const slices: Array<{ q: Tensor; s: Tensor }> = [];
  for (let r0 = 0, k = 0; r0 < rows; r0 += per, k++) {
    const r1 = Math.min(rows, r0 + per);
    slices.push({
      q: b.initializer(`${qw.name}.rows${k}`, 'int8', [r1 - r0, cols], q.subarray(r0 * cols, r1 * cols)),
      s: b.initializer(`${qs.name}.rows${k}`, 'float32', [r1 - r0], scale.subarray(r0, r1)),
    });
  }
  for (const m of products) {
    const at = b.nodes.indexOf(m);
    const before = b.nodes.length;
    const parts = slices.map(({ q: qk, s: sk }) => {
      const d = b.dequantizeLinear(qk, sk, 0);
      const t = b.transpose(d, [1, 0]);
      b.recomputable.set(t, { output: t, nodes: [d.producer!, t.producer!] });
      return b.matmul(m.inputs[0]!, t);
    });
    const joined = b.concat(parts, -1);
    const made = b.nodes.splice(before);
    m.op = 'Identity';
    m.attrs = {};
    m.inputs = [joined];
    b.nodes.splice(at, 0, ...made);
  }
}

/** A MatMul's right operand when it is a constant 2-D matrix: an initializer, or the transpose of one. */
function constantMatrix(
  w: Tensor,
  dataOf: InitializerData,
): { name: string; k: number; cols: number; at: (r: number, c: number) => number } | null {
  if (w.kind === 'initializer') {
    const direct = dataOf.get(w);
    if (!(direct instanceof Float32Array) || w.rank !== 2) return null;
    const [k, cols] = w.shape as [number, number];
    return { name: w.name, k, cols, at: (r, c) => direct[r * cols + c]! };
  }
  const t = w.producer;
  if (!t || t.op !== 'Transpose' || w.rank !== 2) return null;
  const perm = t.attrs.perm as number[] | undefined;
  const src = t.inputs[0];
  if (!src || src.rank !== 2 || (perm && (perm[0] !== 1 || perm[1] !== 0))) return null;
  // W is [out, in]: the MatMul reads W^T, [in, out], one column (a row of W) after another: W is read by rows.
  const row = dataOf.rowMajor(src);
  if (!row) return null;
  const [out, inner] = src.shape as [number, number];
  return { name: src.name, k: inner, cols: out, at: (r, c) => row(c, r) };
}

/**
 * The initializers by tensor: `get` gives one's data (read only when asked for: deferred weights stay unread until
 * their product is quantized), `rowMajor` an accessor of a float32 [rows, width] one that reads a deferred weight a slice
 * of rows at a time (4M values, 16 MB), so that even a 151,936-word embedding is never whole in float32.
 */
interface InitializerData {
  get(t: Tensor): unknown;
  rowMajor(t: Tensor): ((row: number, col: number) => number) | null;
}

function initializerData(b: GraphBuilder): InitializerData {
  const records = new Map(b.initializers.map((i) => [i.tensor, i]));
  return {
    get: (t) => records.get(t)?.data,
    rowMajor: (t) => {
      const rec = records.get(t);
      if (!rec || t.dtype !== 'float32' || t.rank !== 2) return null;
      const [total, width] = t.shape as [number, number];
      if (!rec.rows) {
        const d = rec.data as Float32Array;
        return (i, j) => d[i * width + j]!;
      }
      const per = Math.max(1, Math.floor((4 << 20) / width));
      let start = Number.NEGATIVE_INFINITY; // nothing read yet
      let chunk: Float32Array = new Float32Array(0);
      return (i, j) => {
        if (i < start || i >= start + per) {
          start = i - (i % per);
          chunk = rec.rows!(start, Math.min(per, total - start)) as Float32Array;
        }
        return chunk[(i - start) * width + j]!;
      };
    },
  };
}

/**
 * Drops the nodes and initializers nothing reads any more (the fp32 weights and their transposes), or only those
 * `o` names: a training graph's loss is not an output yet, so its rewrites drop only what they made unread.
 */
function prune(b: GraphBuilder, o: { node?: (n: Node) => boolean; initializer?: (t: Tensor) => boolean } = {}): void {
  for (;;) {
    const used = new Set<Tensor>(b.outputs);
    for (const n of b.nodes) for (const t of n.inputs) if (t) used.add(t);
    const dead = b.nodes.filter((n: Node) => (o.node?.(n) ?? true) && n.outputs.every((t) => !used.has(t)));
    if (dead.length === 0) {
      const keep = b.initializers.filter((i) => used.has(i.tensor) || !(o.initializer?.(i.tensor) ?? true));
      b.initializers.splice(0, b.initializers.length, ...keep);
      return;
    }
    const gone = new Set(dead);
    b.nodes.splice(0, b.nodes.length, ...b.nodes.filter((n) => !gone.has(n)));
  }
}

/**
 * `--frozen int8-fast`: products by a frozen int8 weight whose input no trained parameter reaches (every projection of
 * the layers below the first tuned one, and the base products of the first tuned layer's inputs) run as
 * onnxruntime's DynamicQuantizeMatMul (activations quantized per call, int8 arithmetic), as inference runs them: no
 * gradient flows through them, so the backward never needs their weight. Faster, and no longer exact: the
 * activations' quantization changes those layers' outputs slightly. The weight is stored transposed ([in, out])
 * for it, in place of the [out, in] copy when nothing else reads that. Returns how many products changed.
 */
export function int8ForwardProducts(b: GraphBuilder, trainable: readonly Tensor[], o: { unsigned?: boolean } = {}): number {
  const requires = reachedFrom(b.nodes, trainable);
  const dataOf = new Map(b.initializers.map((i) => [i.tensor, i.data]));
  const transposed = new Map<Tensor, Tensor[]>();
  let count = 0;
  for (const m of b.nodes) {
    if (m.op !== 'MatMul' || m.domain) continue;
    const [x, t] = m.inputs as [Tensor, Tensor];
    const tr = t.producer;
    const dq = tr?.op === 'Transpose' ? tr.inputs[0]!.producer : null;
    if (!dq || dq.op !== 'DequantizeLinear' || requires.has(x)) continue;
    const [qw, qs] = dq.inputs as [Tensor, Tensor];
    const q = dataOf.get(qw);
    if (qw.dtype !== 'int8' || !(q instanceof Int8Array)) continue;
    let weight = transposed.get(qw);
    if (!weight) {
      const [rows, cols] = qw.shape as [number, number];
      const data = new Int8Array(rows * cols);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) data[c * rows + r] = q[r * cols + c]!;
      weight = dynamicWeightInputs(b, `${qw.name}.t`, data, [cols, rows], qs, !!o.unsigned);
      transposed.set(qw, weight);
    }
    m.op = 'DynamicQuantizeMatMul';
    m.domain = 'com.microsoft';
    m.inputs = [x, ...weight];
    count++;
  }
  dropUnreadInt8(b);
  return count;
}
