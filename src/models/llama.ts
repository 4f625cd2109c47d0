import type { GraphBuilder } from '../graph/builder.js';
import type { Tensor } from '../graph/ir.js';
import { ChangelingError } from '../util/errors.js';
import { hfLinear, type KeyValue } from './layers.js';
import type { GraphWeights } from './weights.js';
import type { ShapeRule } from './expectedShapes.js';
import { recomputeChain } from '../graph/recompute.js';

/**
 * The Llama family of decoder-only models, as transformers' LlamaForCausalLM and Qwen2ForCausalLM compute
 * them (Qwen2.5-Coder, Llama 3.x, SmolLM2): RMS norms before attention and MLP, rotary positions (default or
 * llama3-scaled frequencies), grouped-query attention (any number of key/value heads, one included), SwiGLU,
 * q/k/v bias (Qwen2 always, Llama when `attention_bias`), a tied or separate head. Weights keep HF's names.
 */
export interface LlamaConfig {
  modelType: 'llama' | 'qwen2';
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  rmsNormEps: number;
  /** The rotary inverse frequencies, [headDim / 2], in float32 as transformers computes them. */
  invFreq: Float32Array;
  maxPositionEmbeddings: number;
  /** q, k and v projections have a bias (Qwen2; Llama with attention_bias). */
  qkvBias: boolean;
  /** The output projection has a bias (Llama with attention_bias). */
  oBias: boolean;
  mlpBias: boolean;
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  eosTokenIds: number[];
  padTokenId: number | null;
}

type Raw = Record<string, unknown>;

const int = (raw: Raw, key: string, where: string, fallback?: number): number => {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 1e7)
    throw new ChangelingError('io', `${where}: ${key} must be a whole number from 1 to 10000000 (it is ${JSON.stringify(v)})`);
  return v;
};
const positive = (raw: Raw, key: string, where: string, fallback?: number): number => {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    throw new ChangelingError('io', `${where}: ${key} must be a positive number (it is ${JSON.stringify(v)})`);
  return v;
};
const flag = (raw: Raw, key: string, where: string, fallback: boolean): boolean => {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'boolean') throw new ChangelingError('io', `${where}: ${key} must be true or false (it is ${JSON.stringify(v)})`);
  return v;
};
/** A token id, a list of them, or nothing. */
const ids = (v: unknown, key: string, where: string, vocab: number): number[] => {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  for (const x of list)
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x >= vocab)
      throw new ChangelingError('io', `${where}: ${key} must be token ids from 0 to ${vocab - 1} (it is ${JSON.stringify(v)})`);
  return list as number[];
};

/**
 * The rotary frequencies: transformers' default rule, or its llama3 and linear scalings, computed in float32
 * step by step as PyTorch does. Read from `rope_parameters` (transformers 5) or `rope_theta` + `rope_scaling`
 * (transformers 4).
 */
export function ropeInvFreq(raw: Raw, headDim: number, where: string): Float32Array {
  const params = (raw.rope_parameters ?? raw.rope_scaling ?? {}) as Raw;
  if (typeof params !== 'object' || params === null) throw new ChangelingError('io', `${where}: rope_parameters must be an object`);
  const type = String(params.rope_type ?? params.type ?? 'default');
  const theta = positive({ rope_theta: params.rope_theta ?? raw.rope_theta }, 'rope_theta', where, 10000);
  const partial = (params.partial_rotary_factor ?? raw.partial_rotary_factor ?? 1) as number;
  if (partial !== 1) throw new ChangelingError('usage', `${where}: partial_rotary_factor ${JSON.stringify(partial)} is not supported (1)`);
  const f = Math.fround;
  const half = headDim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) inv[i] = f(1 / f(Math.pow(theta, f((2 * i) / headDim))));
  if (type === 'default') return inv;
  const factor = positive(params, 'factor', where);
  if (type === 'linear') return inv.map((x) => f(x / factor));
  if (type !== 'llama3') throw new ChangelingError('usage', `${where}: rope type "${type}" is not supported (default, linear, llama3)`);
  const low = positive(params, 'low_freq_factor', where);
  const high = positive(params, 'high_freq_factor', where);
  const old = positive(params, 'original_max_position_embeddings', where);
  const lowWavelen = f(old / low);
  const highWavelen = f(old / high);
  return inv.map((x) => {
    const wavelen = f(f(2 * Math.PI) / x);
    const scaled = wavelen > lowWavelen ? f(x / factor) : x;
    if (wavelen < highWavelen || wavelen > lowWavelen) return scaled;
    const smooth = f(f(f(old / wavelen) - low) / f(high - low));
    return f(f(f(f(1 - smooth) * scaled) / factor) + f(smooth * scaled));
  });
}

