import type { GraphBuilder } from '../graph/builder.js';
import type { Tensor } from '../graph/ir.js';
import { hfLinear, type KeyValue } from './layers.js';
import type { GraphWeights } from './weights.js';
import { llamaMlp, type LlamaConfig } from './llama.js';

/**
 * The Llama family's inference stack in onnxruntime's fused CPU operators; the composed `llamaStack` stays for
 * training, probing, PEFT prefixes and other providers, and both compute the same logits (within 1e-5, tested).
 *
 * - com.microsoft `GroupQueryAttention`: grouped keys read as they are, rotary positions applied inside (the cos and
 *   sin tables below), causal attention over the cache and the new tokens. The cache is one buffer per layer,
 *   [batch, kvHeads, capacity, headDim], an input only: the graph returns just the new tokens' keys and values
 *   (gathered from GroupQueryAttention's present at `newSlots`), which the runner writes into its buffers.
 *   onnxruntime-node copies every output it returns into a fresh buffer, so returning the whole cache, even bound
 *   in place, cost a copy of it per token. Rows are right-padded: row b's tokens fill slots 0..seqlens_k[b] and its
 *   next token goes after them, so rows of different lengths share a batch and the positions count from each row's
 *   first token, as transformers' generate() counts them for left-padded rows.
 * - com.microsoft `SkipSimplifiedLayerNormalization`: each residual add and the RMS norm after it in one pass.
 *
 * Its constraints (onnxruntime's): a head size that is a multiple of 16 (rotary inside), and a prompt that follows a
 * cache only in a batch of one (the runner's prompt cache; a PEFT prefix, which precedes every row, uses the composed
 * stack).
 */
export interface FusedLlamaInputs {
  /** [batch, new] int64, right-padded. */
  inputIds: Tensor;
  /** [batch] int32: each row's tokens in the cache after this run, minus one. */
  seqlensK: Tensor;
  /** [] int32: the longest row's tokens after this run. */
  totalLength: Tensor;
  /** Per layer, [batch, kvHeads, capacity, headDim]: the cache buffers. */
  cache: KeyValue[];
  /** [batch, new] int64: the cache slot of each new token (row b's next free slots). */
  newSlots: Tensor;
}

/** The rotary tables cover this many positions at most (a prompt and its answer longer than this use the composed stack). */
export const FUSED_MAX_POSITIONS = 32768;

/** Whether onnxruntime's fused attention takes this configuration. */
export function fusedLlamaSupported(c: LlamaConfig): boolean {
  return c.headDim % 16 === 0;
}

/** How many positions the fused graph's rotary tables hold. */
export function fusedPositions(c: LlamaConfig): number {
  return Math.min(c.maxPositionEmbeddings, FUSED_MAX_POSITIONS);
}

/**
 * cos and sin of position x inverse frequency, [positions, headDim / 2], in float32 as transformers computes them
 * (the angle rounded to float32 first; its attention scaling is 1 for the rope types parsed).
 */
export function rotaryTables(c: LlamaConfig, positions: number): { cos: Float32Array; sin: Float32Array } {
  const half = c.headDim / 2;
  const cos = new Float32Array(positions * half);
  const sin = new Float32Array(positions * half);
  for (let p = 0; p < positions; p++)
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(p * c.invFreq[i]!);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  return { cos, sin };
}

/**
 * The decoder stack on new tokens: the last hidden states [batch, new, hidden] (final norm applied) and the new tokens'
 * keys and values per layer, [batch, kvHeads, new, headDim].
 */
export function fusedLlamaStack(
  b: GraphBuilder,
  c: LlamaConfig,
  w: GraphWeights,
  x: FusedLlamaInputs,
): { hidden: Tensor; newKeys: KeyValue[] } {
  const H = c.numHeads;
  const KV = c.numKeyValueHeads;
  const D = c.headDim;
  const positions = fusedPositions(c);
  const tables = rotaryTables(c, positions);
  const cos = b.initializer('rotary_cos', 'float32', [positions, D / 2], tables.cos);
  const sin = b.initializer('rotary_sin', 'float32', [positions, D / 2], tables.sin);
  const ms = (t: Tensor) => {
    t.producer!.domain = 'com.microsoft';
  };
  /** (normed, sum): RMS norm of input + skip, and the sum itself (the residual stream). */
  const skipNorm = (input: Tensor, skip: Tensor, weight: string): [Tensor, Tensor] => {
    const shape = { dtype: input.dtype, shape: input.shape };
    const stat = { dtype: input.dtype, shape: [...input.shape.slice(0, -1), 1] };
    const [y, , , sum] = b.node('SkipSimplifiedLayerNormalization', [input, skip, w.get(weight)], [shape, stat, stat, shape], {
      epsilon: { float: c.rmsNormEps },
    });
    ms(y!);
    return [y!, sum!];
  };
  const embedded = b.gather(w.get('model.embed_tokens.weight'), x.inputIds);
  const [first] = b.node('SimplifiedLayerNormalization', [embedded, w.get('model.layers.0.input_layernorm.weight')], [embedded], {
    axis: -1,
    epsilon: { float: c.rmsNormEps },
    stash_type: 1,
  });
  let a = first!;
  let residual = embedded;
  // Where each new token's key sits in a layer's present, [batch, kvHeads, new, headDim] for GatherElements.
  const dims = b.shapeOf(x.inputIds);
  const slotShape = b.concat(
    [b.slice(dims, [0], [1], [0]), b.constant([KV], 'int64', [1]), b.slice(dims, [1], [2], [0]), b.constant([D], 'int64', [1])],
    0,
  );
  const slots = b.expand(b.unsqueeze(x.newSlots, [1, 3]), slotShape, [x.inputIds.shape[0]!, KV, x.inputIds.shape[1]!, D]);
  const newKeys: KeyValue[] = [];
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}`;
    const cache = x.cache[i]!;
    const q = hfLinear(b, w, a, `${p}.self_attn.q_proj`, c.qkvBias);
    const k = hfLinear(b, w, a, `${p}.self_attn.k_proj`, c.qkvBias);
    const v = hfLinear(b, w, a, `${p}.self_attn.v_proj`, c.qkvBias);
    const kvShape = { dtype: cache.key.dtype, shape: cache.key.shape };
    const [ctx, key, value] = b.node(
      'GroupQueryAttention',
      [q, k, v, cache.key, cache.value, x.seqlensK, x.totalLength, cos, sin],
      [{ dtype: q.dtype, shape: q.shape }, kvShape, kvShape],
      { num_heads: H, kv_num_heads: KV, do_rotary: 1, rotary_interleaved: 0, scale: { float: D ** -0.5 } },
    );
    ms(ctx!);
    newKeys.push({ key: b.gatherElements(key!, slots, 2), value: b.gatherElements(value!, slots, 2) });
    const attn = hfLinear(b, w, ctx!, `${p}.self_attn.o_proj`, c.oBias);
    const [m, r] = skipNorm(attn, residual, `${p}.post_attention_layernorm.weight`);
    const mlp = llamaMlp(b, c, w, p, m);
    const next = i + 1 < c.numLayers ? `model.layers.${i + 1}.input_layernorm.weight` : 'model.norm.weight';
    [a, residual] = skipNorm(mlp, r, next);
  }
  return { hidden: a, newKeys };
}
