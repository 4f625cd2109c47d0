import type { GraphBuilder } from '../graph/builder.js';
import type { Tensor } from '../graph/ir.js';
import type { BartConfig } from './config.js';
import type { GraphWeights } from './weights.js';
import type { ShapeRule } from './expectedShapes.js';
import { causalBias, hfLinear, paddingBias, type KeyValue } from './layers.js';

/**
 * BART / PLBART as transformers computes them: token embeddings (times sqrt(d_model) with
 * scale_embedding) plus learned positions at offset 2, layernorm_embedding, post-LN layers with biased
 * q/k/v/out projections and scaled scores, GELU feed-forward, no final stack norm, and an LM head tied to
 * the shared embedding plus final_logits_bias. Weight names are Hugging Face's (`model.` prefix).
 */
const POSITION_OFFSET = 2;

function parts(b: GraphBuilder, cfg: BartConfig, w: GraphWeights) {
  const d = cfg.dModel;
  const linear = (x: Tensor, name: string) => hfLinear(b, w, x, name);
  const layerNorm = (x: Tensor, name: string) => b.layerNorm(x, w.get(`${name}.weight`), w.get(`${name}.bias`), 1e-5);
  const act = (x: Tensor) => (cfg.activation === 'relu' ? b.relu(x) : b.gelu(x, cfg.activation === 'gelu' ? 'erf' : 'tanh'));
  const padMask = (m: Tensor) => paddingBias(b, m);
  const embed = (ids: Tensor, stack: 'encoder' | 'decoder') => {
    let x = b.gather(w.get('model.shared.weight'), ids);
    if (cfg.scaleEmbedding) x = b.mul(x, Math.sqrt(d));
    const pos = b.add(b.range({ of: ids, axis: 1 }), b.constant(POSITION_OFFSET, 'int64', []));
    x = b.add(x, b.gather(w.get(`model.${stack}.embed_positions.weight`), pos));
    return layerNorm(x, `model.${stack}.layernorm_embedding`);
  };
  const attention = (x: Tensor, kv: Tensor, name: string, heads: number, bias: Tensor) => {
    const dh = d / heads;
    const split = (t: Tensor) => b.transpose(b.reshape(t, [0, 0, heads, dh]), [0, 2, 1, 3]);
    const q = split(linear(x, `${name}.q_proj`));
    const k = split(linear(kv, `${name}.k_proj`));
    const v = split(linear(kv, `${name}.v_proj`));
    const scores = b.add(b.matmul(b.mul(q, dh ** -0.5), b.transposeLast(k)), bias);
    return linear(b.reshape(b.transpose(b.matmul(b.softmax(scores, -1), v), [0, 2, 1, 3]), [0, 0, d]), `${name}.out_proj`);
  };
  const ffn = (x: Tensor, name: string) => linear(act(linear(x, `${name}.fc1`)), `${name}.fc2`);
  const split = (t: Tensor, heads: number) => b.transpose(b.reshape(t, [0, 0, heads, d / heads]), [0, 2, 1, 3]);
  /** Attention over precomputed keys and values [batch, H, k, head_dim]. */
  const attendTo = (x: Tensor, k: Tensor, v: Tensor, name: string, heads: number, bias: Tensor | null) => {
    const dh = d / heads;
    let scores = b.matmul(b.mul(split(linear(x, `${name}.q_proj`), heads), dh ** -0.5), b.transposeLast(k));
    if (bias) scores = b.add(scores, bias);
    return linear(b.reshape(b.transpose(b.matmul(b.softmax(scores, -1), v), [0, 2, 1, 3]), [0, 0, d]), `${name}.out_proj`);
  };
  return { linear, layerNorm, padMask, embed, attention, ffn, split, attendTo };
}

/** Cross-attention keys and values of every decoder layer, computed once from the encoder states. */
export function bartCrossKeyValues(b: GraphBuilder, cfg: BartConfig, w: GraphWeights, encoderHidden: Tensor): KeyValue[] {
  const t = parts(b, cfg, w);
  return Array.from({ length: cfg.decoderLayers }, (_, i) => {
    const l = `model.decoder.layers.${i}.encoder_attn`;
    return {
      key: t.split(t.linear(encoderHidden, `${l}.k_proj`), cfg.decoderHeads),
      value: t.split(t.linear(encoderHidden, `${l}.v_proj`), cfg.decoderHeads),
    };
  });
}

/** One decoding step with a key/value cache (the newest token [batch, 1] at position = past length). */
export function bartDecoderStep(
  b: GraphBuilder,
  cfg: BartConfig,
  w: GraphWeights,
  token: Tensor,
  cross: KeyValue[],
  attentionMask: Tensor,
  past: KeyValue[],
): { logits: Tensor; present: KeyValue[] } {
  const t = parts(b, cfg, w);
  let y = b.gather(w.get('model.shared.weight'), token);
  if (cfg.scaleEmbedding) y = b.mul(y, Math.sqrt(cfg.dModel));
  // The n new tokens sit at positions P..P+n-1 (P the past length), causal within the block.
  const P = b.reshape(b.gather(b.shapeOf(past[0]!.key), b.constant(2, 'int64', [])), []);
  const qPos = b.add(b.range({ of: token, axis: 1 }), P);
  y = b.add(y, b.gather(w.get('model.decoder.embed_positions.weight'), b.add(qPos, b.constant(POSITION_OFFSET, 'int64', []))));
  y = t.layerNorm(y, 'model.decoder.layernorm_embedding');
  const crossBias = t.padMask(attentionMask);
  const present: KeyValue[] = [];
  let causal: Tensor | null = null;
  for (let i = 0; i < cfg.decoderLayers; i++) {
    const l = `model.decoder.layers.${i}`;
    y = b.block(l, y, () => {
      const key = b.concat([past[i]!.key, t.split(t.linear(y, `${l}.self_attn.k_proj`), cfg.decoderHeads)], 2);
      const value = b.concat([past[i]!.value, t.split(t.linear(y, `${l}.self_attn.v_proj`), cfg.decoderHeads)], 2);
      present.push({ key, value });
      causal ??= causalBias(b, qPos, b.range({ of: key, axis: 2 }));
      const s = t.layerNorm(b.add(y, t.attendTo(y, key, value, `${l}.self_attn`, cfg.decoderHeads, causal)), `${l}.self_attn_layer_norm`);
      const c = t.layerNorm(
        b.add(s, t.attendTo(s, cross[i]!.key, cross[i]!.value, `${l}.encoder_attn`, cfg.decoderHeads, crossBias)),
        `${l}.encoder_attn_layer_norm`,
      );
      return t.layerNorm(b.add(c, t.ffn(c, l)), `${l}.final_layer_norm`);
    });
  }
  const head = cfg.tieWordEmbeddings ? 'model.shared.weight' : 'lm_head.weight';
  return { logits: b.add(b.matmul(y, b.transpose(w.get(head), [1, 0])), w.get('final_logits_bias')), present };
}

