import type { GraphBuilder } from '../graph/builder.js';
import type { Tensor } from '../graph/ir.js';
import type { GraphWeights } from './weights.js';

/**
 * Pieces the three architectures share, written once. The masks are additive biases with float32's
 * minimum where attention is not allowed, as transformers builds them; `hfLinear` keeps the
 * MatMul(x, Transpose(W)) shape that the LoRA and adapter transforms look for.
 */
/** One attention layer's keys and values (a cache entry, or cross-attention's). */
export interface KeyValue {
  key: Tensor;
  value: Tensor;
}

const F32_MIN = -3.4028234663852886e38;

/** [batch, 1, 1, keys] bias from a 0/1 attention mask [batch, keys]. */
export function paddingBias(b: GraphBuilder, mask: Tensor): Tensor {
  return b.mul(b.rsub(1, b.cast(b.unsqueeze(mask, [1, 2]), 'float32')), F32_MIN);
}

/** [queries, keys] bias that hides keys after each query's position (positions as int64 vectors). */
export function causalBias(b: GraphBuilder, queryPositions: Tensor, keyPositions: Tensor): Tensor {
  return b.mul(b.cast(b.less(b.unsqueeze(queryPositions, [1]), b.unsqueeze(keyPositions, [0])), 'float32'), F32_MIN);
}

/** x W^T (+ bias) with a Hugging Face [out, in] weight `<name>.weight` and, when asked, `<name>.bias`. */
export function hfLinear(b: GraphBuilder, w: GraphWeights, x: Tensor, name: string, bias = true): Tensor {
  const y = b.matmul(x, b.transpose(w.get(`${name}.weight`), [1, 0]));
  return bias ? b.add(y, w.get(`${name}.bias`)) : y;
}
