import { join } from 'node:path';
import { existsSync } from 'node:fs';
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { FEATURE_COUNT, FEATURE_NAMES } from '../../git/expertFeatures.js';
import { serialize } from '../../graph/serialize.js';
import { loadModelFolder, type ModelFolder } from '../../models/modelFolder.js';
import { encodeSafetensors } from '../../models/safetensors.js';
import { CodeTokenizer } from '../../models/tokenizer.js';
import { readAdapter, writeAdapterFiles } from '../../peft/files.js';
import { isLayerNorm } from '../../peft/adapter/inject.js';
import { buildTuningGraph, defaultTuning, tuningOf, type Tuning } from '../../peft/tuningGraph.js';
import { initJitFineHead, isJitFineHead } from '../../models/heads.js';
import { loadSafetensors, type WeightMap } from '../../models/weights.js';
import { decideRecompute, type RecomputeMode } from '../../train/memory.js';
import { TrainSession } from '../../train/trainSession.js';
import { createSession, ort } from '../../runtime/session.js';
import { precisionPlan } from '../../runtime/precision.js';
import { padBatch, seededRandom } from '../../train/batching.js';
import { trainLoop, type TrainEvent } from '../../train/trainLoop.js';
import { jitdpMetrics, type JitdpMetrics } from '../../eval/jitdpMetrics.js';
import { ChangelingError, cancelledError } from '../../util/errors.js';
import { readJsonFile } from '../../util/jsonFile.js';
import { validationAuc } from './validationAuc.js';
import { calibrate, calibrated, checkRiskHead, type Calibration } from './calibration.js';
import type { JitdpCommit } from './dataset.js';
import { encodeChange, linesOfText, type ChangedLine } from './input.js';
import { occlusionReasons, type Reason } from './reasons.js';
import { fitScaling, occlusionVariants, scaleFeatures, type FeatureScaling } from './scaling.js';
import { METHODS, parseMethod, RISK_METHODS, type RiskMethod } from '../../peft/methods.js';

/**
 * The JIT-Fine-style model of the study: a frozen RoBERTa-family encoder (CodeBERT, GraphCodeBERT,
 * UniXcoder) with LoRA or bottleneck adapters, and JIT-Fine's head over the first token's state and the 14
 * expert features (scaled as `scaling.ts` says), trained with binary cross-entropy by the PEFT engine. The
 * checkpoint kept is the one with the best validation AUC (evaluated twice an epoch); its probabilities are
 * Platt-calibrated on validation and the threshold is chosen there.
 *
 * Explanations, and how they are computed (stated because a neural model has no exact decomposition):
 * - feature contributions by occlusion: the change in the calibrated logit when one feature is set to the
 *   training mean (its scaled value to 0), the others kept;
 * - line scores as JIT-Fine ranks lines: the last layer's attention from the first token, averaged over
 *   heads, summed over each line's tokens (lines cut off by the length budget get no score).
 *
 * Saved as a folder: PEFT's adapter_config.json and adapter_model.safetensors (LoRA) or Changeling's
 * bottleneck adapter files, extra_trainable.safetensors (the head and any trained layer norms), and
 * jitdp.json (encoder folder, scaling, calibration, threshold, input length).
 */
export type NeuralMethod = RiskMethod;

export interface NeuralOptions {
  /** A RoBERTa-family model folder with its tokenizer. */
  encoder: string;
  method?: NeuralMethod;
  epochs?: number;
  batch?: number;
  lr?: number;
  maxLength?: number;
  seed?: number;
  r?: number;
  alpha?: number;
  adapterSize?: number;
  prefixTokens?: number;
  signal?: AbortSignal;
  onEvent?: (e: TrainEvent | { kind: 'encoded'; commits: number }) => void;
  /** A checkpoint file written every 50 updates and resumed from when present. */
  checkpoint?: string;
  provider?: string;
  threads?: number;
  /** Attention recomputed in the backward (default auto: when memory is short). */
  recompute?: RecomputeMode;
}

export interface NeuralJitdp extends FeatureScaling, Calibration {
  encoder: string;
  method: NeuralMethod;
  config: Record<string, unknown>;
  /** The trained tensors: the method's (PEFT names) and the head's. */
  params: WeightMap;
  baseRate: number;
  maxLength: number;
}

interface NeuralExample {
  ids: number[];
  lineOf: number[];
  features: number[];
  label: 0 | 1;
}

type RobertaFolder = ModelFolder & { kind: 'roberta' };

