import { freemem } from 'node:os';
import type { GraphBuilder } from '../graph/builder.js';
import { storedAttentionBytes } from '../graph/recompute.js';
import { parseChoice } from '../util/text.js';

/**
 * `attention`: recompute attention probabilities in the backward; `blocks`: keep only each transformer block's input
 * and run the block's forward again in its backward (least activation memory, one more forward of the tuned
 * blocks); `lean`: attention recomputed and no memory arena either; `none`: keep everything; `auto`: blocks when
 * memory is short (decideRecompute).
 */
export const RECOMPUTE_MODES = ['auto', 'blocks', 'attention', 'lean', 'none'] as const;
export type RecomputeMode = (typeof RECOMPUTE_MODES)[number];

export function parseRecomputeMode(v: string | undefined): RecomputeMode | undefined {
  return v === undefined ? undefined : parseChoice(v, RECOMPUTE_MODES, '--recompute');
}

export interface RecomputeDecision {
  /** Attention probabilities recomputed. */
  recompute: boolean;
  /** Whole blocks recomputed from their inputs. */
  blocks: boolean;
  /** Without onnxruntime's memory arena as well. */
  lean: boolean;
  /** What the forward's attention probabilities would hold through a step at the longest batch. */
  attentionBytes: number;
}

/**
 * What a train step recomputes in the backward. `auto` recomputes whole blocks when the attention probabilities a
 * step would keep take more than an eighth of the memory free now: they are one part of a step's activations (the
 * others together are several times more), so an eighth already means the step risks swapping. Blocks, not `lean`:
 * measured on 2 cores (docs/performance.md), whole blocks took LoRA on CodeBERT-base at 8 x 512 to 0.63x the
 * memory of keeping everything at 0.72x the speed (lean: 0.80x at 0.70x), CodeT5-small's to 0.90x at 0.77x (lean:
 * 1.05x at 0.79x), and the 0.5B code LLM with every token labelled to 0.86x the memory of recomputing attention
 * alone at 0.89x its speed. The gradients are the same.
 */
export function decideRecompute(
  mode: RecomputeMode | undefined,
  b: GraphBuilder,
  dims: Record<string, number>,
  free = freemem(),
): RecomputeDecision {
  const attentionBytes = storedAttentionBytes(b.nodes, dims);
  const m = mode ?? 'auto';
  const lean = m === 'lean';
  const blocks = m === 'blocks' || (m === 'auto' && b.blocks.length > 0 && attentionBytes > free / 8);
  return { recompute: lean || m === 'attention', blocks, lean, attentionBytes };
}
