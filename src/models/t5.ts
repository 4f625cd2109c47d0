import type { GraphBuilder } from '../graph/builder.js';
import type { Tensor } from '../graph/ir.js';
import type { T5Config } from './config.js';
import type { GraphWeights } from './weights.js';
import type { ShapeRule } from './expectedShapes.js';
import { causalBias, hfLinear, paddingBias, type KeyValue } from './layers.js';

/**
 * T5 as Hugging Face's T5ForConditionalGeneration computes it (CodeT5, CodeReviewer and CCT5 are T5
 * checkpoints): RMS layer norms without bias, attention without 1/sqrt(d) scaling, relative position
 * buckets shared from each stack's first layer, ReLU or gated-GELU feed-forward, tied embeddings with
 * the d_model^-0.5 scaling before the LM head. Weights keep HF's names and [out, in] layouts.
 */
export interface T5Inputs {
  inputIds: Tensor; // [batch, src] int64
  attentionMask: Tensor; // [batch, src] int64
  decoderInputIds: Tensor; // [batch, tgt] int64
  decoderAttentionMask?: Tensor; // [batch, tgt] int64
}

export interface T5Outputs {
  encoderHidden: Tensor;
  logits: Tensor;
}

/** HF's _relative_position_bucket for every relative position in [-(n-1), n-1], in float32 arithmetic. */
export function relativePositionBuckets(n: number, bidirectional: boolean, numBuckets: number, maxDistance: number): number[] {
  const out: number[] = [];
  for (let rel = -(n - 1); rel <= n - 1; rel++) {
    let buckets = 0;
    let nb = numBuckets;
    let r = rel;
    if (bidirectional) {
      nb = Math.floor(nb / 2);
      if (r > 0) buckets += nb;
      r = Math.abs(r);
    } else {
      r = -Math.min(r, 0);
    }
    const maxExact = Math.floor(nb / 2);
    if (r < maxExact) buckets += r;
    else {
      const f = Math.fround(Math.fround(Math.log(Math.fround(r / maxExact))) / Math.fround(Math.log(maxDistance / maxExact)));
      const large = maxExact + Math.trunc(Math.fround(f * (nb - maxExact)));
      buckets += Math.min(large, nb - 1);
    }
    out.push(buckets);
  }
  return out;
}

/**
 * Shared pieces of one T5 graph: projections, norms, attention, feed-forward, position bias. With `fused`
 * (inference graphs without graph rewrites), attention is onnxruntime's com.microsoft MultiHeadAttention
 * (scale 1, the bias added before the softmax, as T5 attends), which takes the projections as they come and
 * so needs no head transposes; `npm run bench -- attention` measures it against the composed form.
 */