/** The encoder stack; `hiddenStates` receives transformers' hidden_states: the embeddings, then each layer's output. */
export function bartEncoder(
  b: GraphBuilder,
  cfg: BartConfig,
  w: GraphWeights,
  inputIds: Tensor,
  attentionMask: Tensor,
  o: { hiddenStates?: Tensor[] } = {},
): Tensor {
  const t = parts(b, cfg, w);
  let h = t.embed(inputIds, 'encoder');
  const bias = t.padMask(attentionMask);
  for (let i = 0; i < cfg.encoderLayers; i++) {
    const l = `model.encoder.layers.${i}`;
    o.hiddenStates?.push(h);
    h = b.block(l, h, () => {
      const a = t.layerNorm(b.add(h, t.attention(h, h, `${l}.self_attn`, cfg.encoderHeads, bias)), `${l}.self_attn_layer_norm`);
      return t.layerNorm(b.add(a, t.ffn(a, l)), `${l}.final_layer_norm`);
    });
  }
  o.hiddenStates?.push(h);
  return h;
}

export function bartDecoder(
  b: GraphBuilder,
  cfg: BartConfig,
  w: GraphWeights,
  decoderInputIds: Tensor,
  encoderHidden: Tensor,
  attentionMask: Tensor,
  o: { decoderAttentionMask?: Tensor } = {},
): Tensor {
  const t = parts(b, cfg, w);
  let y = t.embed(decoderInputIds, 'decoder');
  const pos = b.range({ of: decoderInputIds, axis: 1 });
  let selfBias = b.unsqueeze(causalBias(b, pos, pos), [0, 1]);
  if (o.decoderAttentionMask) selfBias = b.add(selfBias, t.padMask(o.decoderAttentionMask));
  const crossBias = t.padMask(attentionMask);
  for (let i = 0; i < cfg.decoderLayers; i++) {
    const l = `model.decoder.layers.${i}`;
    y = b.block(l, y, () => {
      const s = t.layerNorm(b.add(y, t.attention(y, y, `${l}.self_attn`, cfg.decoderHeads, selfBias)), `${l}.self_attn_layer_norm`);
      const c = t.layerNorm(
        b.add(s, t.attention(s, encoderHidden, `${l}.encoder_attn`, cfg.decoderHeads, crossBias)),
        `${l}.encoder_attn_layer_norm`,
      );
      return t.layerNorm(b.add(c, t.ffn(c, l)), `${l}.final_layer_norm`);
    });
  }
  const head = cfg.tieWordEmbeddings ? 'model.shared.weight' : 'lm_head.weight';
  return b.add(b.matmul(y, b.transpose(w.get(head), [1, 0])), w.get('final_logits_bias'));
}

/** Expected weight shapes, [name pattern, shape]. */
export function bartRules(c: BartConfig): ShapeRule[] {
  const d = c.dModel;
  const ffn = (stack: string) => (stack === 'encoder' ? c.encoderFfnDim : c.decoderFfnDim);
  const rules: ShapeRule[] = [
    [/^(model\.shared|model\.encoder\.embed_tokens|model\.decoder\.embed_tokens|lm_head)\.weight$/, () => [c.vocabSize, d]],
    [/^model\.(encoder|decoder)\.embed_positions\.weight$/, () => [c.maxPositionEmbeddings + 2, d]],
    [/(layernorm_embedding|layer_norm)\.(weight|bias)$/, () => [d]],
    [/\.(self_attn|encoder_attn)\.(q|k|v|out)_proj\.weight$/, () => [d, d]],
    [/\.(self_attn|encoder_attn)\.(q|k|v|out)_proj\.bias$/, () => [d]],
    [/^final_logits_bias$/, () => [1, c.vocabSize]],
  ];
  for (const stack of ['encoder', 'decoder']) {
    rules.push(
      [new RegExp(`^model\\.${stack}\\.layers\\.\\d+\\.fc1\\.weight$`), () => [ffn(stack), d]],
      [new RegExp(`^model\\.${stack}\\.layers\\.\\d+\\.fc1\\.bias$`), () => [ffn(stack)]],
    );
    rules.push(
      [new RegExp(`^model\\.${stack}\\.layers\\.\\d+\\.fc2\\.weight$`), () => [d, ffn(stack)]],
      [new RegExp(`^model\\.${stack}\\.layers\\.\\d+\\.fc2\\.bias$`), () => [d]],
    );
  }
  return rules;
}