async function robertaFolder(dir: string): Promise<RobertaFolder> {
  const f = await loadModelFolder(dir);
  if (f.kind !== 'roberta')
    throw new ChangelingError(
      'usage',
      `${dir} is a ${f.kind} model; the JIT-DP model needs a RoBERTa-family encoder (CodeBERT, GraphCodeBERT, UniXcoder)`,
    );
  return f;
}

/** A RoBERTa-family encoder's tokenizer and the input length it takes (at most `maxLength`, default 512). */
export async function encoderTokenizer(dir: string, maxLength = 512): Promise<{ tok: CodeTokenizer; maxLength: number }> {
  const folder = await robertaFolder(dir);
  return {
    tok: await CodeTokenizer.fromFolder(folder.dir),
    maxLength: Math.min(maxLength, folder.config.maxPositionEmbeddings - folder.config.padTokenId - 1),
  };
}

/** The JIT-Fine graph (`peft/tuningGraph.ts`): logit [batch] and first-token attention [batch, seq] when not training. */
function jitFineGraph(folder: RobertaFolder, weights: WeightMap, tuning: Tuning, training: boolean) {
  return buildTuningGraph(folder, weights, tuning, { training, rand: seededRandom(7) });
}

function encodeCommits(tok: CodeTokenizer, commits: readonly JitdpCommit[], scaling: FeatureScaling, maxLength: number): NeuralExample[] {
  return commits.map((c) => ({
    ...encodeChange(tok, c.message, linesOfText(c.added, c.removed), maxLength),
    features: scaleFeatures(c.features, scaling),
    label: c.label,
  }));
}

/** Runs the inference graph over examples in length-sorted batches; logits (and first-token attention rows). */
class Scorer {
  private constructor(
    private readonly session: InferenceSession,
    private readonly pad: number,
    private params: Record<string, OrtTensor>,
  ) {}

  static async create(folder: RobertaFolder, weights: WeightMap, tuning: Tuning, values: Map<string, Float32Array>): Promise<Scorer> {
    const g = jitFineGraph(folder, weights, tuning, false);
    // The frozen encoder's projections in int8 where the gate held for RoBERTa (risk probabilities within
    // 0.01 of fp32); the tuned parameters are inputs and stay fp32. Validation during training scores the same way.
    (await precisionPlan('auto', 'roberta', 'cpu')).apply(g.b);
    const s = new Scorer(await createSession(serialize(g.b)), folder.config.padTokenId, {});
    s.specs = g.params.map((p) => ({ name: p.tensor.name, shape: p.tensor.shape as number[] }));
    await s.setParams(values);
    return s;
  }

  specs: Array<{ name: string; shape: number[] }> = [];

  async setParams(values: Map<string, Float32Array>): Promise<void> {
    const rt = await ort();
    this.params = Object.fromEntries(
      this.specs.map((p) => {
        const v = values.get(p.name);
        if (!v) throw new ChangelingError('io', `the JIT-DP model has no tensor ${p.name}`);
        return [p.name, new rt.Tensor('float32', v, p.shape)];
      }),
    );
  }

  async run(
    examples: ReadonlyArray<Pick<NeuralExample, 'ids' | 'features'>>,
    o: { batch?: number; attention?: boolean; signal?: AbortSignal } = {},
  ): Promise<{ logits: number[]; attention: Float32Array[] }> {
    const rt = await ort();
    const order = [...examples.keys()].sort((i, j) => examples[i]!.ids.length - examples[j]!.ids.length);
    const logits = new Array<number>(examples.length);
    const attention = new Array<Float32Array>(examples.length);
    const B = o.batch ?? 32;
    for (let k = 0; k < order.length; k += B) {
      if (o.signal?.aborted) throw cancelledError();
      const idx = order.slice(k, k + B);
      const src = padBatch(
        idx.map((i) => examples[i]!.ids),
        this.pad,
      );
      const out = await this.session.run({
        ...this.params,
        input_ids: new rt.Tensor('int64', src.ids, src.shape),
        attention_mask: new rt.Tensor('int64', src.mask, src.shape),
        expert_features: new rt.Tensor('float32', Float32Array.from(idx.flatMap((i) => examples[i]!.features)), [
          idx.length,
          FEATURE_COUNT,
        ]),
      });
      const z = out.logit!.data as Float32Array;
      const a = out.attention!.data as Float32Array;
      const T = src.shape[1];
      idx.forEach((i, r) => {
        logits[i] = z[r]!;
        if (o.attention) attention[i] = a.slice(r * T, r * T + examples[i]!.ids.length);
      });
    }
    return { logits, attention };
  }
}