export function parseLlamaConfig(raw: Raw, where = 'config.json'): LlamaConfig {
  const modelType = raw.model_type === 'qwen2' ? 'qwen2' : 'llama';
  const act = raw.hidden_act ?? 'silu';
  if (act !== 'silu') throw new ChangelingError('usage', `${where}: hidden_act "${String(act)}" is not supported (silu)`);
  const hiddenSize = int(raw, 'hidden_size', where);
  const numHeads = int(raw, 'num_attention_heads', where);
  const numKeyValueHeads = int(raw, 'num_key_value_heads', where, numHeads);
  if (numHeads % numKeyValueHeads !== 0)
    throw new ChangelingError(
      'io',
      `${where}: num_attention_heads (${numHeads}) is not a multiple of num_key_value_heads (${numKeyValueHeads})`,
    );
  const headDim = raw.head_dim == null ? hiddenSize / numHeads : int(raw, 'head_dim', where);
  if (!Number.isInteger(headDim) || headDim % 2 !== 0)
    throw new ChangelingError('io', `${where}: the head size (${headDim}) must be an even whole number`);
  const numLayers = int(raw, 'num_hidden_layers', where);
  // Sliding-window attention (Qwen2 with use_sliding_window) is not what these checkpoints run with.
  const layerTypes = raw.layer_types as unknown;
  if (
    (modelType === 'qwen2' && raw.use_sliding_window === true) ||
    (Array.isArray(layerTypes) && layerTypes.some((t) => t !== 'full_attention'))
  )
    throw new ChangelingError('usage', `${where}: sliding-window attention is not supported`);
  const vocabSize = int(raw, 'vocab_size', where);
  const attentionBias = flag(raw, 'attention_bias', where, false);
  const pad = ids(raw.pad_token_id, 'pad_token_id', where, vocabSize);
  const bos = ids(raw.bos_token_id, 'bos_token_id', where, vocabSize);
  const eps = positive(raw, 'rms_norm_eps', where, 1e-6);
  if (eps >= 1) throw new ChangelingError('io', `${where}: rms_norm_eps must be a small positive number (it is ${eps})`);
  return {
    modelType,
    vocabSize,
    hiddenSize,
    intermediateSize: int(raw, 'intermediate_size', where),
    numLayers,
    numHeads,
    numKeyValueHeads,
    headDim,
    rmsNormEps: eps,
    invFreq: ropeInvFreq(raw, headDim, where),
    maxPositionEmbeddings: int(raw, 'max_position_embeddings', where, 2048),
    qkvBias: modelType === 'qwen2' || attentionBias,
    oBias: modelType === 'llama' && attentionBias,
    mlpBias: modelType === 'llama' && flag(raw, 'mlp_bias', where, false),
    tieWordEmbeddings: flag(raw, 'tie_word_embeddings', where, modelType === 'qwen2'),
    bosTokenId: bos[0] ?? null,
    eosTokenIds: ids(raw.eos_token_id, 'eos_token_id', where, vocabSize),
    padTokenId: pad[0] ?? null,
  };
}

