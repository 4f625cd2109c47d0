import type { GraphBuilder } from './builder.js';
import { type Dim, type Node, type Tensor } from './ir.js';

/**
 * Recomputing attention probabilities in the backward pass (activation checkpointing of one segment).
 *
 * A training step that keeps every attention's probabilities [batch, heads, q, k] from the forward pass
 * for the backward holds one such tensor per attention for the whole step (for CodeBERT-base at 8 x 512
 * tokens, [8, 12, 512, 512] floats per layer). Replayed instead, the backward of each attention computes
 * its probabilities again from the queries and keys it needs anyway (one score product, the bias, a softmax),
 * and the forward's copy is freed as soon as the forward has used it. The results are the same to the bit:
 * the same ops on the same values.
 *
 * Segments are found by shape, as prefix-tuning finds attentions (a rank-4 Softmax over MatMul [+ Add]),
 * so every architecture and every graph rewrite gets them.
 */
export interface Segment {
  /** What the forward computed and the backward computes again: an attention's probabilities, a dequantized weight. */
  output: Tensor;
  /** The nodes that compute it, in forward order (an attention: the score MatMul, the bias Adds, the Softmax). */
  nodes: Node[];
}

/** The attention segments of a forward graph, by their probabilities tensor. */
export function attentionSegments(nodes: readonly Node[]): Map<Tensor, Segment> {
  const consumers = new Map<Tensor, number>();
  for (const n of nodes) for (const t of n.inputs) if (t) consumers.set(t, (consumers.get(t) ?? 0) + 1);
  const out = new Map<Tensor, Segment>();
  for (const sm of nodes) {
    if (sm.op !== 'Softmax' || sm.outputs[0]!.rank !== 4) continue;
    const chain: Node[] = [sm];
    let t = sm.inputs[0]!;
    // Bias additions between the score product and the softmax, each read only by the next step.
    while (t.producer?.op === 'Add' && consumers.get(t) === 1) {
      const add = t.producer;
      chain.push(add);
      const next =
        add.inputs.find((x) => x?.producer?.op === 'MatMul' && x.rank === 4) ??
        add.inputs.find((x) => x?.producer?.op === 'Add' && x.rank === 4);
      if (!next) break;
      t = next;
    }
    const mm = t.producer;
    if (mm?.op !== 'MatMul' || consumers.get(t) !== 1) continue;
    chain.push(mm);
    out.set(sm.outputs[0]!, { output: sm.outputs[0]!, nodes: chain.reverse() });
  }
  return out;
}

/**
 * The segment's nodes again, appended to the graph, reading the forward's queries and keys. `after` is a
 * tensor of the backward pass (the gradient arriving at the attention): the replay reads one element of it,
 * times zero, so that onnxruntime schedules the replay in the backward of that attention, not beside the
 * forward (where its result would be as long-lived as the forward's), and its common-subexpression pass
 * cannot merge the replay back into the forward. The element is added to the score product's smaller input
 * ([batch, heads, q, d] for self-attention, an eighth of the probabilities at 512 tokens).
 */
export function replaySegment(b: GraphBuilder, seg: Segment, after: Tensor): Tensor {
  const map = new Map<Tensor, Tensor>();
  const [first, ...rest] = seg.nodes;
  // The tie goes on the first node's smallest float input (an attention's queries, a dequantized weight's scales).
  const floats = first!.inputs.filter((x): x is Tensor => !!x && (x.dtype === 'float32' || x.dtype === 'float64'));
  const tied = floats.reduce((a, x) => (weight(x.shape) < weight(a.shape) ? x : a));
  const zero = b.mul(b.slice(b.reshape(after, [-1]), [0], [1], [0]), 0);
  const tie = (x: Tensor) => b.add(x, x.dtype === zero.dtype ? zero : b.cast(zero, x.dtype));
  let y = copyNode(
    b,
    first!,
    first!.inputs.map((x) => (x === tied ? tie(x) : x)),
    map,
  );
  for (const n of rest)
    y = copyNode(
      b,
      n,
      n.inputs.map((x) => (x ? (map.get(x) ?? x) : x)),
      map,
    );
  return y;
}

function copyNode(b: GraphBuilder, n: Node, inputs: Array<Tensor | null>, map: Map<Tensor, Tensor>): Tensor {
  const outs = b.node(
    n.op,
    inputs,
    n.outputs.map((o) => ({ dtype: o.dtype, shape: o.shape })),
    n.attrs,
  );
  if (n.domain) outs[0]!.producer!.domain = n.domain;
  n.outputs.forEach((o, i) => map.set(o, outs[i]!));
  return outs[0]!;
}

/** A tensor's size for choosing: symbolic dimensions first (each counts as large), then the static product. */
function weight(shape: readonly Dim[]): number {
  let symbolic = 0;
  let n = 1;
  for (const d of shape) {
    if (typeof d === 'number') n *= d;
    else symbolic++;
  }
  return symbolic * 1e12 + n;
}

/**
 * Bytes that the forward's attention probabilities would keep alive through a step, with the symbolic
 * dimensions given (`batch`, `src`, `tgt`; an unknown name counts as the largest given length).
 */
export function storedAttentionBytes(nodes: readonly Node[], dims: Record<string, number>): number {
  const longest = Math.max(
    1,
    ...Object.entries(dims)
      .filter(([k]) => k !== 'batch')
      .map(([, v]) => v),
  );
  let total = 0;
  for (const seg of attentionSegments(nodes).values()) {
    total += seg.output.shape.reduce<number>((n, d) => n * (typeof d === 'number' ? d : (dims[d] ?? longest)), 4);
  }
  return total;
}

/**
 * Marks a chain of cheap elementwise results (each computed from the previous and from tensors kept anyway) as
 * recomputable: the backward computes each again from the chain's start instead of the forward keeping them. For
 * SwiGLU's silu(gate) * up that is three [tokens, intermediate] tensors a layer not kept (about 120 MB a layer of
 * Qwen2.5-Coder-0.5B at 2,048 tokens) for three elementwise ops.
 */
export function recomputeChain(b: GraphBuilder, chain: Tensor[]): void {
  const nodes = chain.map((t) => t.producer!);
  chain.forEach((t, i) => b.recomputable.set(t, { output: t, nodes: nodes.slice(0, i + 1) }));
}
