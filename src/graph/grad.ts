import { GraphBuilder } from './builder.js';
import { GraphError, Tensor, isFloat, type Node } from './ir.js';
import { broadcastAxes } from './shapes.js';
import { attentionSegments, blockSegments, replaySegment, type Segment } from './recompute.js';

/**
 * Reverse-mode autodiff over the IR, emitting the backward pass as standard ONNX nodes in the same graph.
 *
 * Each op's vector-Jacobian product is one entry of VJP: given the output gradient `g`, the node's
 * inputs `x` and its output `y`, it returns one thunk per input. The walk calls a thunk only for an
 * input that a trainable tensor lies upstream of, so a frozen weight never costs a weight-gradient MatMul.
 */
type Thunk = (() => Tensor) | null;
type Rule = (b: GraphBuilder, g: Tensor, x: Array<Tensor | null>, y: Tensor, n: Node) => Thunk[];

const T = (t: Tensor | null | undefined): Tensor => t!;

export const VJP: Record<string, Rule> = {
  Identity: (b, g) => [() => g],
  Add: (b, g, [p, q]) => [() => unbroadcast(b, g, T(p)), () => unbroadcast(b, g, T(q))],
  Sub: (b, g, [p, q]) => [() => unbroadcast(b, g, T(p)), () => unbroadcast(b, b.neg(g), T(q))],
  Mul: (b, g, [p, q]) => [() => unbroadcast(b, b.mul(g, T(q)), T(p)), () => unbroadcast(b, b.mul(g, T(p)), T(q))],
  Div: (b, g, [p, q], y) => [() => unbroadcast(b, b.div(g, T(q)), T(p)), () => unbroadcast(b, b.neg(b.div(b.mul(g, y), T(q))), T(q))],
  Pow: (b, g, [p, q], y) => [
    () => unbroadcast(b, b.mul(g, b.mul(T(q), b.pow(T(p), b.sub(T(q), 1)))), T(p)),
    () => unbroadcast(b, b.mul(g, b.mul(y, b.log(T(p)))), T(q)),
  ],
  Max: (b, g, [p, q]) => [
    () => unbroadcast(b, b.where(b.not(b.less(T(p), T(q))), g, 0), T(p)),
    () => unbroadcast(b, b.where(b.less(T(p), T(q)), g, 0), T(q)),
  ],
  Min: (b, g, [p, q]) => [
    () => unbroadcast(b, b.where(b.not(b.greater(T(p), T(q))), g, 0), T(p)),
    () => unbroadcast(b, b.where(b.greater(T(p), T(q)), g, 0), T(q)),
  ],
  Neg: (b, g) => [() => b.neg(g)],
  Abs: (b, g, [x]) => [() => b.where(b.less(T(x), 0), b.neg(g), g)],
  Sqrt: (b, g, _x, y) => [() => b.div(b.mul(g, 0.5), y)],
  Reciprocal: (b, g, _x, y) => [() => b.neg(b.mul(g, b.mul(y, y)))],
  Exp: (b, g, _x, y) => [() => b.mul(g, y)],
  Log: (b, g, [x]) => [() => b.div(g, T(x))],
  Tanh: (b, g, _x, y) => [() => b.mul(g, b.rsub(1, b.mul(y, y)))],
  Sigmoid: (b, g, _x, y) => [() => b.mul(g, b.mul(y, b.rsub(1, y)))],
  Relu: (b, g, [x]) => [() => b.where(b.greater(T(x), 0), g, 0)],
  Erf: (b, g, [x]) => [() => b.mul(g, b.mul(b.exp(b.neg(b.mul(T(x), T(x)))), 2 / Math.sqrt(Math.PI)))],
  Softplus: (b, g, [x]) => [() => b.mul(g, b.sigmoid(T(x)))],
  // d/dx x Phi(x) = Phi(x) + x phi(x), recomputed from x alone.
  Gelu: (b, g, [x]) => [
    () =>
      b.mul(
        g,
        b.add(
          b.mul(b.add(b.erf(b.mul(T(x), Math.SQRT1_2)), 1), 0.5),
          b.mul(T(x), b.mul(b.exp(b.mul(b.mul(T(x), T(x)), -0.5)), 1 / Math.sqrt(2 * Math.PI))),
        ),
      ),
  ],
  Where: (b, g, [c, p, q]) => [null, () => unbroadcast(b, b.where(T(c), g, 0), T(p)), () => unbroadcast(b, b.where(T(c), 0, g), T(q))],
  Cast: (b, g, [x]) => [isFloat(T(x).dtype) ? () => b.cast(g, T(x).dtype) : null],
  MatMul: (b, g, [p, q]) => [() => unbroadcast(b, b.matmul(g, b.transposeLast(T(q))), T(p)), () => matmulWeightGrad(b, g, T(p), T(q))],
  // With xhat = (x - mean) * rstd and h = g * gamma: dx = rstd * (h - mean(h) - xhat * mean(h * xhat)),
  // dgamma = sum(g * xhat), dbeta = sum(g), over every axis but the last.
  LayerNormalization: (b, g, [x, gamma, beta], _y, n) => {
    const [, mean, rstd] = n.outputs;
    const xhat = () => b.mul(b.sub(T(x), T(mean)), T(rstd));
    const lead = T(x)
      .shape.slice(0, -1)
      .map((_, i) => i);
    return [
      () => {
        const xh = xhat();
        const h = b.mul(g, T(gamma));
        return b.mul(T(rstd), b.sub(b.sub(h, b.reduceMean(h, [-1])), b.mul(xh, b.reduceMean(b.mul(h, xh), [-1]))));
      },
      () => b.reduceSum(b.mul(g, xhat()), lead, false),
      beta ? () => b.reduceSum(g, lead, false) : null,
    ];
  },
  Softmax: (b, g, _x, y, n) => [() => b.mul(y, b.sub(g, b.reduceSum(b.mul(g, y), [n.attrs.axis as number])))],
  LogSoftmax: (b, g, _x, y, n) => [() => b.sub(g, b.mul(b.exp(y), b.reduceSum(g, [n.attrs.axis as number])))],
  ReduceSum: (b, g, [x, axes], _y, n) => [() => expandBack(b, g, T(x), constInts(b, T(axes)), n.attrs.keepdims !== 0), null],
  ReduceMean: (b, g, [x], _y, n) => [
    () => b.div(expandBack(b, g, T(x), n.attrs.axes as number[], n.attrs.keepdims !== 0), reducedCount(b, T(x), n.attrs.axes as number[])),
  ],
  ReduceMax: (b, g, [x], y, n) => {
    const axes = n.attrs.axes as number[];
    const keep = n.attrs.keepdims !== 0;
    return [() => b.where(b.equal(T(x), keep ? y : b.unsqueeze(y, axes)), expandBack(b, g, T(x), axes, keep), 0)];
  },
  Reshape: (b, g, [x]) => [() => b.reshape(g, b.shapeOf(T(x)), T(x).shape), null],
  Squeeze: (b, g, [x]) => [() => b.reshape(g, b.shapeOf(T(x)), T(x).shape), null],
  Unsqueeze: (b, g, [x]) => [() => b.reshape(g, b.shapeOf(T(x)), T(x).shape), null],
  Expand: (b, g, [x]) => [() => unbroadcast(b, g, T(x)), null],
  Transpose: (b, g, _x, _y, n) => {
    const perm = n.attrs.perm as number[];
    const inv = perm.map((_, i) => perm.indexOf(i));
    return [() => b.transpose(g, inv)];
  },
  Concat: (b, g, xs, _y, n) => {
    const axis = n.attrs.axis as number;
    // Offsets along the axis: numbers while the sizes are static, shape arithmetic once one is not.
    let off: number | Tensor = 0;
    return xs.map((x) => {
      const len = T(x).shape[axis]!;
      const start = off;
      if (typeof len === 'number' && typeof start === 'number') {
        off = start + len;
        return () => b.slice(g, [start], [start + len], [axis]);
      }
      const startT: Tensor = typeof start === 'number' ? b.ints([start]) : start;
      const lenT = b.slice(b.shapeOf(T(x)), [axis], [axis + 1], [0]);
      const endT = b.add(startT, lenT);
      off = endT;
      return () => b.sliceDynamic(g, startT, endT, axis, T(x).shape);
    });
  },
  Slice: (b, g, [x, starts, _ends, axes]) => [() => padBack(b, g, T(x), constInts(b, T(starts)), constInts(b, T(axes))), null, null, null],
  // One gathered element per output position: its gradient is added back at the index it came from (the dense
  // form; gradients() keeps it sparse until it must be dense, and LogSoftmax takes it sparse).
  GatherElements: (b, g, [data, idx], _y, n) => [() => b.scatterElementsAdd(b.zerosLike(T(data)), T(idx), g, n.attrs.axis as number), null],
  Gather: (b, g, [data, idx], _y, n) => {
    if ((n.attrs.axis as number) !== 0) throw new GraphError('Gather gradient: only axis 0 (embedding lookup) is supported');
    return [
      () => b.scatterAdd(b.zerosLike(T(data)), b.unsqueeze(T(idx).dtype === 'int64' ? T(idx) : b.cast(T(idx), 'int64'), [-1]), g),
      null,
    ];
  },
};

