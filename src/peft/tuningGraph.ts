import { FEATURE_COUNT } from '../git/expertFeatures.js';
import { GraphBuilder } from '../graph/builder.js';
import type { Tensor } from '../graph/ir.js';
import { requireKind, type ModelFolder } from '../models/modelFolder.js';
import { GraphWeights, type Int8Weight, type WeightMap } from '../models/weights.js';
import { int8ForwardProducts, placeInt8Weights } from '../graph/quantize.js';
import { t5Decoder, t5Encoder } from '../models/t5.js';
import { bartDecoder, bartEncoder } from '../models/bart.js';
import { roberta } from '../models/roberta.js';
import { isJitFineHead, jitFineHead } from '../models/heads.js';
import type { ParamSpec } from '../train/trainSession.js';
import type { AdapterMethod } from './methods.js';
import { causalLmLoss, llamaStack } from '../models/llama.js';
import type { KeyValue } from '../models/layers.js';
import { ChangelingError } from '../util/errors.js';
import { defaultLoraConfig, loraConfigJson, parseLoraConfig, type LoraConfig } from './lora/config.js';
import { initLora, injectLora } from './lora/inject.js';
import { DEFAULT_ADAPTER, adapterConfigJson, parseAdapterConfig, type AdapterConfig } from './adapter/config.js';
import { initAdapter, injectAdapters, isLayerNorm } from './adapter/inject.js';
import { DEFAULT_PREFIX, PREFIX_TYPE, parsePrefixConfig, prefixConfigJson, type PrefixConfig } from './prefix/config.js';
import { initPrefix, injectPrefixes } from './prefix/inject.js';
import { parsePeftPrefixConfig, peftCausalPrefix, peftPrefixConfigJson, peftT5Prefix, type PeftPrefixConfig } from './prefix/peftPrefix.js';

/**
 * One builder of the graph that tunes a model: the architecture, one PEFT method (or full fine-tuning) and
 * the loss head, with the method's parameters and their initialisers. `changeling train`, `changeling
 * finetune` (through train) and the JIT-Fine risk model all build their graphs here, so a method is injected,
 * initialised and saved the same way wherever it is used.
 *
 * Heads: T5/BART get token cross-entropy over `labels` (-100 not scored); a RoBERTa gets JIT-Fine's head over
 * the first token and the expert features: BCE over `labels` when training, else the outputs `logit` [batch]
 * and `attention` [batch, seq] (the last layer's first-token attention averaged over heads, prefix slots cut).
 */
export type Tuning =
  | { method: 'lora'; config: LoraConfig }
  | { method: 'adapter'; config: AdapterConfig }
  | { method: 'prefix'; config: PrefixConfig }
  | { method: 'peft-prefix'; config: PeftPrefixConfig }
  | { method: 'fmft' };

/**
 * A method with the shared defaults (each method's config.ts: LoRA r 8, alpha 32 on the query and value
 * projections; adapters of 128; 20 virtual tokens) and any settings given: what train, finetune and the risk
 * model all start from.
 */
export function defaultTuning(
  kind: ModelFolder['kind'],
  method: AdapterMethod,
  o: { lora?: Parameters<typeof defaultLoraConfig>[1]; adapterSize?: number; prefixTokens?: number } = {},
): Tuning {
  if (method === 'lora') return { method, config: defaultLoraConfig(kind, o.lora) };
  if (method === 'adapter') return { method, config: { ...DEFAULT_ADAPTER, size: o.adapterSize ?? DEFAULT_ADAPTER.size } };
  return { method, config: { numVirtualTokens: o.prefixTokens ?? DEFAULT_PREFIX.numVirtualTokens } };
}

/** A saved adapter's tuning, from its adapter_config.json. */
export function tuningOf(raw: Record<string, unknown>, where = 'adapter_config.json'): Exclude<Tuning, { method: 'fmft' }> {
  switch (raw.peft_type) {
    case 'LORA':
      return { method: 'lora', config: parseLoraConfig(raw, where) };
    case 'CHANGELING_BOTTLENECK':
      return { method: 'adapter', config: parseAdapterConfig(raw, where) };
    case PREFIX_TYPE:
      return { method: 'prefix', config: parsePrefixConfig(raw, where) };
    case 'PREFIX_TUNING':
      return { method: 'peft-prefix', config: parsePeftPrefixConfig(raw, where) };
    default:
      throw new ChangelingError(
        'io',
        `${where}: peft_type ${String(raw.peft_type)} is not one Changeling runs (LORA, PREFIX_TUNING, CHANGELING_BOTTLENECK, CHANGELING_PREFIX)`,
      );
  }
}

