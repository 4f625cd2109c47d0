import { join } from 'node:path';
import { ChangelingError } from '../util/errors.js';
import { readJsonFile } from '../util/jsonFile.js';

/** T5 (CodeT5, CodeReviewer, CCT5) as Hugging Face's config.json describes it. */
export interface T5Config {
  modelType: 't5';
  vocabSize: number;
  dModel: number;
  dKv: number;
  dFf: number;
  numLayers: number;
  numDecoderLayers: number;
  numHeads: number;
  relativeAttentionNumBuckets: number;
  relativeAttentionMaxDistance: number;
  layerNormEpsilon: number;
  /** "relu" or "gelu_new" etc., with gated variants ("gated-gelu"). */
  denseActFn: 'relu' | 'gelu_new' | 'gelu';
  isGatedAct: boolean;
  tieWordEmbeddings: boolean;
  /**
   * The decoder output is scaled by d_model^-0.5 before the LM head. transformers 4 tied this to
   * tie_word_embeddings; transformers 5 writes tie_word_embeddings: true for every T5 and keeps the old
   * meaning in scale_decoder_outputs, which wins when present.
   */
  scaleDecoderOutputs: boolean;
  padTokenId: number;
  eosTokenId: number;
  decoderStartTokenId: number;
}

type Raw = Record<string, unknown>;

function need<T>(raw: Raw, key: string, type: 'number' | 'string' | 'boolean', where: string, fallback?: T): T {
  const v = raw[key] ?? fallback;
  if (typeof v !== type)
    throw new ChangelingError('io', `${where}: "${key}" must be a ${type}${v === undefined ? ' (missing)' : `, not ${JSON.stringify(v)}`}`);
  return v as T;
}

/**
 * Sizes are whole numbers from 1 to 10 million, token ids whole numbers inside the vocabulary, epsilons
 * small positive numbers: a config that says otherwise is refused here, not in the middle of a graph.
 */
