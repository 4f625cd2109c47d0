import { FEATURE_COUNT } from '../git/expertFeatures.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor as OrtTensor } from 'onnxruntime-node';
import { loadModelFolder, type ModelFolder, requireKind } from '../models/modelFolder.js';
import { initJitFineHead, isJitFineHead } from '../models/heads.js';
import { CodeTokenizer } from '../models/tokenizer.js';
import { loadChatTemplate, type ChatMessage, type ChatTemplate } from '../models/chatTemplate.js';
import { chatRow } from './chatRows.js';
import { int8Weights } from '../runtime/int8Kernel.js';
import { ort } from '../runtime/session.js';
import { seededRandom, padBatch } from '../train/batching.js';
import { decideRecompute, type RecomputeMode } from '../train/memory.js';
import { TrainSession } from '../train/trainSession.js';
import { trainLoop } from '../train/trainLoop.js';
import { ChangelingError } from '../util/errors.js';
import { DEFAULT_PREFIX } from './prefix/config.js';
import { peftCausalPrefixConfig } from './prefix/peftPrefix.js';
import { buildTuningGraph, trainsWeight, defaultTuning, tuningOf, type Tuning } from './tuningGraph.js';
import { readAdapter, writeAdapter } from './files.js';
import { encodeSafetensors } from '../models/safetensors.js';
import { writeBytesAtomic } from '../util/atomicFile.js';
import { copyFiles, folderTarget, writeOutputFolder } from '../util/outputTarget.js';
import { TRAIN_BOUNDS, checkNumber } from '../util/numbers.js';
import { readTextFile } from '../util/jsonFile.js';
import { TOKENIZER_FILES } from '../models/manifest.js';
import { METHODS, savesAdapter, type Method } from './methods.js';
import { int8Eligible, int8Rows } from '../graph/quantize.js';
import type { Int8Weight, TakeWeight } from '../models/weights.js';

/** How the frozen weights are held while training (`--frozen`). */
export const FROZEN_MODES = ['fp32', 'int8', 'int8-fast'] as const;
export type FrozenMode = (typeof FROZEN_MODES)[number];

/** Frozen matrices from 32 x 32 up go to int8 with --frozen int8: all that matter for memory, and a tiny model's too, so its runs exercise the path. */
const INT8_MIN_SIZE = 32;

/**
 * `changeling train`: one PEFT method (or full fine-tuning) on a model folder and a JSONL dataset, saved
 * in PEFT's format. Sequence-to-sequence data ({"input_ids", "labels"} or {"text", "target"}) trains T5 or
 * BART with token cross-entropy (labels of -100 are not scored; an optional "decoder_input_ids", as long as
 * the labels, replaces the labels shifted right: a history prefix the model reads but is not scored on); classification data ({"input_ids" | "text", "label", "features"?}) trains a
 * RoBERTa encoder with the JIT-Fine head (expert features, BCE).
 */
export type { Method } from './methods.js';

export interface TrainOptions {
  model: string;
  method: Method;
  data: string;
  out: string;
  steps?: number;
  epochs?: number;
  lr?: number;
  batch?: number;
  seed?: number;
  weightDecay?: number;
  clip?: number | null;
  schedule?: 'constant' | 'linear';
  init?: string;
  lora?: Partial<{ r: number; alpha: number; dropout: number; targets: string[]; rslora: boolean; layers: number[] }>;
  adapterSize?: number;
  prefixTokens?: number;
  /** Prefix-tuning in PEFT's T5 mode (decoder self-attention only, PEFT's files) instead of every attention. */
  peftPrefix?: boolean;
  maxSourceLength?: number;
  maxTargetLength?: number;
  signal?: AbortSignal;
  onStep?: (step: number, loss: number) => void;
  onResume?: (step: number) => void;
  /** A checkpoint file: written every `checkpointEvery` updates (default 50) and resumed from when present. */
  checkpoint?: string;
  checkpointEvery?: number;
  /** Execution provider and threads for the train step. */
  provider?: string;
  threads?: number;
  /** Attention probabilities recomputed in the backward: `auto` (default) when memory is short (train/memory.ts). */
  recompute?: RecomputeMode;
  /** How the frozen weights are held while training: fp32 (default), or int8 with one scale per row (graph/quantize.ts). */
  frozen?: FrozenMode;
  /** More files saved with the result (a model profile), in the same folder output. */
  files?: Record<string, string>;
  /** The output lives in Changeling's own state (a fine-tuning run's folder). */
  ownedOutput?: boolean;
}