/**
 * Ops whose outputs never carry gradient (integer, boolean or piecewise-constant results; Sin and Cos because the
 * builder applies them only to what no parameter reaches: dropout's counter hash and rotary angles from positions).
 */
const NON_DIFFERENTIABLE = new Set([
  'Shape',
  'Equal',
  'Greater',
  'Less',
  'Not',
  'And',
  'Range',
  'ConstantOfShape',
  'Floor',
  'Sin',
  'Cos',
  'ReduceProd',
  'ScatterND',
  'CumSum',
]);

/** Sums `g` over the axes along which `x` was broadcast, and reshapes it to x's shape. */
function unbroadcast(b: GraphBuilder, g: Tensor, x: Tensor): Tensor {
  if (g.rank === x.rank && g.shape.every((d, i) => d === x.shape[i])) return g;
  const { lead, ones } = broadcastAxes(x.shape, g.shape);
  let r = g;
  if (lead > 0)
    r = b.reduceSum(
      r,
      Array.from({ length: lead }, (_, i) => i),
      false,
    );
  if (ones.length)
    r = b.reduceSum(
      r,
      ones.map((a) => a - lead),
      true,
    );
  return r;
}

/** dW of x @ W; for a 2-D weight under a batched x, one big MatMul over flattened rows. */
function matmulWeightGrad(b: GraphBuilder, g: Tensor, x: Tensor, w: Tensor): Tensor {
  if (w.rank === 2 && x.rank > 2) {
    const k = x.shape[x.rank - 1] as number;
    const n = g.shape[g.rank - 1] as number;
    return b.matmul(b.transposeLast(b.reshape(x, [-1, k])), b.reshape(g, [-1, n]));
  }
  return unbroadcast(b, b.matmul(b.transposeLast(x), g), w);
}