export async function trainNeural(
  train: readonly JitdpCommit[],
  validation: readonly JitdpCommit[],
  o: NeuralOptions,
): Promise<NeuralJitdp & { seconds: number; steps: number; validationAuc: number | null }> {
  const t0 = performance.now();
  const folder = await robertaFolder(o.encoder);
  const { tok, maxLength } = await encoderTokenizer(o.encoder, o.maxLength);
  const weights = await folder.loadWeights();
  const seed = o.seed ?? 42;
  initJitFineHead(weights, folder.config.hiddenSize, seededRandom(seed));
  const method = o.method ?? 'lora';
  const tuning = defaultTuning('roberta', method, {
    lora: { r: o.r, alpha: o.alpha },
    adapterSize: o.adapterSize,
    prefixTokens: o.prefixTokens,
  });
  const scaling = fitScaling(train);
  const trainEx = encodeCommits(tok, train, scaling, maxLength);
  const valEx = encodeCommits(tok, validation, scaling, maxLength);
  o.onEvent?.({ kind: 'encoded', commits: trainEx.length + valEx.length });
  const g = jitFineGraph(folder, weights, tuning, true);
  const config = g.config!;
  const batch = o.batch ?? 16;
  const epochs = o.epochs ?? 3;
  const stepsPerEpoch = Math.ceil(trainEx.length / batch);
  const longest = Math.max(1, ...trainEx.map((e) => e.ids.length));
  const memory = decideRecompute(o.recompute, g.b, { batch, src: longest });
  const session = await TrainSession.create(
    g.b,
    g.loss!,
    g.params,
    {
      recomputeAttention: memory.recompute,
      recomputeBlocks: memory.blocks,
      lr: o.lr ?? METHODS[method].lr.jitdp,
      weightDecay: 0.01,
      clipNorm: 1.0,
      schedule: { kind: 'linear', warmup: 0, total: stepsPerEpoch * epochs },
    },
    { provider: o.provider, intraOpThreads: o.threads, lean: memory.lean },
  );
  const rt = await ort();
  const scorer = await Scorer.create(folder, weights, tuning, new Map(g.params.map((p) => [p.tensor.name, p.init])));
  const current = () => new Map(session.params.map((p) => [p.name, session.value(p.name)]));
  const valLabels = valEx.map((e) => e.label);
  const result = await trainLoop({
    session,
    train: trainEx,
    batchSize: batch,
    epochs,
    seed,
    signal: o.signal,
    checkpoint: o.checkpoint,
    checkpointEvery: o.checkpoint ? 50 : undefined,
    lengthOf: (e) => e.ids.length,
    toFeeds: (items) => {
      const src = padBatch(
        items.map((e) => e.ids),
        folder.config.padTokenId,
      );
      return {
        input_ids: new rt.Tensor('int64', src.ids, src.shape),
        attention_mask: new rt.Tensor('int64', src.mask, src.shape),
        expert_features: new rt.Tensor('float32', Float32Array.from(items.flatMap((e) => e.features)), [items.length, FEATURE_COUNT]),
        labels: new rt.Tensor('float32', Float32Array.from(items.map((e) => e.label)), [items.length]),
      };
    },
    ...validationAuc(
      valLabels,
      async () => {
        await scorer.setParams(current());
        return (await scorer.run(valEx, { signal: o.signal })).logits;
      },
      stepsPerEpoch,
    ),
    onEvent: o.onEvent,
  });
  const params: WeightMap = new Map(
    g.params.map((p) => [p.tensor.name, { shape: p.tensor.shape as number[], data: result.bestParameters[p.tensor.name]! }]),
  );
  await scorer.setParams(new Map([...params].map(([k, v]) => [k, v.data])));
  const { logits } = await scorer.run(valEx, { signal: o.signal });
  const cal = calibrate(logits, valLabels);
  const model: NeuralJitdp = {
    encoder: folder.dir,
    method,
    config,
    params,
    ...scaling,
    ...cal,
    baseRate: train.filter((c) => c.label === 1).length / Math.max(1, train.length),
    maxLength,
  };
  return { ...model, seconds: (performance.now() - t0) / 1000, steps: result.steps, validationAuc: result.best };
}

/** A trained neural model ready to score changes. */
export class NeuralRisk {
  private constructor(
    readonly model: NeuralJitdp,
    private readonly tok: CodeTokenizer,
    private readonly scorer: Scorer,
  ) {}

