import type { GraphBuilder } from '../../graph/builder.js';
import type { Tensor } from '../../graph/ir.js';
import type { T5Config } from '../../models/config.js';
import type { KeyValue } from '../../models/layers.js';
import type { LlamaConfig } from '../../models/llama.js';
import { ChangelingError } from '../../util/errors.js';

/**
 * Hugging Face PEFT's prefix-tuning as PEFT 0.21 with transformers 5 actually runs it, so PEFT's adapters load
 * and behave exactly as there: one trainable embedding E [num_virtual_tokens, num_layers * 2 * token_dim].
 * - On T5 (its own mode, `--peft-prefix`): only the decoder's self-attention gets prefix keys and values (the
 *   encoder gets nothing, cross-attention is plain); decoder layer l uses entry (4l mod 2L) as keys and
 *   (4l + 1 mod 2L) as values, entry e being E[:, e*d_model:(e+1)*d_model] as [H, tokens, d_kv].
 *   (Changeling's own prefix-tuning, in every attention as Li and Liang define it, is a separate method.)
 * - On a causal LM (the Llama family: the only prefix form for it, Li and Liang's on a decoder): PEFT's
 *   past_key_values. token_dim is key/value heads x head size (grouped-query attention), layer l uses entry 2l
 *   as keys and 2l + 1 as values, as [KV heads, tokens, head size]; the entries are the cache as it is (no
 *   rotation), every row sees them, and the real tokens sit at positions P, P + 1, ... after them.
 */
export interface PeftPrefixConfig {
  numVirtualTokens: number;
  numLayers: number;
  tokenDim: number;
  numAttentionHeads: number;
}

export function parsePeftPrefixConfig(raw: Record<string, unknown>, where = 'adapter_config.json'): PeftPrefixConfig {
  if (raw.peft_type !== 'PREFIX_TUNING')
    throw new ChangelingError('io', `${where}: peft_type ${String(raw.peft_type)} is not PREFIX_TUNING`);
  if (raw.prefix_projection === true) throw new ChangelingError('io', `${where}: prefix_projection is not supported`);
  const n = (k: string) => {
    if (typeof raw[k] !== 'number') throw new ChangelingError('io', `${where}: "${k}" must be a number`);
    return raw[k] as number;
  };
  return {
    numVirtualTokens: n('num_virtual_tokens'),
    numLayers: n('num_layers'),
    tokenDim: n('token_dim'),
    numAttentionHeads: n('num_attention_heads'),
  };
}

/** adapter_config.json as PEFT writes it for prefix-tuning (no projection): T5's two submodules, a causal LM's one. */
export function peftPrefixConfigJson(p: PeftPrefixConfig, baseModel: string | null, taskType: string | null): Record<string, unknown> {
  return {
    peft_type: 'PREFIX_TUNING',
    task_type: taskType,
    base_model_name_or_path: baseModel,
    num_virtual_tokens: p.numVirtualTokens,
    num_layers: p.numLayers,
    token_dim: p.tokenDim,
    num_attention_heads: p.numAttentionHeads,
    num_transformer_submodules: taskType === 'CAUSAL_LM' ? 1 : 2,
    encoder_hidden_size: p.tokenDim,
    prefix_projection: false,
    inference_mode: true,
  };
}

/** The prompt_embeddings input and, per decoder layer, its prefix keys and values [1, H, tokens, d_kv]. */
export function peftT5Prefix(
  b: GraphBuilder,
  cfg: T5Config,
  p: PeftPrefixConfig,
): { embeddings: Tensor; layer: (i: number) => KeyValue; length: number } {
  const L = p.numLayers;
  const d = cfg.dModel;
  if (p.tokenDim !== d || p.numAttentionHeads !== cfg.numHeads)
    throw new ChangelingError(
      'usage',
      `the prefix adapter was made for d_model ${p.tokenDim} / ${p.numAttentionHeads} heads, the model has ${d} / ${cfg.numHeads}`,
    );
  const E = b.input('prompt_embeddings', 'float32', [p.numVirtualTokens, L * 2 * d]);
  const entry = (e: number) =>
    b.unsqueeze(
      b.transpose(b.reshape(b.slice(E, [e * d], [(e + 1) * d], [1]), [p.numVirtualTokens, cfg.numHeads, cfg.dKv]), [1, 0, 2]),
      [0],
    );
  return {
    embeddings: E,
    length: p.numVirtualTokens,
    layer: (i) => ({ key: entry((4 * i) % (2 * L)), value: entry((4 * i + 1) % (2 * L)) }),
  };
}

/** The PEFT prefix config a causal LM needs (what PEFT derives from the model's config). */
export function peftCausalPrefixConfig(c: LlamaConfig, numVirtualTokens: number): PeftPrefixConfig {
  return {
    numVirtualTokens,
    numLayers: c.numLayers,
    tokenDim: c.numKeyValueHeads * c.headDim,
    numAttentionHeads: c.numKeyValueHeads,
  };
}

/** Refuses an adapter made for another shape of model, naming both. */
export function checkPeftCausalPrefix(c: LlamaConfig, p: PeftPrefixConfig, where: string): void {
  const want = peftCausalPrefixConfig(c, p.numVirtualTokens);
  if (p.tokenDim !== want.tokenDim || p.numAttentionHeads !== want.numAttentionHeads || p.numLayers !== want.numLayers)
    throw new ChangelingError(
      'usage',
      `${where}: the prefix adapter was made for ${p.numLayers} layers of ${p.numAttentionHeads} key/value heads (token_dim ` +
        `${p.tokenDim}); this model has ${want.numLayers} layers of ${want.numAttentionHeads} (token_dim ${want.tokenDim})`,
    );
}

/** Entry e of E as [KV heads, P, head size]: the layout of a causal LM's prefix keys (e = 2l) and values (2l + 1). */
export function peftCausalEntry(E: Float32Array, p: PeftPrefixConfig, e: number): Float32Array {
  const P = p.numVirtualTokens;
  const KV = p.numAttentionHeads;
  const D = p.tokenDim / KV;
  const row = p.numLayers * 2 * p.tokenDim;
  const out = new Float32Array(KV * P * D);
  for (let t = 0; t < P; t++)
    for (let h = 0; h < KV; h++)
      out.set(E.subarray(t * row + e * p.tokenDim + h * D, t * row + e * p.tokenDim + (h + 1) * D), (h * P + t) * D);
  return out;
}

/** The prompt_embeddings input and, per layer, its prefix keys and values [1, KV heads, P, head size]. */
export function peftCausalPrefix(
  b: GraphBuilder,
  c: LlamaConfig,
  p: PeftPrefixConfig,
): { embeddings: Tensor; layer: (i: number) => KeyValue } {
  checkPeftCausalPrefix(c, p, 'prefix-tuning');
  const P = p.numVirtualTokens;
  const d = p.tokenDim;
  const E = b.input('prompt_embeddings', 'float32', [P, p.numLayers * 2 * d]);
  const entry = (e: number) =>
    b.unsqueeze(b.transpose(b.reshape(b.slice(E, [e * d], [(e + 1) * d], [1]), [P, c.numKeyValueHeads, c.headDim]), [1, 0, 2]), [0]);
  return { embeddings: E, layer: (i) => ({ key: entry(2 * i), value: entry(2 * i + 1) }) };
}
