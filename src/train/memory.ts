import { freemem } from 'node:os';
import type { GraphBuilder } from '../graph/builder.js';
import { storedAttentionBytes } from '../graph/recompute.js';
import { ChangelingError } from '../util/errors.js';

/** `attention`: always recompute attention probabilities in the backward (memory-lean); `none`: keep them; `auto`: when memory is short. */
export type RecomputeMode = 'auto' | 'attention' | 'none';

export function parseRecomputeMode(v: string | undefined): RecomputeMode | undefined {
  if (v === undefined) return undefined;
  if (v !== 'auto' && v !== 'attention' && v !== 'none')
    throw new ChangelingError('usage', `--recompute must be auto, attention or none, not "${v}"`);
  return v;
}

export interface RecomputeDecision {
  recompute: boolean;
  /** What the forward's attention probabilities would hold through a step at the longest batch. */
  attentionBytes: number;
}

/**
 * Whether a train step runs memory-lean: attention probabilities recomputed in the backward, and tensors
 * allocated without onnxruntime's arena (whose fragmentation otherwise grows back to the same peak from the
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
  return { recompute: m === 'attention' || (m === 'auto' && attentionBytes > free / 8), attentionBytes };
}
