import { ChangelingError } from '../util/errors.js';
import type { BartConfig, RobertaConfig, T5Config } from './config.js';
import type { WeightMap } from './weights.js';
import { llamaShapeRules, type LlamaConfig } from './llama.js';

/**
 * Every weight's shape checked against the config before a graph is built from it: a checkpoint whose
 * weights are for another size (or a config edited by hand) is refused with the first weight that does not
 * fit, instead of failing inside ONNX Runtime (or, worse, running with every output NaN).
 */
type Rule = [RegExp, () => number[]];

function t5Rules(c: T5Config): Rule[] {
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

function bartRules(c: BartConfig): Rule[] {
  const d = c.dModel;
  const ffn = (stack: string) => (stack === 'encoder' ? c.encoderFfnDim : c.decoderFfnDim);
  const rules: Rule[] = [
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

function robertaRules(c: RobertaConfig): Rule[] {
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

export function checkWeightShapes(
  kind: 't5' | 'bart' | 'roberta' | 'llama',
  config: T5Config | BartConfig | RobertaConfig | LlamaConfig,
  weights: WeightMap,
  where: string,
): WeightMap {
  const rules =
    kind === 't5'
      ? t5Rules(config as T5Config)
      : kind === 'bart'
        ? bartRules(config as BartConfig)
        : kind === 'llama'
          ? llamaShapeRules(config as LlamaConfig)
          : robertaRules(config as RobertaConfig);
  for (const [name, w] of weights) {
    const rule = rules.find(([re]) => re.test(name));
    if (!rule) continue;
    const want = rule[1]();
    if (w.shape.join(',') !== want.join(','))
      throw new ChangelingError(
        'io',
        `${where}: weight ${name} has shape [${w.shape.join(', ')}] but config.json says [${want.join(', ')}]: the weights and the config do not belong together`,
      );
  }
  return weights;
}