/** Expected weight shapes, [name pattern, shape]. */
export function llamaShapeRules(c: LlamaConfig): ShapeRule[] {
  const h = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKeyValueHeads * c.headDim;
  return [
    [/^(model\.embed_tokens|lm_head)\.weight$/, () => [c.vocabSize, h]],
    [/\.self_attn\.q_proj\.weight$/, () => [q, h]],
    [/\.self_attn\.q_proj\.bias$/, () => [q]],
    [/\.self_attn\.[kv]_proj\.weight$/, () => [kv, h]],
    [/\.self_attn\.[kv]_proj\.bias$/, () => [kv]],
    [/\.self_attn\.o_proj\.weight$/, () => [h, q]],
    [/\.mlp\.(gate|up)_proj\.weight$/, () => [c.intermediateSize, h]],
    [/\.mlp\.down_proj\.weight$/, () => [h, c.intermediateSize]],
    [/(layernorm|norm)\.weight$/, () => [h]],
  ];
}

const F32_MIN = -3.4028234663852886e38;

export interface CausalLmInputs {
  inputIds: Tensor; // [batch, new] int64
  /** [batch, past + new] int64: 1 for real tokens, 0 for padding (left padding included). */
  attentionMask: Tensor;
  positionIds: Tensor; // [batch, new] int64
  /** Per layer [batch, kvHeads, past, headDim]; empty when there is no cache (training: the whole sequence at once). */
  past: KeyValue[];
}

/**
 * The decoder stack on new tokens after a cache: last hidden states [batch, new, hidden] and the grown cache.
 * Attention is transformers' eager form: scores = q k^T * head_dim^-0.5 plus a bias of float32's minimum
 * wherever a key is padding or after the query (one bias, as transformers masks), softmax, times v. Grouped
 * heads share keys by viewing the queries of one key/value head as one longer block (no repeated keys).
 */
