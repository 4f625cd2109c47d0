import type { GraphBuilder } from '../graph/builder.js';
import type { Tensor } from '../graph/ir.js';
import type { GraphWeights } from './weights.js';
import { hfLinear } from './layers.js';

/**
 * JIT-Fine's classification head (jacknichao/JIT-Fine, concat model): the first token's state and the
 * expert features' branch tanh(W_e x_e + b_e), concatenated (semantic first) -> dropout -> one logit.
 * Weight names as JIT-Fine's: classifier.manual_dense.*, classifier.out_proj_new.*.
 */
export function jitFineHead(b: GraphBuilder, w: GraphWeights, lastHidden: Tensor, features: Tensor, o: { dropout?: number; seed?: Tensor | null } = {}): Tensor {
  const first = b.squeeze(b.slice(lastHidden, [0], [1], [1]), [1]);
  const linear = (x: Tensor, name: string) => hfLinear(b, w, x, name);
  const expert = b.tanh(linear(features, 'classifier.manual_dense'));
  const z = b.dropout(b.concat([first, expert], 1), o.dropout ?? 0, o.seed ?? null);
  return linear(z, 'classifier.out_proj_new');
}