function t5Parts(b: GraphBuilder, cfg: T5Config, w: GraphWeights, maxLen: number, fused = false) {
  const H = cfg.numHeads;
  const inner = H * cfg.dKv;
  const linear = (x: Tensor, module: string) => hfLinear(b, w, x, module, false);
  const norm = (x: Tensor, name: string) => b.rmsNorm(x, w.get(name), cfg.layerNormEpsilon);
  const split = (x: Tensor) => b.transpose(b.reshape(x, [0, 0, H, cfg.dKv]), [0, 2, 1, 3]);
  const merge = (x: Tensor) => b.reshape(b.transpose(x, [0, 2, 1, 3]), [0, 0, inner]);
  // Additive masks [batch, 1, 1, k]: 0 where attended, float32 min where masked (as HF).
  const padMask = (m: Tensor) => paddingBias(b, m);
  /** [1, H, q, k] position bias from the stack's first-layer relative_attention_bias. */
  const positionBias = (q: Tensor, k: Tensor, bidirectional: boolean, weight: string) => {
    const table = b.constant(
      relativePositionBuckets(maxLen, bidirectional, cfg.relativeAttentionNumBuckets, cfg.relativeAttentionMaxDistance),
      'int64',
    );
    const qPos = b.range({ of: q, axis: 1 });
    const kPos = b.range({ of: k, axis: 1 });
    const rel = b.add(b.sub(b.unsqueeze(kPos, [0]), b.unsqueeze(qPos, [1])), b.constant(maxLen - 1, 'int64', []));
    const values = b.gather(w.get(weight), b.gather(table, rel)); // [q, k, H]
    return b.unsqueeze(b.transpose(values, [2, 0, 1]), [0]);
  };
  /** MultiHeadAttention: queries [batch, n, inner]; keys and values [batch, k, inner], or [batch, H, k, d_kv] when cached. */
  const mha = (q: Tensor, k: Tensor, v: Tensor, bias: Tensor) => {
    const [y] = b.node('MultiHeadAttention', [q, k, v, null, null, bias], [{ dtype: q.dtype, shape: [q.shape[0]!, q.shape[1]!, inner] }], {
      num_heads: H,
      scale: { float: 1.0 },
    });
    y!.producer!.domain = 'com.microsoft';
    return y!;
  };
  const attention = (x: Tensor, kv: Tensor, prefix: string, bias: Tensor) => {
    if (fused) return linear(mha(linear(x, `${prefix}.q`), linear(kv, `${prefix}.k`), linear(kv, `${prefix}.v`), bias), `${prefix}.o`);
    const q = split(linear(x, `${prefix}.q`));
    const k = split(linear(kv, `${prefix}.k`));
    const v = split(linear(kv, `${prefix}.v`));
    const scores = b.add(b.matmul(q, b.transposeLast(k)), bias);
    return linear(merge(b.matmul(b.softmax(scores, -1), v)), `${prefix}.o`);
  };
  const feedForward = (x: Tensor, prefix: string) => {
    const act = (t: Tensor) => (cfg.denseActFn === 'relu' ? b.relu(t) : b.gelu(t, cfg.denseActFn === 'gelu_new' ? 'tanh' : 'erf'));
    const h = cfg.isGatedAct ? b.mul(act(linear(x, `${prefix}.wi_0`)), linear(x, `${prefix}.wi_1`)) : act(linear(x, `${prefix}.wi`));
    return linear(h, `${prefix}.wo`);
  };
  /** Attention over precomputed keys and values [batch, H, k, d_kv]. */
  const attendTo = (x: Tensor, k: Tensor, v: Tensor, prefix: string, bias: Tensor) => {
    if (fused) {
      let q = linear(x, `${prefix}.q`);
      // MultiHeadAttention does not broadcast the bias over queries: a padding mask [batch, 1, 1, k] is
      // expanded to the block of new tokens (one, or the decoder prompt).
      if (bias.shape[2] === 1) {
        // Cross-attention: queries are independent of one another, so when the keys and values have one
        // row for every query row (the beams of one input), the rows become one block of queries
        // [1, batch x n, inner] that reads the keys and values once. Otherwise the reshape changes nothing.
        const qShape = b.shapeOf(q);
        q = b.reshape(q, b.concat([b.slice(b.shapeOf(k), [0], [1], [0]), b.ints([-1, inner])], 0), [
          `${q.name}_rows`,
          `${q.name}_queries`,
          inner,
        ]);
        const bs = b.shapeOf(bias);
        const target = b.concat([b.slice(bs, [0], [2], [0]), b.slice(b.shapeOf(q), [1], [2], [0]), b.slice(bs, [3], [4], [0])], 0);
        bias = b.expand(bias, target, [bias.shape[0]!, bias.shape[1]!, q.shape[1]!, bias.shape[3]!]);
        return linear(b.reshape(mha(q, k, v, bias), qShape, x.shape.slice(0, 2).concat([inner])), `${prefix}.o`);
      }
      return linear(mha(q, k, v, bias), `${prefix}.o`);
    }
    const q = split(linear(x, `${prefix}.q`));
    const scores = b.add(b.matmul(q, b.transposeLast(k)), bias);
    return linear(merge(b.matmul(b.softmax(scores, -1), v)), `${prefix}.o`);
  };
  return { linear, norm, padMask, positionBias, attention, attendTo, feedForward, split };
}

/** Cross-attention keys and values of every decoder layer, computed once from the encoder states. */
export function t5CrossKeyValues(b: GraphBuilder, cfg: T5Config, w: GraphWeights, encoderHidden: Tensor): KeyValue[] {
  const t = t5Parts(b, cfg, w, 1);
  return Array.from({ length: cfg.numDecoderLayers }, (_, i) => {
    const p = `decoder.block.${i}.layer.1.EncDecAttention`;
    return { key: t.split(t.linear(encoderHidden, `${p}.k`)), value: t.split(t.linear(encoderHidden, `${p}.v`)) };
  });
}

/**
 * One decoding step with a key/value cache: the newest token [batch, 1] attends to the past self-attention
 * keys/values [batch, H, past, d_kv] and its own; returns the logits [batch, 1, vocab] and the grown cache.
 */