function expandBack(b: GraphBuilder, g: Tensor, x: Tensor, axes: number[], keepdims: boolean): Tensor {
  const gk = keepdims
    ? g
    : b.unsqueeze(
        g,
        axes.map((a) => (a < 0 ? a + x.rank : a)),
      );
  return b.expand(gk, b.shapeOf(x), x.shape);
}

function reducedCount(b: GraphBuilder, x: Tensor, axes: number[]): Tensor {
  const dims = axes.map((a) => x.shape[a < 0 ? a + x.rank : a]!);
  if (dims.every((d) => typeof d === 'number'))
    return b.scalarLike(
      x,
      (dims as number[]).reduce((p, q) => p * q, 1),
    );
  const sizes = b.gather(b.shapeOf(x), b.ints(axes.map((a) => (a < 0 ? a + x.rank : a))));
  return b.cast(b.reshape(b.node('ReduceProd', [sizes], [{ dtype: 'int64', shape: [1] }], { keepdims: 1 })[0]!, []), x.dtype);
}

/** The Slice gradient: g padded with zeros back to x's shape. */
function padBack(b: GraphBuilder, g: Tensor, x: Tensor, starts: number[], axes: number[]): Tensor {
  const begin = new Array<number>(x.rank).fill(0);
  axes.forEach((a, i) => {
    const ax = a < 0 ? a + x.rank : a;
    let s = starts[i]!;
    const d = x.shape[ax]!;
    if (s < 0) {
      if (typeof d !== 'number') throw new GraphError('Slice gradient: a negative start needs a static dimension');
      s += d;
    }
    begin[ax] = s;
  });
  const beginT = b.ints(begin);
  const end = b.sub(b.sub(b.shapeOf(x), b.shapeOf(g)), beginT);
  const pads = b.concat([beginT, end], 0);
  return b.node('Pad', [g, pads], [{ dtype: g.dtype, shape: x.shape }], { mode: 'constant' })[0]!;
}