interface TrainingExample {
  input: number[];
  labels?: number[];
  /** The decoder's inputs when they are not the labels shifted right (a history prefix masked out of the labels with -100). */
  decoder?: number[];
  label?: number;
  features?: number[];
}

async function readData(path: string, model: ModelFolder, o: TrainOptions): Promise<TrainingExample[]> {
  const text = await readTextFile(path, { what: 'the training data' });
  let tok: CodeTokenizer | null = null;
  const tokenize = async (s: string, max: number) => {
    tok ??= await CodeTokenizer.fromFolder(model.dir);
    return tok.encode(s).ids.slice(0, max);
  };
  let chat: { template: ChatTemplate; tok: CodeTokenizer } | null = null;
  /** A chat row: rendered with the model's template, learnt on its assistant turns (chatRows.ts). */
  const chatExample = async (messages: unknown, where: string): Promise<TrainingExample> => {
    if (!Array.isArray(messages) || !messages.every((m) => m && typeof m.role === 'string' && typeof m.content === 'string'))
      throw new ChangelingError('usage', `${where}: "messages" must be a list of {"role", "content"} with string contents`);
    if (!chat) {
      const template = await loadChatTemplate(model.dir);
      if (!template)
        throw new ChangelingError('usage', `${model.dir} has no chat template: chat rows need one (or give input_ids and labels)`);
      chat = { template, tok: await CodeTokenizer.fromFolder(model.dir) };
    }
    const row = chatRow(messages as ChatMessage[], chat.template, chat.tok, where);
    const limit = o.maxSourceLength ?? 2048;
    return { input: row.inputIds.slice(0, limit), labels: row.labels.slice(0, limit) };
  };
  const out: TrainingExample[] = [];
  const lines = text.split('\n').filter((l) => l.trim());
  for (const [i, line] of lines.entries()) {
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line);
    } catch {
      throw new ChangelingError('usage', `${path}:${i + 1}: not a JSON object`);
    }
    const where = `${path}:${i + 1}`;
    if (model.kind === 'llama' && r.messages !== undefined) {
      out.push(await chatExample(r.messages, where));
      continue;
    }
    const ids = Array.isArray(r.input_ids)
      ? (r.input_ids as number[])
      : typeof r.text === 'string'
        ? await tokenize(r.text, o.maxSourceLength ?? 512)
        : null;
    if (!ids || !ids.every(Number.isInteger)) throw new ChangelingError('usage', `${where}: needs "input_ids" (integers) or "text"`);
    const vocab = model.config.vocabSize;
    const outside = ids.find((x) => x < 0 || x >= vocab);
    if (outside !== undefined)
      throw new ChangelingError(
        'usage',
        `${where}: input id ${outside} is outside the model's vocabulary (0 to ${vocab - 1}); was the data made with another tokenizer?`,
      );
    if (model.kind === 'llama') {
      // A causal LM's rows: the labels as long as the ids (-100 where nothing is learnt), shifted inside.
      const labels = r.labels;
      if (!(
        Array.isArray(labels) &&
        labels.length === ids.length &&
        labels.every((x) => x === -100 || (Number.isInteger(x) && x >= 0 && x < vocab))
      ))
        throw new ChangelingError(
          'usage',
          `${where}: a causal LM's data needs "labels" as many as "input_ids" (ids of the vocabulary, or -100 where nothing is learnt)`,
        );
      out.push({ input: ids, labels: labels as number[] });
    } else if (model.kind === 'roberta') {
      const label = r.label;
      if (label !== 0 && label !== 1) throw new ChangelingError('usage', `${where}: classification data needs "label": 0 or 1`);
      const f = r.features;
      if (f !== undefined && !(Array.isArray(f) && f.length === FEATURE_COUNT && f.every((x) => typeof x === 'number')))
        throw new ChangelingError('usage', `${where}: "features" must be ${FEATURE_COUNT} numbers`);
      out.push({ input: ids, label, features: (f as number[] | undefined) ?? new Array(FEATURE_COUNT).fill(0) });
    } else {
      const labels = Array.isArray(r.labels)
        ? (r.labels as number[])
        : typeof r.target === 'string'
          ? await tokenize(r.target, o.maxTargetLength ?? 128)
          : null;
      if (!labels || !labels.every(Number.isInteger))
        throw new ChangelingError('usage', `${where}: sequence-to-sequence data needs "labels" (integers) or "target"`);
      const badLabel = labels.find((x) => x !== -100 && (x < 0 || x >= vocab));
      if (badLabel !== undefined)
        throw new ChangelingError(
          'usage',
          `${where}: label ${badLabel} is outside the model's vocabulary (0 to ${vocab - 1}, or -100 to skip)`,
        );
      const dec = r.decoder_input_ids;
      if (dec !== undefined && !(Array.isArray(dec) && dec.length === labels.length && dec.every((x) => Number.isInteger(x) && x >= 0)))
        throw new ChangelingError('usage', `${where}: "decoder_input_ids" must be as many ids as "labels"`);
      out.push({ input: ids, labels, ...(dec ? { decoder: dec as number[] } : {}) });
    }
  }
  if (out.length === 0) throw new ChangelingError('usage', `${path} has no examples`);
  return out;
}

