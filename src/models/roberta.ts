import type { GraphBuilder } from '../graph/builder.js';
import type { Tensor } from '../graph/ir.js';
import type { RobertaConfig } from './config.js';
import type { GraphWeights } from './weights.js';
import type { ShapeRule } from './expectedShapes.js';
import { hfLinear, paddingBias } from './layers.js';

/**
 * RoBERTa as transformers computes it (CodeBERT, GraphCodeBERT, UniXcoder): absolute learned positions
 * counted from padding_idx + 1 over non-pad tokens, post-LayerNorm layers, scaled dot-product attention,
 * GELU feed-forward, the tanh pooler, and the sequence-classification head (first token -> dense -> tanh
 * -> out_proj). Weight names are Hugging Face's, with the `roberta.` prefix of the task models.
 */
export interface RobertaOutputs {
  lastHidden: Tensor; // [batch, seq, hidden]
  pooled: Tensor | null; // [batch, hidden]
  classifierLogits: Tensor | null; // [batch, labels]
}

export function roberta(
  b: GraphBuilder,
  cfg: RobertaConfig,
  w: GraphWeights,
  inputIds: Tensor,
  attentionMask: Tensor,
  o: {
    prefix?: string;
    pooler?: boolean;
    classifier?: boolean;
    tokenTypeIds?: Tensor;
    /** Receives each layer's attention probabilities [batch, heads, seq, seq]. */ attentions?: Tensor[];
    /** Receives transformers' hidden_states: the embeddings, then each layer's output. */ hiddenStates?: Tensor[];
  } = {},
): RobertaOutputs {
  const p = o.prefix ?? 'roberta.';
  const d = cfg.hiddenSize;
  const H = cfg.numAttentionHeads;
  const dh = d / H;
  const linear = (x: Tensor, name: string) => hfLinear(b, w, x, name);
  const layerNorm = (x: Tensor, name: string) => b.layerNorm(x, w.get(`${name}.weight`), w.get(`${name}.bias`), cfg.layerNormEps);
  const act = (x: Tensor) => (cfg.hiddenAct === 'relu' ? b.relu(x) : b.gelu(x, cfg.hiddenAct === 'gelu' ? 'erf' : 'tanh'));
  const split = (x: Tensor) => b.transpose(b.reshape(x, [0, 0, H, dh]), [0, 2, 1, 3]);

  // Positions: padding_idx + cumulative count of non-pad tokens; pad tokens get padding_idx.
  const notPad = b.cast(b.not(b.equal(inputIds, b.constant(cfg.padTokenId, 'int64', []))), 'int64');
  const positions = b.add(b.mul(b.cumsum(notPad, 1), notPad), b.constant(cfg.padTokenId, 'int64', []));
  const tokenTypes = o.tokenTypeIds ?? b.mul(inputIds, b.constant(0, 'int64', []));
  let h = b.add(
    b.add(
      b.gather(w.get(`${p}embeddings.word_embeddings.weight`), inputIds),
      b.gather(w.get(`${p}embeddings.position_embeddings.weight`), positions),
    ),
    b.gather(w.get(`${p}embeddings.token_type_embeddings.weight`), tokenTypes),
  );
  h = layerNorm(h, `${p}embeddings.LayerNorm`);

  const maskBias = paddingBias(b, attentionMask);
  for (let i = 0; i < cfg.numHiddenLayers; i++) {
    const l = `${p}encoder.layer.${i}`;
    o.hiddenStates?.push(h);
    h = b.block(l, h, () => {
      const q = split(linear(h, `${l}.attention.self.query`));
      const k = split(linear(h, `${l}.attention.self.key`));
      const v = split(linear(h, `${l}.attention.self.value`));
      // Scaling q rather than the scores keeps no [batch, heads, seq, seq] intermediate alive for training.
      const scores = b.add(b.matmul(b.mul(q, 1 / Math.sqrt(dh)), b.transposeLast(k)), maskBias);
      const probs = b.softmax(scores, -1);
      o.attentions?.push(probs);
      const ctx = b.reshape(b.transpose(b.matmul(probs, v), [0, 2, 1, 3]), [0, 0, d]);
      const a = layerNorm(b.add(linear(ctx, `${l}.attention.output.dense`), h), `${l}.attention.output.LayerNorm`);
      const f = linear(act(linear(a, `${l}.intermediate.dense`)), `${l}.output.dense`);
      return layerNorm(b.add(f, a), `${l}.output.LayerNorm`);
    });
  }
  o.hiddenStates?.push(h);
  const first = () => b.squeeze(b.slice(h, [0], [1], [1]), [1]);
  const pooled = o.pooler ? b.tanh(linear(first(), `${p}pooler.dense`)) : null;
  const classifierLogits = o.classifier ? linear(b.tanh(linear(first(), 'classifier.dense')), 'classifier.out_proj') : null;
  return { lastHidden: h, pooled, classifierLogits };
}

/** Expected weight shapes, [name pattern, shape]. */
export function robertaRules(c: RobertaConfig): ShapeRule[] {
  const h = c.hiddenSize;
  return [
    [/embeddings\.word_embeddings\.weight$/, () => [c.vocabSize, h]],
    [/embeddings\.position_embeddings\.weight$/, () => [c.maxPositionEmbeddings, h]],
    [/embeddings\.token_type_embeddings\.weight$/, () => [c.typeVocabSize, h]],
    [/LayerNorm\.(weight|bias)$/, () => [h]],
    [/attention\.self\.(query|key|value)\.weight$/, () => [h, h]],
    [/attention\.self\.(query|key|value)\.bias$/, () => [h]],
    [/attention\.output\.dense\.weight$/, () => [h, h]],
    [/attention\.output\.dense\.bias$/, () => [h]],
    [/intermediate\.dense\.weight$/, () => [c.intermediateSize, h]],
    [/intermediate\.dense\.bias$/, () => [c.intermediateSize]],
    [/layer\.\d+\.output\.dense\.weight$/, () => [h, c.intermediateSize]],
    [/layer\.\d+\.output\.dense\.bias$/, () => [h]],
    [/pooler\.dense\.weight$/, () => [h, h]],
    [/classifier\.dense\.weight$/, () => [h, h]],
    [/classifier\.out_proj\.weight$/, () => [c.numLabels, h]],
  ];
}
