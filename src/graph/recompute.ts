import type { Block, GraphBuilder } from './builder.js';
import { reachedFrom, type Dim, type Node, type Tensor } from './ir.js';

/**
 * Recomputing in the backward pass what the forward computed (activation checkpointing): a segment of the forward
 * (attention probabilities, a dequantized weight, SwiGLU's elementwise chain, a whole transformer block) is run again
 * where the backward needs it, instead of being kept through the step.
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
  /** The input the replay is tied to the backward through (see replaySegment); a block's input. */
  tie?: Tensor;
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
 * The segment's nodes again, appended to the graph, reading the forward's inputs (through `external`, which replays
 * an input that is itself recomputed, such as a dequantized weight read by a replayed block); returns each forward
 * tensor of the segment with its replayed twin. `after` is a tensor of the backward pass (the gradient arriving at
 * the segment): the replay reads one element of it, times zero, so that onnxruntime schedules the replay in the
 * backward of that segment, not beside the forward (where its result would be as long-lived as the forward's), and
 * its common-subexpression pass cannot merge the replay back into the forward. The element is added to the tied
 * input (`seg.tie`: a block's input; by default the first node's smallest float input, for an attention its
 * queries, [batch, heads, q, d], an eighth of the probabilities at 512 tokens), and every node of the segment
 * reads the tied copy. Adding zero changes no value, so the replay computes the forward's values to the bit.
 */
export function replaySegment(
  b: GraphBuilder,
  seg: Segment,
  after: Tensor,
  external: (t: Tensor) => Tensor = (t) => t,
): Map<Tensor, Tensor> {
  const map = new Map<Tensor, Tensor>();
  const first = seg.nodes[0]!;
  const floats = first.inputs.filter((x): x is Tensor => !!x && (x.dtype === 'float32' || x.dtype === 'float64'));
  const tied = seg.tie ?? floats.reduce((a, x) => (weight(x.shape) < weight(a.shape) ? x : a));
  const zero = b.mul(b.slice(b.reshape(after, [-1]), [0], [1], [0]), 0);
  const source = external(tied);
  map.set(tied, b.add(source, source.dtype === zero.dtype ? zero : b.cast(zero, source.dtype)));
  for (const n of seg.nodes)
    copyNode(
      b,
      n,
      n.inputs.map((x) => (x ? (map.get(x) ?? external(x)) : x)),
      map,
    );
  map.delete(tied);
  return map;
}

function copyNode(b: GraphBuilder, n: Node, inputs: Array<Tensor | null>, map: Map<Tensor, Tensor>): void {
  const outs = b.node(
    n.op,
    inputs,
    n.outputs.map((o) => ({ dtype: o.dtype, shape: o.shape })),
    n.attrs,
  );
  if (n.domain) outs[0]!.producer!.domain = n.domain;
  n.outputs.forEach((o, i) => map.set(o, outs[i]!));
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
 * Qwen2.5-Coder-0.5B at 2,048 tokens) for three elementwise ops, replayed once together.
 */
export function recomputeChain(b: GraphBuilder, chain: Tensor[]): void {
  const seg = { output: chain[chain.length - 1]!, nodes: chain.map((t) => t.producer!) };
  for (const t of chain) b.recomputable.set(t, seg);
}

/**
 * Whole-block recompute (activation checkpointing by transformer block): only each block's input is kept through
 * the step, and the backward of a block first runs the block's forward again from it (tied to the gradient arriving
 * at the block), so a step holds the activations of one block at a time instead of every tuned block's: the
 * gradients are the same to the bit, for one more forward of the tuned blocks. A block's nodes are those between its
 * input and its output (descendants of the one, ancestors of the other), so LoRA, adapters and prefixes injected
 * into it are replayed with it; a tensor a node outside the block reads (a bias the next blocks share, an attention
 * map the model outputs) is kept, not recomputed.
 */
export function blockSegments(nodes: readonly Node[], blocks: readonly Block[], outputs: readonly Tensor[]): Map<Tensor, Segment> {
  const out = new Map<Tensor, Segment>();
  for (const blk of blocks) {
    const below = reachedFrom(nodes, [blk.input]);
    const above = new Set<Tensor>([blk.output]);
    for (let i = nodes.length - 1; i >= 0; i--) {
      const n = nodes[i]!;
      if (n.outputs.some((o) => above.has(o))) for (const t of n.inputs) if (t) above.add(t);
    }
    const members = nodes.filter((n) => n.outputs.some((o) => o !== blk.input && below.has(o) && above.has(o)));
    if (!members.length) continue;
    const inside = new Set(members);
    const readOutside = new Set<Tensor>(outputs);
    for (const n of nodes) if (!inside.has(n)) for (const t of n.inputs) if (t) readOutside.add(t);
    const seg: Segment = { output: blk.output, nodes: members, tie: blk.input };
    for (const n of members) for (const o of n.outputs) if (o !== blk.output && !readOutside.has(o)) out.set(o, seg);
  }
  return out;
}