  static async create(model: NeuralJitdp): Promise<NeuralRisk> {
    const folder = await robertaFolder(model.encoder);
    const weights = await folder.loadWeights();
    for (const [k, v] of model.params) if (isJitFineHead(k) || isLayerNorm(k)) weights.set(k, v);
    const scorer = await Scorer.create(folder, weights, tuningOf(model.config), new Map([...model.params].map(([k, v]) => [k, v.data])));
    return new NeuralRisk(model, await CodeTokenizer.fromFolder(folder.dir), scorer);
  }

  /** Uncalibrated logits of dataset commits. */
  async logits(commits: readonly JitdpCommit[], signal?: AbortSignal): Promise<number[]> {
    return (await this.scorer.run(encodeCommits(this.tok, commits, this.model, this.model.maxLength), { signal })).logits;
  }

  /** Calibrated probabilities of dataset commits. */
  async score(commits: readonly JitdpCommit[], signal?: AbortSignal): Promise<number[]> {
    return (await this.logits(commits, signal)).map((z) => calibrated(this.model, z));
  }

  async evaluate(test: readonly JitdpCommit[], signal?: AbortSignal): Promise<JitdpMetrics> {
    const probs = await this.score(test, signal);
    return jitdpMetrics(
      test.map((c, i) => ({ prob: probs[i]!, label: c.label, effort: c.effort })),
      this.model.threshold,
    );
  }

  /** One change: its probability, the expert features' occlusion contributions and a score per changed line. */
  async explain(
    c: Pick<JitdpCommit, 'message' | 'features'>,
    lines: readonly ChangedLine[],
  ): Promise<{ prob: number; reasons: Reason[]; lineScores: Array<number | null> }> {
    const enc = encodeChange(this.tok, c.message, lines, this.model.maxLength);
    const variants = occlusionVariants(c.features, this.model);
    const { logits, attention } = await this.scorer.run(
      variants.map((features) => ({ ids: enc.ids, features })),
      { attention: true },
    );
    const reasons = occlusionReasons(logits, this.model.platt.a);
    const lineScores: Array<number | null> = lines.map(() => null);
    enc.lineOf.forEach((line, t) => {
      if (line >= 0) lineScores[line] = (lineScores[line] ?? 0) + attention[0]![t]!;
    });
    return { prob: calibrated(this.model, logits[0]!), reasons, lineScores };
  }
}

const FORMAT = 'changeling-jitdp-neural/1';

/** Writes a neural risk model's files into a fresh folder (the fill of `writeOutputFolder`). */
export async function saveNeural(dir: string, m: NeuralJitdp, info: Record<string, unknown> = {}): Promise<void> {
  const pick = (keep: boolean) => Object.fromEntries([...m.params].filter(([k]) => k.startsWith('base_model.') === keep));
  const meta = {
    format: FORMAT,
    encoder: m.encoder,
    method: m.method,
    maxLength: m.maxLength,
    scaling: { mean: m.mean, std: m.std, median: m.median },
    platt: m.platt,
    threshold: m.threshold,
    baseRate: m.baseRate,
    info,
  };
  await writeAdapterFiles(dir, m.config, pick(true), {
    'extra_trainable.safetensors': encodeSafetensors(pick(false), { format: 'pt' }),
    'jitdp.json': JSON.stringify(meta, null, 1) + '\n',
  });
}

export const isNeuralModelDir = (dir: string) => existsSync(join(dir, 'jitdp.json'));

export async function loadNeural(dir: string): Promise<NeuralJitdp & { info: Record<string, unknown> }> {
  const meta = (await readJsonFile(join(dir, 'jitdp.json'))) as Record<string, any>;
  if (meta?.format !== FORMAT)
    throw new ChangelingError('io', `${dir}/jitdp.json is not a Changeling neural JIT-DP model (format ${String(meta?.format)})`);
  const adapter = await readAdapter(dir);
  const params = adapter.weights;
  for (const [k, v] of await loadSafetensors(join(dir, 'extra_trainable.safetensors'))) params.set(k, v);
  if (!existsSync(meta.encoder))
    throw new ChangelingError(
      'not-found',
      `the encoder this model was trained on, ${meta.encoder}, is gone; download it again (changeling download) or retrain`,
    );
  parseMethod(meta.method, RISK_METHODS, `${dir}: method`, 'io');
  const head = checkRiskHead(`${dir}/jitdp.json`, { ...meta.scaling, ...meta }, FEATURE_NAMES.length);
  return {
    encoder: meta.encoder,
    method: meta.method,
    config: adapter.config,
    params,
    mean: head.mean,
    std: head.std,
    ...(head.median ? { median: head.median } : {}),
    platt: head.platt,
    threshold: head.threshold,
    baseRate: head.baseRate,
    maxLength: meta.maxLength,
    info: meta.info ?? {},
  };
}