export function t5DecoderStep(
  b: GraphBuilder,
  cfg: T5Config,
  w: GraphWeights,
  token: Tensor,
  cross: KeyValue[],
  attentionMask: Tensor,
  past: KeyValue[],
  o: { maxLength?: number; fusedAttention?: boolean } = {},
): { logits: Tensor; present: KeyValue[] } {
  const maxLen = o.maxLength ?? 2048;
  const t = t5Parts(b, cfg, w, maxLen, o.fusedAttention);
  let y = b.gather(w.get('shared.weight'), token);
  const crossBias = t.padMask(attentionMask);
  const present: KeyValue[] = [];
  let selfBias: Tensor | null = null;
  for (let i = 0; i < cfg.numDecoderLayers; i++) {
    const p = `decoder.block.${i}`;
    y = b.block(p, y, () => {
      const n0 = t.norm(y, `${p}.layer.0.layer_norm.weight`);
      const sa = `${p}.layer.0.SelfAttention`;
      const key = b.concat([past[i]!.key, t.split(t.linear(n0, `${sa}.k`))], 2);
      const value = b.concat([past[i]!.value, t.split(t.linear(n0, `${sa}.v`))], 2);
      present.push({ key, value });
      if (!selfBias) {
        // The n new tokens sit at positions P..P+n-1 (P the past length) among keys 0..P+n-1: relative
        // positions k - q, causal within the block (a block of one is the ordinary step).
        const table = b.constant(
          relativePositionBuckets(maxLen, false, cfg.relativeAttentionNumBuckets, cfg.relativeAttentionMaxDistance),
          'int64',
        );
        const kPos = b.range({ of: key, axis: 2 });
        const pastLen = b.reshape(b.gather(b.shapeOf(past[i]!.key), b.constant(2, 'int64', [])), []);
        const qPos = b.add(b.range({ of: token, axis: 1 }), pastLen);
        const rel = b.add(b.sub(b.unsqueeze(kPos, [0]), b.unsqueeze(qPos, [1])), b.constant(maxLen - 1, 'int64', []));
        const values = b.gather(w.get('decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight'), b.gather(table, rel)); // [n, k, H]
        selfBias = b.add(b.unsqueeze(b.transpose(values, [2, 0, 1]), [0]), causalBias(b, qPos, kPos)); // [1, H, n, k]
      }
      const s = b.add(y, t.attendTo(n0, key, value, sa, selfBias));
      const c = b.add(
        s,
        t.attendTo(t.norm(s, `${p}.layer.1.layer_norm.weight`), cross[i]!.key, cross[i]!.value, `${p}.layer.1.EncDecAttention`, crossBias),
      );
      return b.add(c, t.feedForward(t.norm(c, `${p}.layer.2.layer_norm.weight`), `${p}.layer.2.DenseReluDense`));
    });
  }
  let out = t.norm(y, 'decoder.final_layer_norm.weight');
  if (cfg.scaleDecoderOutputs) out = b.mul(out, cfg.dModel ** -0.5);
  return { logits: t.linear(out, cfg.tieWordEmbeddings ? 'shared' : 'lm_head'), present };
}

/**
 * The encoder stack: [batch, src] ids -> [batch, src, d_model] states (after the final norm). `hiddenStates`
 * receives transformers' hidden_states: each block's input (the embeddings first), then the final normed output.
 */
export function t5Encoder(
  b: GraphBuilder,
  cfg: T5Config,
  w: GraphWeights,
  inputIds: Tensor,
  attentionMask: Tensor,
  o: { maxLength?: number; hiddenStates?: Tensor[]; fusedAttention?: boolean } = {},
): Tensor {
  const t = t5Parts(b, cfg, w, o.maxLength ?? 2048, o.fusedAttention);
  let h = b.gather(w.get('shared.weight'), inputIds);
  const bias = b.add(
    t.positionBias(inputIds, inputIds, true, 'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight'),
    t.padMask(attentionMask),
  );
  for (let i = 0; i < cfg.numLayers; i++) {
    const p = `encoder.block.${i}`;
    o.hiddenStates?.push(h);
    h = b.block(p, h, () => {
      const n0 = t.norm(h, `${p}.layer.0.layer_norm.weight`);
      const a = b.add(h, t.attention(n0, n0, `${p}.layer.0.SelfAttention`, bias));
      return b.add(a, t.feedForward(t.norm(a, `${p}.layer.1.layer_norm.weight`), `${p}.layer.1.DenseReluDense`));
    });
  }
  const out = t.norm(h, 'encoder.final_layer_norm.weight');
  o.hiddenStates?.push(out);
  return out;
}

