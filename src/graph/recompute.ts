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
export interface AttentionSegment {
  /** The forward's probabilities. */
  probs: Tensor;
  /** The score MatMul, the bias Adds, the Softmax: forward order. */
  nodes: Node[];
}

/** The attention segments of a forward graph, by their probabilities tensor. */
export function attentionSegments(nodes: readonly Node[]): Map<Tensor, AttentionSegment> {
  const consumers = new Map<Tensor, number>();
  for (const n of nodes) for (const t of n.inputs) if (t) consumers.set(t, (consumers.get(t) ?? 0) + 1);
  const out = new Map<Tensor, AttentionSegment>();
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
    out.set(sm.outputs[0]!, { probs: sm.outputs[0]!, nodes: chain.reverse() });
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
export function replaySegment(b: GraphBuilder, seg: AttentionSegment, after: Tensor): Tensor {
  const map = new Map<Tensor, Tensor>();
  const [mm, ...rest] = seg.nodes;
  const [p, q] = mm!.inputs as [Tensor, Tensor];
  const tieFirst = weight(p.shape) <= weight(q.shape);
  const zero = b.mul(b.slice(b.reshape(after, [-1]), [0], [1], [0]), 0);
  const tie = (x: Tensor) => b.add(x, x.dtype === zero.dtype ? zero : b.cast(zero, x.dtype));
  const inputs = tieFirst ? [tie(p), q] : [p, tie(q)];
  let y = copyNode(b, mm!, inputs, map);
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
    total += seg.probs.shape.reduce<number>((n, d) => n * (typeof d === 'number' ? d : (dims[d] ?? longest)), 4);
  }
  return total;
}