export interface TrainResult {
  steps: Array<{ step: number; loss: number }>;
  out: string;
  trainableParameters: number;
  seconds: number;
  peakRssMiB: number;
  /** Whether attention was recomputed in the backward, and what keeping it would have held (bytes). */
  attention: { recomputed: boolean; lean: boolean; keptBytes: number };
  /** Whole blocks recomputed from their inputs in the backward. */
  blocksRecomputed: boolean;
  /** How the frozen weights were held, and the fp32 bytes int8 saved. */
  frozen: FrozenMode;
  frozenSavedBytes: number;
}

/** The method and its settings: an --init adapter's own config when continuing one, else the options' (with the defaults). */
function tuningFor(o: TrainOptions, model: ModelFolder, initConfig: Record<string, unknown> | null): Tuning {
  if (!savesAdapter(o.method)) {
    if (o.init) throw new ChangelingError('usage', '--init continues an adapter; full fine-tuning starts from --model itself');
    return { method: 'fmft' };
  }
  // A decoder-only model's prefix-tuning is PEFT's (its past_key_values form) whether --peft-prefix is said or not.
  const peftPrefix = o.method === 'prefix' && (o.peftPrefix || model.kind === 'llama');
  if (initConfig) {
    const t = tuningOf(initConfig, join(o.init!, 'adapter_config.json'));
    const wanted = peftPrefix ? 'peft-prefix' : o.method;
    if (t.method !== wanted) throw new ChangelingError('usage', `${o.init} is a ${t.method} adapter, not ${wanted}`);
    return t;
  }
  if (!peftPrefix) return defaultTuning(model.kind, o.method, { lora: o.lora, adapterSize: o.adapterSize, prefixTokens: o.prefixTokens });
  const P = o.prefixTokens ?? DEFAULT_PREFIX.numVirtualTokens;
  if (model.kind === 'llama') return { method: 'peft-prefix', config: peftCausalPrefixConfig(model.config, P) };
  if (model.kind !== 't5')
    throw new ChangelingError(
      'usage',
      "PEFT's prefix mode (--peft-prefix) is for T5 and decoder-only models; use --method prefix without it",
    );
  return {
    method: 'peft-prefix',
    config: {
      numVirtualTokens: P,
      numLayers: model.config.numDecoderLayers,
      tokenDim: model.config.dModel,
      numAttentionHeads: model.config.numHeads,
    },
  };
}

