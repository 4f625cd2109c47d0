import { freemem } from 'node:os';
import type { GraphBuilder } from '../graph/builder.js';
import { storedAttentionBytes } from '../graph/recompute.js';
import { ChangelingError } from '../util/errors.js';

/**
 * `attention`: recompute attention probabilities in the backward; `lean`: that, and no memory arena either (least
 * memory, a slower step); `none`: keep them; `auto`: lean when memory is short.
 */
export type RecomputeMode = 'auto' | 'attention' | 'lean' | 'none';

export function parseRecomputeMode(v: string | undefined): RecomputeMode | undefined {
  if (v === undefined) return undefined;
  if (v !== 'auto' && v !== 'attention' && v !== 'lean' && v !== 'none')
    throw new ChangelingError('usage', `--recompute must be auto, attention, lean or none, not "${v}"`);
  return v;
}

export interface RecomputeDecision {
  recompute: boolean;
  /** Without onnxruntime's memory arena as well. */
  lean: boolean;
  /** What the forward's attention probabilities would hold through a step at the longest batch. */
  attentionBytes: number;
}

/**
 * Whether a train step recomputes attention probabilities in the backward (`attention`), or runs memory-lean: that,
 * and tensors allocated without onnxruntime's arena (whose fragmentation otherwise grows back to the same peak from the
 * second step on; see session.ts): less memory, a slower step (docs/performance.md). `auto` goes lean when
 * the probabilities a step would keep take more than an eighth of the memory free now: they are one part of a
 * step's activations (the others together are several times more), so an eighth already means the step
 * risks swapping. The gradients are the same.
 */
export function decideRecompute(
  mode: RecomputeMode | undefined,
  b: GraphBuilder,
  dims: Record<string, number>,
  free = freemem(),
): RecomputeDecision {
  const attentionBytes = storedAttentionBytes(b.nodes, dims);
  const m = mode ?? 'auto';
  const lean = m === 'lean' || (m === 'auto' && attentionBytes > free / 8);
  return { recompute: lean || m === 'attention', lean, attentionBytes };
}