/** The integer values of a constant (initializer) input such as ReduceSum's axes. */
function constInts(b: GraphBuilder, t: Tensor): number[] {
  const init = b.initializers.find((i) => i.tensor === t);
  if (!init) throw new GraphError(`expected a constant for ${t}`);
  return Array.from(init.data as ArrayLike<number | bigint>, (v) => Number(v));
}

export interface GradientOptions {
  /**
   * Recompute each attention's probabilities in its backward instead of keeping the forward's (see
   * recompute.ts): one [batch, heads, q, k] tensor less per attention for the step, one score product more.
   */
  recomputeAttention?: boolean;
  /**
   * Recompute whole blocks (the builder's `blocks`): only block inputs are kept through the step, each block's
   * forward runs again in its backward (recompute.ts); the gradients are the same to the bit.
   */
  recomputeBlocks?: boolean;
}

/** A gradient that is `updates` scattered (added) along `axis` into zeros: kept unmaterialized while it can be. */
interface SparseGrad {
  indices: Tensor;
  updates: Tensor;
  axis: number;
  like: Tensor;
}
/** A gradient as the walk carries it: a tensor, or a sparse one. */
type Grad = Tensor | SparseGrad;
const isSparse = (g: Grad): g is SparseGrad => !(g instanceof Tensor);
/** `s` added into `into` (zeros when absent): the dense form of a sparse gradient. */
const scatterInto = (b: GraphBuilder, s: SparseGrad, into?: Tensor) =>
  b.scatterElementsAdd(into ?? b.zerosLike(s.like), s.indices, s.updates, s.axis);
const densify = (b: GraphBuilder, g: Grad) => (isSparse(g) ? scatterInto(b, g) : g);

/**
 * Rules for gradients kept sparse. The cross-entropy gathers the label's log-probability: the gradient of
 * GatherElements is the output's, added back where each element came from, and it stays sparse (no
 * [.., vocab] zeros tensor, no dense sum) until it meets another gradient or a rule that needs it dense,
 * or LogSoftmax, whose rule takes it as it is: d logits = g - softmax * sum(g), the (small) sum being the
 * updates' own, added in place into -softmax * sum; the same values as the dense rule, to the bit. A rule
 * here returns null when it does not apply, and the walk uses VJP's dense rule.
 */
type SparseRule = (b: GraphBuilder, g: Grad, x: Array<Tensor | null>, y: Tensor, n: Node) => Array<(() => Grad) | null> | null;
export const SPARSE_VJP: Record<string, SparseRule> = {
  GatherElements: (b, g, [data, idx], _y, n) => [
    () => ({ indices: T(idx), updates: densify(b, g), axis: n.attrs.axis as number, like: T(data) }),
    null,
  ],
  LogSoftmax: (b, g, _x, y, n) =>
    isSparse(g) && g.axis === n.attrs.axis ? [() => scatterInto(b, g, b.mul(b.exp(y), b.neg(b.reduceSum(g.updates, [g.axis]))))] : null,
};

/** Two gradients of one tensor, summed (a sparse one is added into the other's dense form). */
function sum(b: GraphBuilder, prev: Grad, g: Grad): Grad {
  if (!isSparse(prev) && !isSparse(g)) return b.add(prev, g);
  if (isSparse(g)) return scatterInto(b, g, densify(b, prev));
  return scatterInto(b, prev as SparseGrad, g);
}

/**
 * Appends the backward pass of scalar `loss` with respect to `wrt` and returns the gradient tensors in
 * the same order (a tensor that does not influence the loss gets zeros). The walk: every node in reverse
 * order whose output has a gradient and whose inputs a trainable tensor lies upstream of gets its rule
 * (SPARSE_VJP's when one applies, else VJP's), and each input's gradient is summed.
 */