/** The config.json key of a parsed field (dModel -> d_model, numHeads -> num_heads). */
const jsonKey = (k: PropertyKey) =>
  (
    ({
      dKv: 'd_kv',
      dFf: 'd_ff',
      dModel: 'd_model',
      vocabSize: 'vocab_size',
      encoderHeads: 'encoder_attention_heads',
      decoderHeads: 'decoder_attention_heads',
      numHeads: 'num_heads',
      eps: 'layer_norm_eps',
    }) as Record<string, string>
  )[String(k)] ?? String(k).replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`);

function checkRanges<T extends object>(
  cfg: T,
  where: string,
  sizes: Array<keyof T>,
  ids: Array<keyof T>,
  eps: keyof T,
  divides?: [keyof T, keyof T][],
): T {
  const c = cfg as Record<keyof T, unknown>;
  for (const k of sizes) {
    const v = c[k];
    if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 1e7)
      throw new ChangelingError('io', `${where}: ${jsonKey(k)} must be a whole number from 1 to 10000000 (it is ${JSON.stringify(v)})`);
  }
  const vocab = c['vocabSize' as keyof T] as number;
  for (const k of ids) {
    const v = c[k];
    if (v === null) continue;
    if (!Number.isInteger(v) || (v as number) < 0 || (v as number) >= vocab)
      throw new ChangelingError('io', `${where}: ${jsonKey(k)} must be a token id from 0 to ${vocab - 1} (it is ${JSON.stringify(v)})`);
  }
  const e = c[eps];
  if (typeof e !== 'number' || !(e > 0 && e < 1))
    throw new ChangelingError('io', `${where}: ${jsonKey(eps)} must be a small positive number (it is ${JSON.stringify(e)})`);
  for (const [a, b] of divides ?? []) {
    if ((c[a] as number) % (c[b] as number) !== 0)
      throw new ChangelingError('io', `${where}: ${jsonKey(a)} (${c[a]}) is not a multiple of ${jsonKey(b)} (${c[b]})`);
  }
  return cfg;
}

export function parseT5Config(raw: Raw, where = 'config.json'): T5Config {
  const ffProj = need<string>(raw, 'feed_forward_proj', 'string', where, 'relu');
  const gated = ffProj.startsWith('gated-');
  const act = gated ? ffProj.slice(6) : ffProj;
  if (!['relu', 'gelu_new', 'gelu'].includes(act))
    throw new ChangelingError('io', `${where}: feed_forward_proj "${ffProj}" is not supported (relu, gated-gelu, gelu_new)`);
  const dModel = need<number>(raw, 'd_model', 'number', where);
  const numLayers = need<number>(raw, 'num_layers', 'number', where);
  return checkRanges<T5Config>(
    {
      modelType: 't5',
      vocabSize: need(raw, 'vocab_size', 'number', where),
      dModel,
      dKv: need(raw, 'd_kv', 'number', where),
      dFf: need(raw, 'd_ff', 'number', where),
      numLayers,
      numDecoderLayers: need(raw, 'num_decoder_layers', 'number', where, numLayers),
      numHeads: need(raw, 'num_heads', 'number', where),
      relativeAttentionNumBuckets: need(raw, 'relative_attention_num_buckets', 'number', where, 32),
      relativeAttentionMaxDistance: need(raw, 'relative_attention_max_distance', 'number', where, 128),
      layerNormEpsilon: need(raw, 'layer_norm_epsilon', 'number', where, 1e-6),
      denseActFn: (act === 'gelu' && gated ? 'gelu_new' : act) as T5Config['denseActFn'],
      isGatedAct: gated,
      tieWordEmbeddings: need(raw, 'tie_word_embeddings', 'boolean', where, true),
      scaleDecoderOutputs: need(
        raw,
        'scale_decoder_outputs',
        'boolean',
        where,
        need<boolean>(raw, 'tie_word_embeddings', 'boolean', where, true),
      ),
      padTokenId: need(raw, 'pad_token_id', 'number', where, 0),
      eosTokenId: need(raw, 'eos_token_id', 'number', where, 1),
      decoderStartTokenId: need(raw, 'decoder_start_token_id', 'number', where, 0),
    },
    where,
    [
      'vocabSize',
      'dModel',
      'dKv',
      'dFf',
      'numLayers',
      'numDecoderLayers',
      'numHeads',
      'relativeAttentionNumBuckets',
      'relativeAttentionMaxDistance',
    ],
    ['padTokenId', 'eosTokenId', 'decoderStartTokenId'],
    'layerNormEpsilon',
  );
}

export async function readConfigJson(dir: string): Promise<Raw> {
  return (await readJsonFile(join(dir, 'config.json'))) as Raw;
}

/** RoBERTa (CodeBERT, GraphCodeBERT, UniXcoder). */
export interface RobertaConfig {
  modelType: 'roberta';
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  intermediateSize: number;
  maxPositionEmbeddings: number;
  typeVocabSize: number;
  layerNormEps: number;
  hiddenAct: 'gelu' | 'gelu_new' | 'relu';
  padTokenId: number;
  numLabels: number;
}

export function parseRobertaConfig(raw: Raw, where = 'config.json'): RobertaConfig {
  const act = need<string>(raw, 'hidden_act', 'string', where, 'gelu');
  if (!['gelu', 'gelu_new', 'relu'].includes(act))
    throw new ChangelingError('io', `${where}: hidden_act "${act}" is not supported (gelu, gelu_new, relu)`);
  const pet = raw.position_embedding_type ?? 'absolute';
  if (pet !== 'absolute') throw new ChangelingError('io', `${where}: position_embedding_type "${String(pet)}" is not supported (absolute)`);
  const labels = raw.id2label ? Object.keys(raw.id2label as object).length : need<number>(raw, 'num_labels', 'number', where, 2);
  return checkRanges<RobertaConfig>(
    {
      modelType: 'roberta',
      vocabSize: need(raw, 'vocab_size', 'number', where),
      hiddenSize: need(raw, 'hidden_size', 'number', where),
      numHiddenLayers: need(raw, 'num_hidden_layers', 'number', where),
      numAttentionHeads: need(raw, 'num_attention_heads', 'number', where),
      intermediateSize: need(raw, 'intermediate_size', 'number', where),
      maxPositionEmbeddings: need(raw, 'max_position_embeddings', 'number', where),
      typeVocabSize: need(raw, 'type_vocab_size', 'number', where, 1),
      layerNormEps: need(raw, 'layer_norm_eps', 'number', where, 1e-12),
      hiddenAct: act as RobertaConfig['hiddenAct'],
      padTokenId: need(raw, 'pad_token_id', 'number', where, 1),
      numLabels: labels,
    },
    where,
    [
      'vocabSize',
      'hiddenSize',
      'numHiddenLayers',
      'numAttentionHeads',
      'intermediateSize',
      'maxPositionEmbeddings',
      'typeVocabSize',
      'numLabels',
    ],
    ['padTokenId'],
    'layerNormEps',
    [['hiddenSize', 'numAttentionHeads']],
  );
}

/** BART / PLBART. */
export interface BartConfig {
  modelType: 'bart' | 'plbart';
  vocabSize: number;
  dModel: number;
  encoderLayers: number;
  decoderLayers: number;
  encoderHeads: number;
  decoderHeads: number;
  encoderFfnDim: number;
  decoderFfnDim: number;
  maxPositionEmbeddings: number;
  activation: 'gelu' | 'gelu_new' | 'relu';
  scaleEmbedding: boolean;
  tieWordEmbeddings: boolean;
  padTokenId: number;
  eosTokenId: number;
  decoderStartTokenId: number | null;
  forcedEosTokenId: number | null;
}

export function parseBartConfig(raw: Raw, where = 'config.json'): BartConfig {
  const type = raw.model_type;
  if (type !== 'bart' && type !== 'plbart') throw new ChangelingError('io', `${where}: model_type "${String(type)}" is not BART or PLBART`);
  const act = need<string>(raw, 'activation_function', 'string', where, 'gelu');
  if (!['gelu', 'gelu_new', 'relu'].includes(act))
    throw new ChangelingError('io', `${where}: activation_function "${act}" is not supported`);
  if (raw.normalize_before === true || raw.add_final_layer_norm === true)
    throw new ChangelingError(
      'io',
      `${where}: pre-LN BART variants (normalize_before / add_final_layer_norm, e.g. mBART) are not supported`,
    );
  const nullable = (k: string) => (typeof raw[k] === 'number' ? (raw[k] as number) : null);
  return checkRanges<BartConfig & { eps: number }>(
    {
      eps: 1e-5,
      modelType: type,
      vocabSize: need(raw, 'vocab_size', 'number', where),
      dModel: need(raw, 'd_model', 'number', where),
      encoderLayers: need(raw, 'encoder_layers', 'number', where),
      decoderLayers: need(raw, 'decoder_layers', 'number', where),
      encoderHeads: need(raw, 'encoder_attention_heads', 'number', where),
      decoderHeads: need(raw, 'decoder_attention_heads', 'number', where),
      encoderFfnDim: need(raw, 'encoder_ffn_dim', 'number', where),
      decoderFfnDim: need(raw, 'decoder_ffn_dim', 'number', where),
      maxPositionEmbeddings: need(raw, 'max_position_embeddings', 'number', where),
      activation: act as BartConfig['activation'],
      scaleEmbedding: need(raw, 'scale_embedding', 'boolean', where, false),
      tieWordEmbeddings: need(raw, 'tie_word_embeddings', 'boolean', where, true),
      padTokenId: need(raw, 'pad_token_id', 'number', where, 1),
      eosTokenId: need(raw, 'eos_token_id', 'number', where, 2),
      decoderStartTokenId: nullable('decoder_start_token_id'),
      forcedEosTokenId: nullable('forced_eos_token_id'),
    },
    where,
    [
      'vocabSize',
      'dModel',
      'encoderLayers',
      'decoderLayers',
      'encoderHeads',
      'decoderHeads',
      'encoderFfnDim',
      'decoderFfnDim',
      'maxPositionEmbeddings',
    ],
    ['padTokenId', 'eosTokenId', 'decoderStartTokenId', 'forcedEosTokenId'],
    'eps',
    [
      ['dModel', 'encoderHeads'],
      ['dModel', 'decoderHeads'],
    ],
  );
}