export interface TuningGraph {
  b: GraphBuilder;
  /** The loss when training; null for an inference graph. */
  loss: Tensor | null;
  /** Every trainable tensor with its initial value: base weights the method trains first, then the method's own. */
  params: ParamSpec[];
  /** adapter_config.json of the method (PEFT's, or Changeling's in PEFT's style); null for full fine-tuning. */
  config: Record<string, unknown> | null;
}

export interface TuningGraphOptions {
  training: boolean;
  /** The stream that initialises the method's parameters. */
  rand: () => number;
  /** A parameter's starting value: `fresh`, or one taken from an adapter being continued. */
  initOf?: (t: Tensor, fresh: Float32Array) => Float32Array;
  /** Recorded in the config as base_model_name_or_path. */
  baseModel?: string;
  /** Frozen matrices read in int8 (`--frozen int8`), by weight name: not in `weights`. */
  int8?: ReadonlyMap<string, Int8Weight>;
  /** With `int8`: the products no gradient flows through computed in int8 too (`--frozen int8-fast`). */
  int8Compute?: boolean;
  /** Those products' weights as uint8 with a zero point (this CPU's signed int8 kernel saturates: runtime/int8Kernel.ts). */
  int8Unsigned?: boolean;
}

/** Whether a base weight trains with this method (besides a task head, which always does). */
function trainsBaseWeight(tuning: Tuning, name: string): boolean {
  return tuning.method === 'fmft' || (tuning.method === 'adapter' && tuning.config.trainLayerNorms && isLayerNorm(name));
}

/** Whether a model weight trains under this tuning (the method's base weights, a task head). */
export const trainsWeight = (tuning: Tuning, name: string) => trainsBaseWeight(tuning, name) || isJitFineHead(name);