/** The decoder stack and LM head: ([batch, tgt] ids, encoder states) -> [batch, tgt, vocab] logits. */
export function t5Decoder(
  b: GraphBuilder,
  cfg: T5Config,
  w: GraphWeights,
  decoderInputIds: Tensor,
  encoderHidden: Tensor,
  attentionMask: Tensor,
  o: { maxLength?: number; decoderAttentionMask?: Tensor; selfPrefix?: { length: number; layer: (i: number) => KeyValue } } = {},
): Tensor {
  const maxLen = o.maxLength ?? 2048;
  const t = t5Parts(b, cfg, w, maxLen);
  let y = b.gather(w.get('shared.weight'), decoderInputIds);
  const P = o.selfPrefix?.length ?? 0;
  // Query i sits at position P + i among keys 0..P+T-1 (P prefix slots, always visible), causal over tokens.
  const tokPos = b.range({ of: decoderInputIds, axis: 1 });
  const qPos = P ? b.add(tokPos, b.constant(P, 'int64', [])) : tokPos;
  const kPos = P ? b.concat([b.range(P), qPos], 0) : tokPos;
  const causal = causalBias(b, qPos, kPos);
  const table = b.constant(
    relativePositionBuckets(maxLen, false, cfg.relativeAttentionNumBuckets, cfg.relativeAttentionMaxDistance),
    'int64',
  );
  const rel = b.add(b.sub(b.unsqueeze(kPos, [0]), b.unsqueeze(qPos, [1])), b.constant(maxLen - 1, 'int64', []));
  const bias = b.unsqueeze(
    b.transpose(b.gather(w.get('decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight'), b.gather(table, rel)), [2, 0, 1]),
    [0],
  );
  let selfBias = b.add(bias, causal);
  if (o.decoderAttentionMask) {
    const m = P
      ? b.concat(
          [
            b.expand(
              b.constant(1, 'int64', [1, P]),
              b.concat([b.slice(b.shapeOf(o.decoderAttentionMask), [0], [1], [0]), b.ints([P])], 0),
              [o.decoderAttentionMask.shape[0]!, P],
            ),
            o.decoderAttentionMask,
          ],
          1,
        )
      : o.decoderAttentionMask;
    selfBias = b.add(selfBias, t.padMask(m));
  }
  const crossBias = t.padMask(attentionMask);
  const batchOf = (x: Tensor, like: Tensor) =>
    b.expand(x, b.concat([b.slice(b.shapeOf(like), [0], [1], [0]), b.slice(b.shapeOf(x), [1], [4], [0])], 0), [
      like.shape[0]!,
      ...x.shape.slice(1),
    ]);
  for (let i = 0; i < cfg.numDecoderLayers; i++) {
    const p = `decoder.block.${i}`;
    y = b.block(p, y, () => {
      const n0 = t.norm(y, `${p}.layer.0.layer_norm.weight`);
      const sa = `${p}.layer.0.SelfAttention`;
      let attn: Tensor;
      if (o.selfPrefix) {
        const pre = o.selfPrefix.layer(i);
        const k = t.split(t.linear(n0, `${sa}.k`));
        const v = t.split(t.linear(n0, `${sa}.v`));
        attn = t.attendTo(n0, b.concat([batchOf(pre.key, k), k], 2), b.concat([batchOf(pre.value, v), v], 2), sa, selfBias);
      } else {
        attn = t.attention(n0, n0, sa, selfBias);
      }
      const s = b.add(y, attn);
      const c = b.add(
        s,
        t.attention(t.norm(s, `${p}.layer.1.layer_norm.weight`), encoderHidden, `${p}.layer.1.EncDecAttention`, crossBias),
      );
      return b.add(c, t.feedForward(t.norm(c, `${p}.layer.2.layer_norm.weight`), `${p}.layer.2.DenseReluDense`));
    });
  }
  let out = t.norm(y, 'decoder.final_layer_norm.weight');
  if (cfg.scaleDecoderOutputs) out = b.mul(out, cfg.dModel ** -0.5);
  return t.linear(out, cfg.tieWordEmbeddings ? 'shared' : 'lm_head');
}

export function t5(b: GraphBuilder, cfg: T5Config, w: GraphWeights, inp: T5Inputs, o: { maxLength?: number } = {}): T5Outputs {
  const encoderHidden = t5Encoder(b, cfg, w, inp.inputIds, inp.attentionMask, o);
  const logits = t5Decoder(b, cfg, w, inp.decoderInputIds, encoderHidden, inp.attentionMask, {
    ...o,
    decoderAttentionMask: inp.decoderAttentionMask,
  });
  return { encoderHidden, logits };
}

/** Expected weight shapes, [name pattern, shape]. */
export function t5Rules(c: T5Config): ShapeRule[] {
  const d = c.dModel;
  const inner = c.numHeads * c.dKv;
  return [
    [/^(shared|encoder\.embed_tokens|decoder\.embed_tokens|lm_head)\.weight$/, () => [c.vocabSize, d]],
    [/\.(SelfAttention|EncDecAttention)\.[qkv]\.weight$/, () => [inner, d]],
    [/\.(SelfAttention|EncDecAttention)\.o\.weight$/, () => [d, inner]],
    [/\.relative_attention_bias\.weight$/, () => [c.relativeAttentionNumBuckets, c.numHeads]],
    [/layer_norm\.weight$/, () => [d]],
    [/\.DenseReluDense\.wi(_0|_1)?\.weight$/, () => [c.dFf, d]],
    [/\.DenseReluDense\.wo\.weight$/, () => [d, c.dFf]],
  ];
}