export async function trainAdapter(o: TrainOptions): Promise<TrainResult> {
  // Numbers and the output are checked before any work: a diverging rate or a refused folder fails now, not after training.
  for (const k of ['lr', 'weightDecay', 'steps', 'epochs', 'batch'] as const)
    if (o[k] !== undefined) checkNumber(k === 'weightDecay' ? 'the weight decay' : `the ${k}`, o[k], TRAIN_BOUNDS[k], 'usage');
  if (o.clip !== undefined && o.clip !== null) checkNumber('the clipping norm', o.clip, TRAIN_BOUNDS.clip, 'usage');
  folderTarget(o.out, 'the output folder', { owned: o.ownedOutput });
  const rt = await ort();
  const model = requireKind(await loadModelFolder(o.model), ['t5', 'bart', 'roberta', 'llama'], 'training');
  const data = await readData(o.data, model, o);
  const seed = o.seed ?? 42;
  const rand = seededRandom(seed);
  const init = o.init ? await readAdapter(o.init) : null;
  /** An --init adapter's value for a parameter, checked against the shape this model needs. */
  const initOf = (t: { name: string; shape: readonly (number | string)[] }, fresh: Float32Array): Float32Array => {
    const w = init?.weights.get(t.name);
    if (!w) return fresh;
    if (w.shape.join(',') !== t.shape.join(','))
      throw new ChangelingError(
        'usage',
        `${o.init}: ${t.name} has shape [${w.shape.join(', ')}] but this model needs [${t.shape.join(', ')}]: an adapter for another model size, or one whose config does not match its tensors`,
      );
    return w.data;
  };
  const tuning = tuningFor(o, model, init?.config ?? null);
  // With --frozen int8, each frozen matrix is quantized as it is read (the model is never whole in fp32 here).
  const int8 = new Map<string, Int8Weight>();
  const take: TakeWeight = (name, w) => {
    if (trainsWeight(tuning, name) || !int8Eligible(w.shape, INT8_MIN_SIZE)) return false;
    const [rows, cols] = w.shape as [number, number];
    int8.set(name, { shape: [rows, cols], ...int8Rows(w.data, rows, cols) });
    return true;
  };
  const weights =
    (o.frozen ?? 'fp32') === 'fp32'
      ? await model.loadWeights()
      : model.readWeights
        ? await model.readWeights(take)
        : new Map([...(await model.loadWeights())].filter(([name, w]) => !take(name, w)));
  // Base weights the adapter being continued trained (layer norms with adapters, a task head) start where it left them.
  for (const [k, v] of init?.extra ?? []) {
    const base = weights.get(k);
    if ((!base && !isJitFineHead(k)) || (base && base.shape.join(',') !== v.shape.join(',')))
      throw new ChangelingError(
        'usage',
        `${o.init}: extra_trainable.safetensors has ${k} [${v.shape.join(', ')}], which this model does not have`,
      );
    weights.set(k, v);
  }
  if (model.kind === 'roberta') initJitFineHead(weights, model.config.hiddenSize, rand);
  const int8Compute = o.frozen === 'int8-fast';
  const int8Unsigned = int8Compute && (await int8Weights()) === 'unsigned';
  const g = buildTuningGraph(model, weights, tuning, { training: true, rand, initOf, int8, int8Compute, int8Unsigned });
  const b = g.b;
  const loss = g.loss!;
  const params = g.params;
  const saveConfig = g.config;
  const batchSize = o.batch ?? 8;
  const steps = o.steps ?? (o.epochs ? Math.ceil(data.length / batchSize) * o.epochs : 100);
  const longest = (f: (e: TrainingExample) => number) => Math.max(1, ...data.map(f));
  const frozenSavedBytes = [...int8.values()].reduce((n, q) => n + 3 * q.q.length - q.scale.byteLength, 0);
  const memory = decideRecompute(o.recompute, b, {
    batch: batchSize,
    src: longest((e) => e.input.length),
    tgt: longest((e) => e.labels?.length ?? 0),
  });
  const session = await TrainSession.create(
    b,
    loss,
    params,
    {
      recomputeAttention: memory.recompute,
      recomputeBlocks: memory.blocks,
      lr: o.lr ?? METHODS[o.method].lr.train,
      weightDecay: o.weightDecay ?? 0.01,
      clipNorm: o.clip === undefined ? 1.0 : o.clip,
      schedule: o.schedule === 'linear' ? { kind: 'linear', warmup: 0, total: steps } : { kind: 'constant' },
    },
    {
      provider: o.provider,
      intraOpThreads: o.threads,
      lean: memory.lean,
      // The frozen weights become onnxruntime's: dropped here, before it reads them (full fine-tuning reads the
      // file again to save the model).
      beforeLoad: () => {
        weights.clear();
        int8.clear();
        model.releaseWeights?.();
      },
    },
  );
  // A causal LM without a pad id is padded with its first EOS id (attention mask 0, labels -100), as transformers pads it.
  const pad = model.kind === 'llama' ? (model.config.padTokenId ?? model.config.eosTokenIds[0] ?? 0) : model.config.padTokenId;
  const start =
    model.kind === 't5'
      ? model.config.decoderStartTokenId
      : model.kind === 'bart'
        ? (model.config.decoderStartTokenId ?? model.config.eosTokenId)
        : 0;
  const hasDropout = b.inputs.some((t) => t.name === 'dropout_seed');
  let stepNo = 0;
  const toFeeds = (batch: TrainingExample[]): Record<string, OrtTensor> => {
    const src = padBatch(
      batch.map((e) => e.input),
      pad,
    );
    const feeds: Record<string, OrtTensor> = {
      input_ids: new rt.Tensor('int64', src.ids, src.shape),
      attention_mask: new rt.Tensor('int64', src.mask, src.shape),
    };
    if (model.kind === 'llama') {
      const T = src.shape[1]!;
      const labels = new BigInt64Array(batch.length * T).fill(-100n);
      batch.forEach((e, i) => e.labels!.forEach((v, j) => (labels[i * T + j] = BigInt(v))));
      feeds.labels = new rt.Tensor('int64', labels, [batch.length, T]);
    } else if (model.kind === 'roberta') {
      feeds.expert_features = new rt.Tensor('float32', Float32Array.from(batch.flatMap((e) => e.features!)), [batch.length, FEATURE_COUNT]);
      feeds.labels = new rt.Tensor('float32', Float32Array.from(batch.map((e) => e.label!)), [batch.length]);
    } else {
      const T = Math.max(...batch.map((e) => e.labels!.length));
      const labels = new BigInt64Array(batch.length * T).fill(-100n);
      const dec = new BigInt64Array(batch.length * T).fill(BigInt(pad));
      batch.forEach((e, i) =>
        e.labels!.forEach((v, j) => {
          labels[i * T + j] = BigInt(v);
          if (e.decoder) dec[i * T + j] = BigInt(e.decoder[j]!);
          else if (j + 1 < T) dec[i * T + j + 1] = BigInt(v);
        }),
      );
      batch.forEach((e, i) => e.decoder || (dec[i * T] = BigInt(start)));
      feeds.labels = new rt.Tensor('int64', labels, [batch.length, T]);
      feeds.decoder_input_ids = new rt.Tensor('int64', dec, [batch.length, T]);
    }
    if (hasDropout) feeds.dropout_seed = new rt.Tensor('int64', BigInt64Array.from([BigInt(seed * 100003 + ++stepNo)]), []);
    return feeds;
  };
  const log: Array<{ step: number; loss: number }> = [];
  const t0 = performance.now();
  await trainLoop({
    session,
    train: data,
    batchSize,
    maxSteps: steps,
    seed,
    signal: o.signal,
    toFeeds,
    checkpoint: o.checkpoint,
    checkpointEvery: o.checkpoint ? (o.checkpointEvery ?? 50) : undefined,
    lengthOf: (e) => e.input.length,
    onEvent: (e) => {
      if (e.kind === 'resumed') o.onResume?.(e.step);
      if (e.kind !== 'step') return;
      log.push({ step: e.step, loss: e.loss });
      o.onStep?.(e.step, e.loss);
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  // Save: PEFT's format for LoRA and prefixes, Changeling's bottleneck format for adapters, the full model for FMFT.
  const tensors = Object.fromEntries(
    params.map((p) => [p.tensor.name, { shape: p.tensor.shape as number[], data: session.value(p.tensor.name) }]),
  );
  const extraText = Object.fromEntries(Object.entries(o.files ?? {}).map(([k, v]) => [k, Buffer.from(v)]));
  const out = { what: 'the trained model', owned: o.ownedOutput };
  if (!savesAdapter(o.method)) {
    const all = await model.loadWeights();
    for (const [k, v] of Object.entries(tensors)) all.set(k, v);
    await writeOutputFolder(
      o.out,
      async (dir) => {
        await writeBytesAtomic(join(dir, 'model.safetensors'), encodeSafetensors(Object.fromEntries(all), { format: 'pt' }));
        // The tokenizer, the generation defaults and a chat template come along: a complete model for generation.
        await copyFiles(model.dir, dir, ['config.json', 'generation_config.json', 'chat_template.jinja', ...TOKENIZER_FILES]);
        for (const [k, v] of Object.entries(extraText)) await writeBytesAtomic(join(dir, k), v);
      },
      out,
    );
  } else {
    // The method's own tensors go to adapter_model.safetensors (PEFT's keys); base weights it also trained
    // (a task head, layer norms with adapters) to extra_trainable.safetensors beside it.
    const isAdapterKey = (k: string) => k.startsWith('base_model.') || k === 'prompt_embeddings';
    const pick = (keep: boolean) => Object.fromEntries(Object.entries(tensors).filter(([k]) => isAdapterKey(k) === keep));
    const extra = pick(false);
    await writeAdapter(
      o.out,
      saveConfig!,
      pick(true),
      { ...(Object.keys(extra).length ? { 'extra_trainable.safetensors': encodeSafetensors(extra, { format: 'pt' }) } : {}), ...extraText },
      out,
    );
  }
  if (!existsSync(o.out)) throw new ChangelingError('io', `nothing was written to ${o.out}`);
  return {
    steps: log,
    out: o.out,
    trainableParameters: params.reduce((n, p) => n + p.init.length, 0),
    seconds,
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    attention: { recomputed: memory.recompute, lean: memory.lean, keptBytes: memory.attentionBytes },
    blocksRecomputed: memory.blocks,
    frozen: o.frozen ?? 'fp32',
    frozenSavedBytes,
  };
}