export function gradients(b: GraphBuilder, loss: Tensor, wrt: Tensor[], o: GradientOptions = {}): Tensor[] {
  if (loss.shape.length !== 0 && !(loss.shape.length === 1 && loss.shape[0] === 1))
    throw new GraphError(`gradients: the loss must be a scalar, got ${loss}`);
  // Forward: which tensors have a trainable tensor upstream.
  const requires = new Set<Tensor>(wrt);
  const nodes = b.nodes.slice(); // the forward graph only: the backward nodes appended below are not walked
  for (const n of nodes) {
    if (NON_DIFFERENTIABLE.has(n.op)) continue;
    if (n.inputs.some((t) => t && requires.has(t))) for (const o of n.outputs) if (isFloat(o.dtype)) requires.add(o);
  }
  const grads = new Map<Tensor, Grad>([[loss, b.constant(1, loss.dtype, loss.shape as number[])]]);
  // Replayed in the backward: what the graph marks recomputable (dequantized frozen weights, SwiGLU's products),
  // attention and whole blocks on request (a block's replay covers what it holds).
  const replay = replayer(
    b,
    new Map([
      ...b.recomputable,
      ...(o.recomputeAttention ? attentionSegments(nodes) : []),
      ...(o.recomputeBlocks ? blockSegments(nodes, b.blocks, b.outputs) : []),
    ]),
  );
  // Backward: reverse topological order (the builder appends nodes in a valid order).
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    const y = n.outputs[0]!;
    const g = grads.get(y);
    if (!g || !n.inputs.some((t) => t && requires.has(t))) continue;
    const thunks = b.within(`grad/${y.name}`, () => {
      const sparse = SPARSE_VJP[n.op]?.(b, g, n.inputs, y, n);
      if (sparse) return sparse;
      const rule = VJP[n.op];
      if (!rule) throw new GraphError(`no gradient rule for ${n.op} (${y.name})`);
      const dense = densify(b, g);
      if (dense !== g) grads.set(y, dense);
      // A rule reads a node's further outputs (LayerNormalization's mean and 1 / std) from the node: replayed too.
      const outputs = n.outputs.map((o) => replay(o, dense)!);
      return rule(
        b,
        dense,
        n.inputs.map((x) => replay(x, dense)),
        outputs[0]!,
        outputs.length > 1 ? { ...n, outputs } : n,
      );
    });
    n.inputs.forEach((x, k) => {
      const thunk = thunks[k];
      if (!x || !thunk || !requires.has(x)) return;
      const gx = b.within(`grad/${y.name}`, thunk);
      const prev = grads.get(x);
      grads.set(x, prev ? sum(b, prev, gx) : gx);
    });
  }
  const out = wrt.map((w) => {
    const g = grads.get(w);
    return g ? densify(b, g) : b.zerosLike(w);
  });
  if (replay.replayed.size) dropUnread(b, nodes.length, out);
  return out;
}

/**
 * Segments recomputed in the backward (recompute.ts): each replayed once, on first use, tied to the gradient that
 * asked; the inputs a replay reads that are recomputed themselves (a block's dequantized weights) are replayed too.
 */
function replayer(b: GraphBuilder, segments: Map<Tensor, Segment>) {
  const replayed = new Map<Segment, Map<Tensor, Tensor>>();
  const replay = (t: Tensor | null, g: Tensor): Tensor | null => {
    const seg = t && segments.get(t);
    if (!seg) return t;
    let r = replayed.get(seg);
    if (!r) {
      r = b.within(`recompute/${seg.output.name}`, () => replaySegment(b, seg, g, (x) => replay(x, g)!));
      replayed.set(seg, r);
    }
    return r.get(t)!;
  };
  return Object.assign(replay, { replayed });
}

/** Removes backward nodes (those after the first `from`) whose outputs nothing reads: replays no rule used. */
function dropUnread(b: GraphBuilder, from: number, results: Tensor[]): void {
  for (;;) {
    const read = new Set<Tensor>([...b.outputs, ...results]);
    for (const n of b.nodes) for (const t of n.inputs) if (t) read.add(t);
    const keep = b.nodes.filter((n, i) => i < from || n.outputs.some((t) => read.has(t)));
    if (keep.length === b.nodes.length) return;
    b.nodes.splice(0, b.nodes.length, ...keep);
  }
}
