import { FEATURE_COUNT } from '../git/expertFeatures.js';
import type { GraphBuilder } from '../graph/builder.js';
import type { Tensor } from '../graph/ir.js';
import type { GraphWeights, WeightMap } from './weights.js';
import { hfLinear } from './layers.js';

/**
 * JIT-Fine's classification head (jacknichao/JIT-Fine, concat model): the first token's state and the
 * expert features' branch tanh(W_e x_e + b_e), concatenated (semantic first) -> dropout -> one logit.
 * Weight names as JIT-Fine's: classifier.manual_dense.*, classifier.out_proj_new.*.
 */
export function jitFineHead(
  b: GraphBuilder,
  w: GraphWeights,
  lastHidden: Tensor,
  features: Tensor,
  o: { dropout?: number; seed?: Tensor | null } = {},
): Tensor {
  const first = b.squeeze(b.slice(lastHidden, [0], [1], [1]), [1]);
  const linear = (x: Tensor, name: string) => hfLinear(b, w, x, name);
  const expert = b.tanh(linear(features, 'classifier.manual_dense'));
  const z = b.dropout(b.concat([first, expert], 1), o.dropout ?? 0, o.seed ?? null);
  return linear(z, 'classifier.out_proj_new');
}

/** A fresh JIT-Fine head (nn.Linear's default uniform init) added to `weights` when it has none; says whether it did. */
export function initJitFineHead(weights: WeightMap, hidden: number, rand: () => number): boolean {
  if (weights.has('classifier.manual_dense.weight')) return false;
  const u = (n: number, fan: number) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) / Math.sqrt(fan));
  weights.set('classifier.manual_dense.weight', { shape: [hidden, FEATURE_COUNT], data: u(hidden * FEATURE_COUNT, FEATURE_COUNT) });
  weights.set('classifier.manual_dense.bias', { shape: [hidden], data: u(hidden, FEATURE_COUNT) });
  weights.set('classifier.out_proj_new.weight', { shape: [1, 2 * hidden], data: u(2 * hidden, 2 * hidden) });
  weights.set('classifier.out_proj_new.bias', { shape: [1], data: u(1, 2 * hidden) });
  return true;
}

export const isJitFineHead = (name: string) => name.startsWith('classifier.manual_dense') || name.startsWith('classifier.out_proj_new');