export function llamaStack(b: GraphBuilder, c: LlamaConfig, w: GraphWeights, x: CausalLmInputs): { hidden: Tensor; present: KeyValue[] } {
  const H = c.numHeads;
  const KV = c.numKeyValueHeads;
  const G = H / KV;
  const D = c.headDim;
  const norm = (t: Tensor, name: string) => b.rmsNorm(t, w.get(name), c.rmsNormEps);
  // Rotary: angles [batch, 1, new, D] from the positions, cos and sin of them, duplicated halves.
  const angles = b.mul(b.unsqueeze(b.cast(x.positionIds, 'float32'), [2]), b.constant(Array.from(c.invFreq), 'float32', [D / 2]));
  const both = b.unsqueeze(b.concat([angles, angles], -1), [1]);
  const cos = b.cos(both);
  const sin = b.sin(both);
  const rotate = (t: Tensor) => {
    const first = b.slice(t, [0], [D / 2], [3]);
    const second = b.slice(t, [D / 2], [D], [3]);
    return b.add(b.mul(t, cos), b.mul(b.concat([b.neg(second), first], 3), sin));
  };
  // The bias [batch, 1, new, past + new]: a key is seen when it is real and not after the query.
  const cached = x.past.length > 0;
  const past = cached ? b.slice(b.shapeOf(x.past[0]!.key), [2], [3], [0]) : b.constant([0], 'int64', [1]);
  const qPos = b.add(b.range({ of: x.inputIds, axis: 1 }), past);
  const kPos = b.range({ of: x.attentionMask, axis: 1 });
  const notFuture = b.not(b.less(b.unsqueeze(qPos, [1]), b.unsqueeze(kPos, [0]))); // [new, keys]
  const real = b.equal(b.unsqueeze(x.attentionMask, [1, 2]), b.constant(1, 'int64', [])); // [batch, 1, 1, keys]
  const bias = b.where(b.and(real, notFuture), b.constant(0, 'float32', []), b.constant(F32_MIN, 'float32', []));
  const heads = (t: Tensor, n: number) => b.transpose(b.reshape(t, [0, 0, n, D]), [0, 2, 1, 3]);
  let h = b.gather(w.get('model.embed_tokens.weight'), x.inputIds);
  const present: KeyValue[] = [];
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}`;
    h = b.block(p, h, () => {
      const a = norm(h, `${p}.input_layernorm.weight`);
      const q = rotate(heads(hfLinear(b, w, a, `${p}.self_attn.q_proj`, c.qkvBias), H));
      const kNew = rotate(heads(hfLinear(b, w, a, `${p}.self_attn.k_proj`, c.qkvBias), KV));
      const vNew = heads(hfLinear(b, w, a, `${p}.self_attn.v_proj`, c.qkvBias), KV);
      const k = cached ? b.concat([x.past[i]!.key, kNew], 2) : kNew;
      const v = cached ? b.concat([x.past[i]!.value, vNew], 2) : vNew;
      present.push({ key: k, value: v });
      // [batch, KV, G * new, D] x [batch, KV, D, keys]: the G query heads of one key/value head in one block.
      const qg = b.reshape(q, [0, KV, -1, D]);
      const scores = b.mul(b.reshape(b.matmul(qg, b.transpose(k, [0, 1, 3, 2])), [0, H, -1, 0]), D ** -0.5);
      const probs = b.softmax(b.add(scores, bias), -1);
      const ctx = b.reshape(b.matmul(b.reshape(probs, [0, KV, -1, 0]), v), [0, H, -1, D]);
      const merged = b.reshape(b.transpose(ctx, [0, 2, 1, 3]), [0, 0, H * D]);
      const r = b.add(h, hfLinear(b, w, merged, `${p}.self_attn.o_proj`, c.oBias));
      return b.add(r, llamaMlp(b, c, w, p, norm(r, `${p}.post_attention_layernorm.weight`)));
    });
  }
  return { hidden: norm(h, 'model.norm.weight'), present };
}

/** A layer's SwiGLU MLP on its normed input: down(silu(gate(m)) * up(m)). */
export function llamaMlp(b: GraphBuilder, c: LlamaConfig, w: GraphWeights, p: string, m: Tensor): Tensor {
  const gate = hfLinear(b, w, m, `${p}.mlp.gate_proj`, c.mlpBias);
  const up = hfLinear(b, w, m, `${p}.mlp.up_proj`, c.mlpBias);
  const sig = b.sigmoid(gate);
  const silu = b.mul(gate, sig);
  const prod = b.mul(silu, up);
  // Training recomputes the three from gate and up in the backward (inference never differentiates).
  recomputeChain(b, [sig, silu, prod]);
  return hfLinear(b, w, prod, `${p}.mlp.down_proj`, c.mlpBias);
}

/** The head: logits [.., vocab] from hidden states, through lm_head or the tied embeddings. */
export function llamaHead(b: GraphBuilder, c: LlamaConfig, w: GraphWeights, hidden: Tensor): Tensor {
  return hfLinear(b, w, hidden, c.tieWordEmbeddings ? 'model.embed_tokens' : 'lm_head', false);
}

/**
 * transformers' causal LM loss (labels shifted inside: position t predicts label t + 1; -100 not scored; the mean
 * over every scored token of the batch) with the head evaluated only where a label is scored: the hidden states of
 * those positions are gathered first, so a row whose prompt is not trained on costs no logits for its prompt (for
 * Qwen2.5-Coder-0.5B a position's logits are 151,936 floats). The same value as the head over every position.
 */
export function causalLmLoss(b: GraphBuilder, c: LlamaConfig, w: GraphWeights, hidden: Tensor, labels: Tensor): Tensor {
  const shifted = b.reshape(b.slice(labels, [1], [2 ** 31 - 1], [1]), [-1]);
  const at = b.reshape(b.nonZero(b.not(b.equal(shifted, b.constant(-100, 'int64', [])))), [-1]);
  const rows = b.gather(b.reshape(b.slice(hidden, [0], [-1], [1]), [-1, c.hiddenSize]), at);
  return b.crossEntropy(llamaHead(b, c, w, rows), b.gather(shifted, at));
}
