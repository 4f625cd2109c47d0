import {
  GraphError,
  Tensor,
  isFloat,
  staticSize,
  typedArrayFor,
  type AttrValue,
  type ConstantData,
  type DType,
  type Dim,
  type Node,
  type Shape,
  type TypedData,
} from './ir.js';
import { broadcastShapes, normAxis, sameDim } from './shapes.js';
import type { Segment } from './recompute.js';

/**
 * The graph builder: typed tensor operations (`b.matmul`, `b.softmax`, `b.layerNorm`, ...) that infer shapes as
 * they go and append ONNX nodes to the IR.
 */

/** A transformer block of the graph: the tensor it starts from and the one it ends with. */
export interface Block {
  input: Tensor;
  output: Tensor;
}

export interface Initializer {
  tensor: Tensor;
  data: TypedData;
  /** A deferred weight's rows start..start+count-1 of its first axis, read without the rest (graph/quantize.ts). */
  rows?: (start: number, count: number) => TypedData;
}

const INT64_MAX = 9223372036854775807n;

/**
 * Builds a graph op by op with shape inference, so that a wrong model fails where it is written, with
 * the op and the shapes in the message, not later inside onnxruntime.
 */
export class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly inputs: Tensor[] = [];
  readonly outputs: Tensor[] = [];
  readonly initializers: Initializer[] = [];
  /** Forward results the backward computes again instead of keeping (dequantized frozen weights; see grad.ts). */
  readonly recomputable = new Map<Tensor, Segment>();
  /** The model's repeated layers (transformer blocks), input to output: what whole-block recompute replays (recompute.ts). */
  readonly blocks: Block[] = [];
  private nextId = 0;
  private names = new Set<string>();
  private scope: string[] = [];

  constructor(readonly name = 'changeling') {}

  // ---- naming and graph structure -------------------------------------------------------------

  private uniqueName(base: string): string {
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  /** Frees a name for reuse (the tensor that had it is gone from the graph). */
  forgetName(name: string): void {
    this.names.delete(name);
  }

  /** Names tensors and nodes made inside `fn` with a prefix ("encoder.layer.0/..."). */
  within<T>(prefix: string, fn: () => T): T {
    this.scope.push(prefix);
    try {
      return fn();
    } finally {
      this.scope.pop();
    }
  }

  /**
   * One repeated layer of the model (a transformer block), named like `within`: `fn` computes the block's output
   * from `input`, and the pair is recorded so that training can keep only block inputs and recompute the rest.
   */
  block(prefix: string, input: Tensor, fn: () => Tensor): Tensor {
    const output = this.within(prefix, fn);
    if (output !== input) this.blocks.push({ input, output });
    return output;
  }

  private scoped(name: string): string {
    return this.scope.length ? `${this.scope.join('/')}/${name}` : name;
  }

  input(name: string, dtype: DType, shape: Shape): Tensor {
    if (this.names.has(name)) throw new GraphError(`input name "${name}" is already used`);
    const t = new Tensor(this.nextId++, this.uniqueName(name), dtype, shape, 'input', null);
    this.inputs.push(t);
    return t;
  }

  /**
   * A weight stored in the model (frozen, or a constant). `data` may be a function that reads it (a deferred weight: models/weights.ts): the
   * initializer's `data` then calls it each time it is read and keeps nothing.
   */
  initializer(
    name: string,
    dtype: DType,
    shape: number[],
    data: TypedData | (() => TypedData),
    o: { rows?: (start: number, count: number) => TypedData } = {},
  ): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const checked = (d: TypedData) => {
      if (d.length !== n) throw new GraphError(`initializer ${name}: ${d.length} values for shape [${shape.join(', ')}]`);
      return d;
    };
    const t = new Tensor(this.nextId++, this.uniqueName(name), dtype, shape, 'initializer', null);
    if (typeof data === 'function') {
      this.initializers.push({
        tensor: t,
        ...(o.rows ? { rows: o.rows } : {}),
        get data() {
          return checked(data());
        },
      });
      return t;
    }
    this.initializers.push({ tensor: t, data: checked(data) });
    return t;
  }

  /** Marks a graph output; with a name, under exactly that name (outside any `within` prefix). */
  output(t: Tensor, name?: string): Tensor {
    let out = t;
    if (name && name !== t.name) {
      if (this.names.has(name)) throw new GraphError(`output name "${name}" is already used`);
      const saved = this.scope;
      this.scope = [];
      try {
        out = this.identity(t, name);
      } finally {
        this.scope = saved;
      }
    }
    this.outputs.push(out);
    return out;
  }

  constant(value: number | number[] | bigint[], dtype: DType = 'float32', shape?: number[]): Tensor {
    const vals = Array.isArray(value) ? value : [value];
    const s = shape ?? (Array.isArray(value) ? [vals.length] : []);
    const data = typedArrayFor(dtype, vals.length);
    vals.forEach((v, i) => {
      if (data instanceof BigInt64Array) data[i] = BigInt(v);
      else (data as Float32Array)[i] = Number(v);
    });
    return this.initializer(this.scoped('const'), dtype, s, data);
  }

  scalarLike(x: Tensor, v: number): Tensor {
    return this.constant(v, x.dtype, []);
  }

  ints(values: number[]): Tensor {
    return this.constant(values, 'int64', [values.length]);
  }

  /** Adds a node; output dtypes and shapes come from the caller's shape inference. */
  node(
    op: string,
    inputs: Array<Tensor | null>,
    outs: Array<{ dtype: DType; shape: Shape }>,
    attrs: Record<string, AttrValue> = {},
    name?: string,
  ): Tensor[] {
    const id = this.nextId++;
    const base = this.scoped(name ?? op.toLowerCase());
    const outputs = outs.map(
      (o, i) => new Tensor(this.nextId++, this.uniqueName(outs.length > 1 ? `${base}:${i}` : base), o.dtype, o.shape, 'value', null),
    );
    const node: Node = { id, op, inputs, outputs, attrs };
    outputs.forEach((t) => ((t as { producer: Node | null }).producer = node));
    this.nodes.push(node);
    return outputs;
  }

  private one(op: string, inputs: Array<Tensor | null>, dtype: DType, shape: Shape, attrs: Record<string, AttrValue> = {}): Tensor {
    return this.node(op, inputs, [{ dtype, shape }], attrs)[0]!;
  }

  // ---- elementwise -----------------------------------------------------------------------------

  private binary(op: string, a: Tensor, b: Tensor, outType?: DType): Tensor {
    if (a.dtype !== b.dtype) throw new GraphError(`${op}: dtypes differ (${a} and ${b})`);
    return this.one(op, [a, b], outType ?? a.dtype, broadcastShapes(op, a.shape, b.shape));
  }

  private lift(x: Tensor | number, like: Tensor): Tensor {
    return typeof x === 'number' ? this.scalarLike(like, x) : x;
  }

  add(a: Tensor, b: Tensor | number): Tensor {
    return this.binary('Add', a, this.lift(b, a));
  }
  sub(a: Tensor, b: Tensor | number): Tensor {
    return this.binary('Sub', a, this.lift(b, a));
  }
  rsub(a: number, b: Tensor): Tensor {
    return this.binary('Sub', this.scalarLike(b, a), b);
  }
  mul(a: Tensor, b: Tensor | number): Tensor {
    return this.binary('Mul', a, this.lift(b, a));
  }
  div(a: Tensor, b: Tensor | number): Tensor {
    return this.binary('Div', a, this.lift(b, a));
  }
  pow(a: Tensor, b: Tensor | number): Tensor {
    return this.binary('Pow', a, this.lift(b, a));
  }
  max(a: Tensor, b: Tensor | number): Tensor {
    return this.binary('Max', a, this.lift(b, a));
  }
  min(a: Tensor, b: Tensor | number): Tensor {
    return this.binary('Min', a, this.lift(b, a));
  }
  equal(a: Tensor, b: Tensor | number): Tensor {
    return this.binary('Equal', a, this.lift(b, a), 'bool');
  }
  greater(a: Tensor, b: Tensor | number): Tensor {
    return this.binary('Greater', a, this.lift(b, a), 'bool');
  }
  less(a: Tensor, b: Tensor | number): Tensor {
    return this.binary('Less', a, this.lift(b, a), 'bool');
  }
  and(a: Tensor, b: Tensor): Tensor {
    return this.binary('And', a, b, 'bool');
  }
  not(a: Tensor): Tensor {
    return this.one('Not', [a], 'bool', a.shape);
  }

  private unary(op: string, x: Tensor, attrs: Record<string, AttrValue> = {}): Tensor {
    if (!isFloat(x.dtype) && op !== 'Neg' && op !== 'Abs') throw new GraphError(`${op}: needs a float tensor, got ${x}`);
    return this.one(op, [x], x.dtype, x.shape, attrs);
  }
  neg(x: Tensor): Tensor {
    return this.unary('Neg', x);
  }
  abs(x: Tensor): Tensor {
    return this.unary('Abs', x);
  }
  sqrt(x: Tensor): Tensor {
    return this.unary('Sqrt', x);
  }
  reciprocal(x: Tensor): Tensor {
    return this.unary('Reciprocal', x);
  }
  exp(x: Tensor): Tensor {
    return this.unary('Exp', x);
  }
  log(x: Tensor): Tensor {
    return this.unary('Log', x);
  }
  tanh(x: Tensor): Tensor {
    return this.unary('Tanh', x);
  }
  sigmoid(x: Tensor): Tensor {
    return this.unary('Sigmoid', x);
  }
  relu(x: Tensor): Tensor {
    return this.unary('Relu', x);
  }
  erf(x: Tensor): Tensor {
    return this.unary('Erf', x);
  }
  softplus(x: Tensor): Tensor {
    return this.unary('Softplus', x);
  }
  identity(x: Tensor, name?: string): Tensor {
    return this.node('Identity', [x], [{ dtype: x.dtype, shape: x.shape }], {}, name)[0]!;
  }

  /**
   * GELU, exact (erf) form x * 0.5 * (1 + erf(x / sqrt 2)) as onnxruntime's fused com.microsoft Gelu (its
   * gradient rule recomputes from x, so training keeps one activation, not four); or the tanh
   * approximation ("gelu_new"), composed.
   */
  gelu(x: Tensor, form: 'erf' | 'tanh' = 'erf'): Tensor {
    if (form === 'erf') {
      const y = this.one('Gelu', [x], x.dtype, x.shape);
      y.producer!.domain = 'com.microsoft';
      return y;
    }
    const inner = this.mul(this.add(x, this.mul(this.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
    return this.mul(this.mul(x, 0.5), this.add(this.tanh(inner), 1));
  }

  where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
    const at = typeof a === 'number' ? this.scalarLike(b as Tensor, a) : a;
    const bt = typeof b === 'number' ? this.scalarLike(at, b) : b;
    if (cond.dtype !== 'bool') throw new GraphError(`Where: condition must be bool, got ${cond}`);
    if (at.dtype !== bt.dtype) throw new GraphError(`Where: branches differ (${at} and ${bt})`);
    const shape = broadcastShapes('Where', broadcastShapes('Where', cond.shape, at.shape), bt.shape);
    return this.one('Where', [cond, at, bt], at.dtype, shape);
  }

  cast(x: Tensor, to: DType): Tensor {
    return this.one('Cast', [x], to, x.shape, { to: ONNX_DTYPE[to] });
  }

  // ---- linear algebra --------------------------------------------------------------------------

  matmul(a: Tensor, b: Tensor): Tensor {
    if (a.rank < 2 || b.rank < 2) throw new GraphError(`MatMul: needs rank >= 2, got ${a} and ${b}`);
    if (a.dtype !== b.dtype) throw new GraphError(`MatMul: dtypes differ (${a} and ${b})`);
    const k1 = a.shape[a.rank - 1]!;
    const k2 = b.shape[b.rank - 2]!;
    if (!sameDim(k1, k2)) throw new GraphError(`MatMul: inner dimensions differ: ${a} x ${b}`);
    const batch = broadcastShapes('MatMul', a.shape.slice(0, -2), b.shape.slice(0, -2));
    return this.one('MatMul', [a, b], a.dtype, [...batch, a.shape[a.rank - 2]!, b.shape[b.rank - 1]!]);
  }

  /** x W + b, the PyTorch nn.Linear with W given as [in, out]. */
  linear(x: Tensor, w: Tensor, bias?: Tensor | null): Tensor {
    const y = this.matmul(x, w);
    return bias ? this.add(y, bias) : y;
  }

  /** Gemm as MatMul + Add (alpha, beta and transposes folded), so autodiff needs no extra rule. */
  gemm(a: Tensor, b: Tensor, c?: Tensor, o: { transA?: boolean; transB?: boolean; alpha?: number; beta?: number } = {}): Tensor {
    const A = o.transA ? this.transpose(a, [1, 0]) : a;
    const B = o.transB ? this.transpose(b, [1, 0]) : b;
    let y = this.matmul(A, B);
    if (o.alpha !== undefined && o.alpha !== 1) y = this.mul(y, o.alpha);
    if (c) y = this.add(y, o.beta !== undefined && o.beta !== 1 ? this.mul(c, o.beta) : c);
    return y;
  }

  // ---- reductions and normalizations ----------------------------------------------------------

  private reduced(op: string, x: Tensor, axes: number[], keepdims: boolean): Shape {
    const ax = axes.map((a) => normAxis(a, x.rank, op));
    return x.shape.flatMap((d, i) => (ax.includes(i) ? (keepdims ? [1] : []) : [d]));
  }

  reduceSum(x: Tensor, axes: number[], keepdims = true): Tensor {
    return this.one('ReduceSum', [x, this.ints(axes)], x.dtype, this.reduced('ReduceSum', x, axes, keepdims), {
      keepdims: keepdims ? 1 : 0,
    });
  }
  reduceMean(x: Tensor, axes: number[], keepdims = true): Tensor {
    return this.one('ReduceMean', [x], x.dtype, this.reduced('ReduceMean', x, axes, keepdims), { axes, keepdims: keepdims ? 1 : 0 });
  }
  reduceMax(x: Tensor, axes: number[], keepdims = true): Tensor {
    return this.one('ReduceMax', [x], x.dtype, this.reduced('ReduceMax', x, axes, keepdims), { axes, keepdims: keepdims ? 1 : 0 });
  }
  /** Sum of all elements, as a scalar. */
  sumAll(x: Tensor): Tensor {
    return this.reshape(
      this.reduceSum(
        x,
        x.shape.map((_, i) => i),
        false,
      ),
      [],
    );
  }

  softmax(x: Tensor, axis = -1): Tensor {
    return this.one('Softmax', [x], x.dtype, x.shape, { axis: normAxis(axis, x.rank, 'Softmax') });
  }
  logSoftmax(x: Tensor, axis = -1): Tensor {
    return this.one('LogSoftmax', [x], x.dtype, x.shape, { axis: normAxis(axis, x.rank, 'LogSoftmax') });
  }

  /**
   * LayerNorm over the last axis (PyTorch nn.LayerNorm) as ONNX's fused LayerNormalization, which also
   * returns the mean and inverse standard deviation its gradient rule needs: training keeps the input and
   * two per-row statistics instead of every intermediate of a composed form.
   */
  layerNorm(x: Tensor, gamma: Tensor | null, beta: Tensor | null, eps = 1e-5): Tensor {
    const d = x.shape[x.rank - 1]!;
    const g = gamma ?? this.constant(new Array(d as number).fill(1), x.dtype, [d as number]);
    const stats = [...x.shape.slice(0, -1), 1];
    const [y] = this.node(
      'LayerNormalization',
      [x, g, beta],
      [
        { dtype: x.dtype, shape: x.shape },
        { dtype: x.dtype, shape: stats },
        { dtype: x.dtype, shape: stats },
      ],
      { axis: -1, epsilon: { float: eps } },
    );
    return y!;
  }

  /**
   * T5's and Llama's RMS norm: x * (1 / sqrt(mean(x^2) + eps)) * weight, no mean subtraction, no bias. Reciprocal,
   * not Div(1, ..): onnxruntime rewrites Div(1, s) then Mul into one Div only where nothing else reads 1 / s, so a
   * training graph would compute a block's forward one way and its recomputed copy (read by the backward) the
   * other, a rounding apart; Reciprocal is never rewritten, and both compute the same bits.
   */
  rmsNorm(x: Tensor, weight: Tensor | null, eps = 1e-6): Tensor {
    const v = this.reduceMean(this.mul(x, x), [-1]);
    const y = this.mul(x, this.reciprocal(this.sqrt(this.add(v, eps))));
    return weight ? this.mul(y, weight) : y;
  }

  // ---- shape ops -------------------------------------------------------------------------------

  shapeOf(x: Tensor): Tensor {
    return this.one('Shape', [x], 'int64', [x.rank]);
  }

  /** Reshape to `shape`: numbers, with 0 copying the input's dim and one -1 inferred. */
  reshape(x: Tensor, shape: number[] | Tensor, outShape?: Shape): Tensor {
    if (shape instanceof Tensor) {
      if (!outShape) throw new GraphError('Reshape: a runtime target shape needs the static output shape');
      return this.one('Reshape', [x, shape], x.dtype, outShape);
    }
    const out: Dim[] = shape.map((d, i) => (d === 0 ? x.shape[i]! : d));
    const inTotal = staticSize(x.shape);
    const minus = out.indexOf(-1);
    if (minus >= 0) {
      const part = staticSize(out.filter((_, i) => i !== minus));
      out[minus] = inTotal !== null && part !== null ? inTotal / part : `${x.name}_reshape${minus}`;
    }
    const total = staticSize(out);
    if (total !== null && inTotal !== null && total !== inTotal)
      throw new GraphError(`Reshape: ${x} has ${inTotal} elements, not ${total} ([${shape.join(', ')}])`);
    return this.one('Reshape', [x, this.ints(shape)], x.dtype, out);
  }

  transpose(x: Tensor, perm: number[]): Tensor {
    if (perm.length !== x.rank) throw new GraphError(`Transpose: perm [${perm}] for ${x}`);
    return this.one(
      'Transpose',
      [x],
      x.dtype,
      perm.map((p) => x.shape[p]!),
      { perm },
    );
  }

  /** Swaps the last two axes. */
  transposeLast(x: Tensor): Tensor {
    const perm = x.shape.map((_, i) => i);
    [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1]!, perm[x.rank - 2]!];
    return this.transpose(x, perm);
  }

  concat(xs: Tensor[], axis: number): Tensor {
    const first = xs[0]!;
    const a = normAxis(axis, first.rank, 'Concat');
    let size: Dim = 0;
    for (const t of xs) {
      if (t.rank !== first.rank || t.dtype !== first.dtype) throw new GraphError(`Concat: ${t} does not match ${first}`);
      const d = t.shape[a]!;
      size = typeof size === 'number' && typeof d === 'number' ? size + d : `${first.name}_concat`;
    }
    const shape = first.shape.map((d, i) => (i === a ? size : d));
    return this.one('Concat', xs, first.dtype, shape, { axis: a });
  }

  /** Static slice along axes (ends may exceed the dim; use Infinity for "to the end"). */
  slice(x: Tensor, starts: number[], ends: number[], axes: number[], steps?: number[]): Tensor {
    const ax = axes.map((a) => normAxis(a, x.rank, 'Slice'));
    const shape = x.shape.map((d, i) => {
      const k = ax.indexOf(i);
      if (k < 0) return d;
      const step = steps?.[k] ?? 1;
      if (step !== 1) throw new GraphError('Slice: only step 1 is supported');
      const s = starts[k]!;
      const e = ends[k]!;
      if (typeof d === 'number') {
        const S = Math.max(0, Math.min(d, s < 0 ? s + d : s));
        const E = Math.max(0, Math.min(d, e < 0 ? e + d : e));
        return Math.max(0, E - S);
      }
      return s >= 0 && e !== Infinity && e >= 0 ? e - s : `${x.name}_slice${i}`;
    });
    const toInt64 = (v: number[]) =>
      this.constant(
        v.map((n) => (n === Infinity ? INT64_MAX : BigInt(n))),
        'int64',
        [v.length],
      );
    const inputs = [x, toInt64(starts), toInt64(ends), this.ints(ax)];
    if (steps) inputs.push(this.ints(steps));
    return this.one('Slice', inputs, x.dtype, shape);
  }

  /** Slice along one axis with start and end given as int64 [1] tensors; `outShape` is the result's static shape. */
  sliceDynamic(x: Tensor, start: Tensor, end: Tensor, axis: number, outShape: Shape): Tensor {
    return this.one('Slice', [x, start, end, this.ints([normAxis(axis, x.rank, 'Slice')])], x.dtype, outShape);
  }

  gather(data: Tensor, indices: Tensor, axis = 0): Tensor {
    const a = normAxis(axis, data.rank, 'Gather');
    if (indices.dtype !== 'int64' && indices.dtype !== 'int32') throw new GraphError(`Gather: indices must be integers, got ${indices}`);
    const shape = [...data.shape.slice(0, a), ...indices.shape, ...data.shape.slice(a + 1)];
    return this.one('Gather', [data, indices], data.dtype, shape, { axis: a });
  }

  unsqueeze(x: Tensor, axes: number[]): Tensor {
    const rank = x.rank + axes.length;
    const ax = axes.map((a) => normAxis(a, rank, 'Unsqueeze')).sort((p, q) => p - q);
    const shape: Dim[] = [...x.shape];
    for (const a of ax) shape.splice(a, 0, 1);
    return this.one('Unsqueeze', [x, this.ints(ax)], x.dtype, shape);
  }

  squeeze(x: Tensor, axes: number[]): Tensor {
    const ax = axes.map((a) => normAxis(a, x.rank, 'Squeeze'));
    for (const a of ax) if (x.shape[a] !== 1 && typeof x.shape[a] === 'number') throw new GraphError(`Squeeze: axis ${a} of ${x} is not 1`);
    return this.one(
      'Squeeze',
      [x, this.ints(ax)],
      x.dtype,
      x.shape.filter((_, i) => !ax.includes(i)),
    );
  }

  /** Broadcast to a shape: numbers, or a runtime int64 shape tensor with the static result shape. */
  expand(x: Tensor, shape: number[] | Tensor, outShape?: Shape): Tensor {
    if (shape instanceof Tensor) {
      if (!outShape) throw new GraphError('Expand: a runtime shape needs the static output shape');
      return this.one('Expand', [x, shape], x.dtype, outShape);
    }
    return this.one('Expand', [x, this.ints(shape)], x.dtype, broadcastShapes('Expand', x.shape, shape));
  }

  /** [0, 1, ..., n-1] for a static n, or the length of axis `axis` of a tensor at run time. */
  range(n: number | { of: Tensor; axis: number }, dtype: DType = 'int64'): Tensor {
    if (typeof n === 'number')
      return this.constant(
        Array.from({ length: n }, (_, i) => i),
        dtype,
        [n],
      );
    const len = this.reshape(this.gather(this.shapeOf(n.of), this.constant(n.axis, 'int64', [])), []);
    const lim = dtype === 'int64' ? len : this.cast(len, dtype);
    return this.one('Range', [this.constant(0, dtype, []), lim, this.constant(1, dtype, [])], dtype, [n.of.shape[n.axis]!]);
  }

  /** ScatterND with reduction "add" into `data` (used by the Gather gradient). */
  /** ONNX GatherElements: out[..., i, ...] = data[..., indices[..., i, ...], ...] along `axis`; the indices' shape. */
  gatherElements(data: Tensor, indices: Tensor, axis: number): Tensor {
    const a = normAxis(axis, data.rank, 'GatherElements');
    if (indices.dtype !== 'int64') throw new GraphError(`GatherElements: indices must be int64, got ${indices}`);
    return this.one('GatherElements', [data, indices], data.dtype, indices.shape, { axis: a });
  }

  /** ONNX ScatterElements with reduction "add": `data` with `updates` added at `indices` along `axis`. */
  scatterElementsAdd(data: Tensor, indices: Tensor, updates: Tensor, axis: number): Tensor {
    return this.one('ScatterElements', [data, indices, updates], data.dtype, data.shape, {
      axis: normAxis(axis, data.rank, 'ScatterElements'),
      reduction: 'add',
    });
  }

  scatterAdd(data: Tensor, indices: Tensor, updates: Tensor): Tensor {
    return this.one('ScatterND', [data, indices, updates], data.dtype, data.shape, { reduction: 'add' });
  }

  /** ONNX DequantizeLinear: int8 `q` times `scale` along `axis` (one scale per index of that axis), as float32. */
  dequantizeLinear(q: Tensor, scale: Tensor, axis: number): Tensor {
    return this.one('DequantizeLinear', [q, scale], 'float32', q.shape, { axis: normAxis(axis, q.rank, 'DequantizeLinear') });
  }

  /**
   * A frozen weight held in int8 (one scale per row): its `<name>.int8` and `<name>.scale` initializers and a
   * DequantizeLinear whose result is named exactly `name` (outside any scope), as the weight was.
   */
  dequantizeWeight(name: string, w: { shape: [number, number]; q: Int8Array; scale: Float32Array }): Tensor {
    if (this.names.has(name)) throw new GraphError(`the name "${name}" is already used`);
    const q = this.initializer(`${name}.int8`, 'int8', w.shape, w.q);
    const scale = this.initializer(`${name}.scale`, 'float32', [w.shape[0]], w.scale);
    const scope = this.scope.splice(0);
    try {
      return this.node('DequantizeLinear', [q, scale], [{ dtype: 'float32', shape: q.shape }], { axis: 0 }, name)[0]!;
    } finally {
      this.scope.push(...scope);
    }
  }

  /** ONNX NonZero: the indices [rank, n] of the elements that are not zero (n known only when it runs); never differentiated. */
  nonZero(x: Tensor): Tensor {
    return this.one('NonZero', [x], 'int64', [x.rank, `${x.name}_nonzero`]);
  }

  constantOfShape(shapeTensor: Tensor, dtype: DType, value: number, outShape: Shape): Tensor {
    const data = typedArrayFor(dtype, 1);
    if (data instanceof BigInt64Array) data[0] = BigInt(value);
    else (data as Float32Array)[0] = value;
    return this.one('ConstantOfShape', [shapeTensor], dtype, outShape, { value: { tensor: { dtype, shape: [1], data } } });
  }

  zerosLike(x: Tensor): Tensor {
    return this.constantOfShape(this.shapeOf(x), x.dtype, 0, x.shape);
  }

  /** Cumulative sum along `axis` (ONNX CumSum); used for position ids, never differentiated. */
  cumsum(x: Tensor, axis: number): Tensor {
    return this.one('CumSum', [x, this.constant(normAxis(axis, x.rank, 'CumSum'), 'int64', [])], x.dtype, x.shape);
  }

  // ---- training ops ----------------------------------------------------------------------------

  /**
   * Inverted dropout whose mask comes from a counter-based hash of (seed, element index), so that a
   * step is reproducible from its `seed` input (ONNX's random ops only take a seed attribute).
   */
  dropout(x: Tensor, p: number, seed: Tensor | null): Tensor {
    if (p <= 0 || !seed) return x;
    if (p >= 1) throw new GraphError(`Dropout: p must be below 1, got ${p}`);
    const n = this.reshape(this.shapeOf(x), [-1]);
    const count = this.reduceProd(n);
    const flatIdx = this.cast(
      this.one('Range', [this.constant(0, 'int64', []), count, this.constant(1, 'int64', [])], 'int64', ['dropout_n']),
      'float32',
    );
    const idx = this.reshape(flatIdx, this.shapeOf(x), x.shape);
    // Fract(sin(i * a + seed) * b): the classic GPU hash; good enough to decorrelate a dropout mask.
    const s = this.cast(seed, 'float32');
    const h = this.mul(this.sin(this.add(this.mul(idx, 12.9898), this.mul(s, 78.233))), 43758.5453);
    const u = this.sub(h, this.floor(h));
    const keep = this.not(this.less(u, this.constant(p, 'float32', [])));
    const scale = this.scalarLike(x, 1 / (1 - p));
    return this.where(keep, this.mul(x, scale), this.scalarLike(x, 0));
  }

  private reduceProd(x: Tensor): Tensor {
    return this.one('ReduceProd', [x], x.dtype, [], { keepdims: 0 });
  }
  sin(x: Tensor): Tensor {
    return this.unary('Sin', x);
  }
  cos(x: Tensor): Tensor {
    return this.unary('Cos', x);
  }
  floor(x: Tensor): Tensor {
    return this.unary('Floor', x);
  }

  /**
   * Mean token cross-entropy of `logits` [..., V] against integer `labels` [...], skipping `ignoreIndex`,
   * with optional label smoothing (PyTorch's CrossEntropyLoss semantics). Returns a scalar.
   */
  crossEntropy(logits: Tensor, labels: Tensor, o: { ignoreIndex?: number; labelSmoothing?: number } = {}): Tensor {
    const V = logits.shape[logits.rank - 1]!;
    if (typeof V !== 'number') throw new GraphError('crossEntropy: the vocabulary size must be static');
    const ignore = o.ignoreIndex ?? -100;
    const eps = o.labelSmoothing ?? 0;
    const logp = this.logSoftmax(logits, -1);
    const lab = labels.dtype === 'int64' ? labels : this.cast(labels, 'int64');
    // The label's log-probability gathered (no one-hot [.., vocab] tensor, and a sparse gradient); ignored
    // positions gather index 0 and are masked out below.
    const ignored = this.equal(lab, this.constant(ignore, 'int64', []));
    const safe = this.where(ignored, this.constant(0, 'int64', []), lab);
    let perToken = this.neg(this.squeeze(this.gatherElements(logp, this.unsqueeze(safe, [-1]), -1), [-1]));
    if (eps > 0) {
      const smooth = this.neg(this.reduceMean(logp, [-1], false));
      perToken = this.add(this.mul(perToken, 1 - eps), this.mul(smooth, eps));
    }
    const mask = this.cast(this.not(ignored), logits.dtype);
    const total = this.sumAll(this.mul(perToken, mask));
    const count = this.max(this.sumAll(mask), 1);
    return this.div(total, count);
  }

  /** Mean binary cross-entropy with logits (stable): softplus(x) - x*y. Returns a scalar. */
  bceWithLogits(logits: Tensor, targets: Tensor): Tensor {
    const per = this.sub(this.softplus(logits), this.mul(logits, targets));
    const n = staticSize(per.shape);
    return n !== null ? this.div(this.sumAll(per), n) : this.reduceMean(this.reshape(per, [-1]), [0], false);
  }
}

export const ONNX_DTYPE: Record<DType, number> = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float64: 11 };

export type { ConstantData };