export function buildTuningGraph(folder: ModelFolder, weights: WeightMap, tuning: Tuning, o: TuningGraphOptions): TuningGraph {
  const model = requireKind(folder, ['t5', 'bart', 'roberta', 'llama'], 'training');
  const initOf = o.initOf ?? ((_t: Tensor, fresh: Float32Array) => fresh);
  const b = new GraphBuilder(`tune-${tuning.method}`);
  const w = new GraphWeights(b, weights, (n) => trainsWeight(tuning, n), {}, o.int8);
  const ids = b.input('input_ids', 'int64', ['batch', 'src']);
  const mask = b.input('attention_mask', 'int64', ['batch', 'src']);
  const taskType = model.kind === 'roberta' ? 'FEATURE_EXTRACTION' : model.kind === 'llama' ? 'CAUSAL_LM' : 'SEQ_2_SEQ_LM';
  const baseModel = o.baseModel ?? model.dir;
  if (tuning.method === 'prefix' && model.kind === 'llama')
    throw new ChangelingError('usage', "a decoder-only model's prefix-tuning is PEFT's (its past_key_values form), not Changeling's");
  if (tuning.method === 'peft-prefix' && model.kind !== 't5' && model.kind !== 'llama')
    throw new ChangelingError(
      'usage',
      "PEFT's prefix mode (--peft-prefix) is for T5 and decoder-only models; use --method prefix without it",
    );
  let loss: Tensor | null = null;
  let logit: Tensor | null = null;
  let attention: Tensor | null = null;
  let promptEmbeddings: Tensor | null = null;
  if (model.kind === 'roberta') {
    const feats = b.input('expert_features', 'float32', ['batch', FEATURE_COUNT]);
    const attentions: Tensor[] = [];
    const prefix = [...weights.keys()].some((k) => k.startsWith('roberta.')) ? 'roberta.' : '';
    const enc = roberta(b, model.config, w, ids, mask, { prefix, attentions: o.training ? undefined : attentions });
    logit = b.reshape(jitFineHead(b, w, enc.lastHidden, feats), [-1]);
    if (o.training) loss = b.bceWithLogits(logit, b.input('labels', 'float32', ['batch']));
    else attention = b.reduceMean(b.slice(attentions.at(-1)!, [0], [1], [2]), [1, 2], false);
  } else if (model.kind === 'llama') {
    if (!o.training) throw new ChangelingError('usage', 'decoder-only inference graphs are built by the runtime, not the tuning builder');
    // transformers' causal LM loss over the whole right-padded rows at once (no cache of tokens). With PEFT's
    // prefix the cache starts with the prefix's keys and values: every row sees them, tokens sit at P, P + 1, ...
    const c = model.config;
    const labels = b.input('labels', 'int64', ['batch', 'src']);
    let positionIds = b.unsqueeze(b.range({ of: ids, axis: 1 }), [0]);
    let attentionMask = mask;
    let past: KeyValue[] = [];
    if (tuning.method === 'peft-prefix') {
      const pre = peftCausalPrefix(b, c, tuning.config);
      promptEmbeddings = pre.embeddings;
      const P = tuning.config.numVirtualTokens;
      const rows = b.slice(b.shapeOf(ids), [0], [1], [0]);
      const kvShape = b.concat([rows, b.ints([c.numKeyValueHeads, P, c.headDim])], 0);
      const each = (t: Tensor) => b.expand(t, kvShape, ['batch', c.numKeyValueHeads, P, c.headDim]);
      past = Array.from({ length: c.numLayers }, (_, i) => {
        const kv = pre.layer(i);
        return { key: each(kv.key), value: each(kv.value) };
      });
      attentionMask = b.concat([b.constantOfShape(b.concat([rows, b.ints([P])], 0), 'int64', 1, ['batch', P]), mask], 1);
      positionIds = b.add(positionIds, b.constant(P, 'int64', []));
    }
    const { hidden } = llamaStack(b, c, w, { inputIds: ids, attentionMask, positionIds, past });
    loss = causalLmLoss(b, c, w, hidden, labels);
  } else {
    if (!o.training)
      throw new ChangelingError('usage', 'sequence-to-sequence inference graphs are built by the runtime, not the tuning builder');
    const dec = b.input('decoder_input_ids', 'int64', ['batch', 'tgt']);
    const labels = b.input('labels', 'int64', ['batch', 'tgt']);
    let logits: Tensor;
    if (model.kind === 't5') {
      let selfPrefix;
      if (tuning.method === 'peft-prefix') {
        selfPrefix = peftT5Prefix(b, model.config, tuning.config);
        promptEmbeddings = selfPrefix.embeddings;
      }
      logits = t5Decoder(b, model.config, w, dec, t5Encoder(b, model.config, w, ids, mask), mask, { selfPrefix });
    } else {
      logits = bartDecoder(b, model.config, w, dec, bartEncoder(b, model.config, w, ids, mask), mask);
    }
    loss = b.crossEntropy(logits, labels);
  }
  // The method's own parameters, with their initialisers.
  const own: Array<{ tensor: Tensor; fresh: Float32Array }> = [];
  let config: Record<string, unknown> | null = null;
  if (tuning.method === 'lora') {
    const cfg = { ...tuning.config, taskType, baseModel };
    const dropoutSeed = o.training && cfg.loraDropout > 0 ? b.input('dropout_seed', 'int64', []) : null;
    for (const l of injectLora(b, { ...cfg, loraDropout: o.training ? cfg.loraDropout : 0 }, { dropoutSeed })) {
      const fresh = initLora(l, o.rand);
      own.push({ tensor: l.a, fresh: fresh.a }, { tensor: l.b, fresh: fresh.b });
    }
    config = loraConfigJson(cfg);
  } else if (tuning.method === 'adapter') {
    for (const a of injectAdapters(b, tuning.config)) {
      const fresh = initAdapter(a, tuning.config.size, o.rand);
      for (const t of Object.values(a.params)) own.push({ tensor: t, fresh: fresh[t.name]! });
    }
    config = adapterConfigJson(tuning.config, baseModel, taskType);
  } else if (tuning.method === 'prefix') {
    const P = tuning.config.numVirtualTokens;
    const prefixes = injectPrefixes(b, P);
    for (const p of prefixes) {
      const fresh = initPrefix(p, o.rand);
      own.push({ tensor: p.key, fresh: fresh[p.key.name]! }, { tensor: p.value, fresh: fresh[p.value.name]! });
    }
    // The first token's attention also covers the P prefix slots: cut off, so line scores index the tokens.
    if (attention) attention = b.slice(attention, [P], [2 ** 31 - 1], [1]);
    config = prefixConfigJson(
      tuning.config,
      baseModel,
      taskType,
      prefixes.map((p) => p.site),
    );
  } else if (tuning.method === 'peft-prefix') {
    const E = promptEmbeddings!;
    const n = (E.shape as number[]).reduce((a, d) => a * d, 1);
    // PEFT's default: N(0, 1) (Box-Muller over the seeded stream).
    const normal = () => Math.sqrt(-2 * Math.log(Math.max(o.rand(), 1e-12))) * Math.cos(2 * Math.PI * o.rand());
    own.push({ tensor: E, fresh: Float32Array.from({ length: n }, normal) });
    config = peftPrefixConfigJson(tuning.config, baseModel, taskType);
  }
  if (o.int8?.size) placeInt8Weights(b);
  if (logit && !o.training) {
    b.output(logit, 'logit');
    b.output(attention!, 'attention');
  }
  if (o.int8?.size && o.int8Compute)
    int8ForwardProducts(b, [...w.trainable.map((p) => p.tensor), ...own.map((p) => p.tensor)], { unsigned: o.int8Unsigned });
  const params: ParamSpec[] = [
    ...w.trainable.map((p) => ({ ...p })),
    ...own.map(({ tensor, fresh }) => ({ tensor, init: initOf(tensor, fresh), decay: !tensor.name.endsWith('bias') })),
  ];
  return { b, loss, params, config };
}
