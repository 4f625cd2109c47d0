import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { FEATURE_COUNT, FEATURE_NAMES } from '../../git/expertFeatures.js';
import { GraphBuilder } from '../../graph/builder.js';
import type { Tensor } from '../../graph/ir.js';
import { serialize } from '../../graph/serialize.js';
import { encodeSafetensors } from '../../models/safetensors.js';
import { loadSafetensors, type WeightMap } from '../../models/weights.js';
import { createSession, ort } from '../../runtime/session.js';
import { seededRandom } from '../../train/batching.js';
import { TrainSession, type ParamSpec } from '../../train/trainSession.js';
import { trainLoop, type TrainEvent } from '../../train/trainLoop.js';
import { jitdpMetrics, type JitdpMetrics } from '../../eval/jitdpMetrics.js';
import { writeBytesAtomic } from '../../util/atomicFile.js';
import { ChangelingError, cancelledError } from '../../util/errors.js';
import { readJsonFile } from '../../util/jsonFile.js';
import { occlusionReasons, type Reason } from './reasons.js';
import { validationAuc } from './validationAuc.js';
import { calibrate, calibrated, checkRiskHead, type Calibration } from './calibration.js';
import { tokensOfLine, type JitdpCommit } from './dataset.js';
import { linesOfText, type ChangedLine } from './input.js';
import { fitScaling, occlusionVariants, scaleFeatures, type FeatureScaling } from './scaling.js';

/**
 * The CC2Vec baseline of the study's JIT-DP table (Hoang et al., ICSE 2020), on Changeling's engine: a
 * hierarchical attention network reads the added and the removed code of a change separately (tokens ->
 * lines -> hunks, attention pooling at each level, one network for both sides), and CC2Vec's comparison
 * functions set the two side vectors against each other: their difference, their element-wise product,
 * cosine similarity, Euclidean distance and a neural tensor network. The expert features join as JIT-Fine
 * adds them (a tanh layer over the 14 scaled features), and one linear output gives the logit; trained with
 * binary cross-entropy by the engine's autodiff and AdamW, the checkpoint with the best validation AUC kept,
 * then Platt-calibrated with the threshold chosen on validation, like the other models here.
 *
 * What differs from the paper, stated: each level projects with a tanh layer instead of a bidirectional GRU
 * (the engine has no recurrent ops), and the network is trained end to end on the defect label instead of
 * first being pre-trained to predict the words of commit messages (CC2Vec's distributed representation)
 * and then fed to DeepJIT. Tokens are the JITLine-style model's code tokens, with a vocabulary from the
 * training split. Saved as a folder: cc2vec.json (configuration, vocabulary, scaling, calibration) and
 * cc2vec.safetensors.
 */
export interface Cc2VecConfig {
  vocab: string[];
  embed: number;
  hidden: number;
  hunks: number;
  lines: number;
  words: number;
  /** Slices of the neural tensor network. */
  ntn: number;
  /** Width of the expert-feature layer. */
  featureDim: number;
}

export interface Cc2VecModel extends FeatureScaling, Calibration {
  config: Cc2VecConfig;
  params: WeightMap;
  baseRate: number;
}

export interface Cc2VecOptions {
  epochs?: number;
  batch?: number;
  lr?: number;
  seed?: number;
  maxVocab?: number;
  embed?: number;
  hidden?: number;
  signal?: AbortSignal;
  onEvent?: (e: TrainEvent) => void;
  threads?: number;
}

const PAD = 0;
const UNK = 1;
const NEG = -1e4;

/** The graph: logits [batch] and, when not training, each side's line weights [batch, hunks, lines]. */
export function cc2vecGraph(
  c: Cc2VecConfig,
  training: boolean,
): {
  b: GraphBuilder;
  loss: Tensor | null;
  params: Array<{ tensor: Tensor; shape: number[]; fanIn: number; kind: 'weight' | 'bias' | 'vector' | 'embedding' }>;
} {
  const b = new GraphBuilder(training ? 'cc2vec-train' : 'cc2vec');
  const params: Array<{ tensor: Tensor; shape: number[]; fanIn: number; kind: 'weight' | 'bias' | 'vector' | 'embedding' }> = [];
  const param = (name: string, shape: number[], kind: 'weight' | 'bias' | 'vector' | 'embedding') => {
    const tensor = b.input(name, 'float32', shape);
    params.push({ tensor, shape, fanIn: shape[0]!, kind });
    return tensor;
  };
  const A = c.hidden;
  const emb = param('embedding', [c.vocab.length, c.embed], 'embedding');
  const level = (name: string, inDim: number) => ({
    w: param(`${name}.weight`, [inDim, A], 'weight'),
    bias: param(`${name}.bias`, [A], 'bias'),
    ctx: param(`${name}.context`, [A], 'vector'),
  });
  const words = level('words', c.embed);
  const lines = level('lines', A);
  const hunks = level('hunks', A);
  const shape = ['batch', c.hunks, c.lines, c.words];
  // Attention pooling over `axis` of h [..., n, A] with a padding mask [..., n] (1 = real).
  const pool = (x: Tensor, mask: Tensor, l: ReturnType<typeof level>, axis: number) => {
    const h = b.tanh(b.add(b.matmul(x, l.w), l.bias));
    const scores = b.add(b.reduceSum(b.mul(h, l.ctx), [-1], false), b.mul(b.sub(mask, 1), -NEG));
    const alpha = b.softmax(scores, axis);
    return { v: b.reduceSum(b.mul(b.unsqueeze(alpha, [-1]), h), [axis], false), alpha };
  };
  const side = (name: string) => {
    const ids = b.input(`${name}_ids`, 'int64', shape);
    const wordMask = b.cast(b.not(b.equal(ids, b.constant(PAD, 'int64', []))), 'float32');
    const lineMask = b.cast(b.greater(b.reduceSum(wordMask, [3], false), b.constant(0, 'float32', [])), 'float32');
    const hunkMask = b.cast(b.greater(b.reduceSum(lineMask, [2], false), b.constant(0, 'float32', [])), 'float32');
    const l1 = pool(b.gather(emb, ids), wordMask, words, 3); // [batch, H, L, A]
    const l2 = pool(l1.v, lineMask, lines, 2); // [batch, H, A]
    const l3 = pool(l2.v, hunkMask, hunks, 1); // [batch, A]
    // A line's weight: its share within its hunk times its hunk's share.
    return { v: l3.v, lineWeight: b.mul(l2.alpha, b.unsqueeze(l3.alpha, [-1])) };
  };
  const a = side('added');
  const r = side('removed');
  const eps = b.constant(1e-8, 'float32', []);
  const norm = (x: Tensor) => b.sqrt(b.add(b.reduceSum(b.mul(x, x), [-1], true), eps));
  const sub = b.sub(a.v, r.v);
  const cos = b.div(b.reduceSum(b.mul(a.v, r.v), [-1], true), b.mul(norm(a.v), norm(r.v)));
  const euc = norm(sub);
  const K = c.ntn;
  const M = param('ntn.bilinear', [A, K * A], 'weight');
  const V = param('ntn.linear', [2 * A, K], 'weight');
  const bilinear = b.reduceSum(b.mul(b.reshape(b.matmul(a.v, M), [-1, K, A]), b.unsqueeze(r.v, [1])), [-1], false);
  const ntn = b.tanh(b.add(b.add(bilinear, b.matmul(b.concat([a.v, r.v], 1), V)), param('ntn.bias', [K], 'bias')));
  const feats = b.input('expert_features', 'float32', ['batch', FEATURE_COUNT]);
  const f = b.tanh(
    b.add(
      b.matmul(feats, param('features.weight', [FEATURE_COUNT, c.featureDim], 'weight')),
      param('features.bias', [c.featureDim], 'bias'),
    ),
  );
  const joined = b.concat([sub, b.mul(a.v, r.v), cos, euc, ntn, f], 1);
  const width = 2 * A + 2 + K + c.featureDim;
  const logit = b.reshape(b.add(b.matmul(joined, param('out.weight', [width, 1], 'weight')), param('out.bias', [1], 'bias')), [-1]);
  let loss: Tensor | null = null;
  if (training) {
    loss = b.bceWithLogits(logit, b.input('labels', 'float32', ['batch']));
  } else {
    b.output(logit, 'logit');
    b.output(a.lineWeight, 'added_line_weight');
    b.output(r.lineWeight, 'removed_line_weight');
  }
  return { b, loss, params };
}

/** Fresh parameters: Glorot-uniform weights, small random context vectors and embeddings, zero biases (pad row zero). */
export function initParams(specs: ReturnType<typeof cc2vecGraph>['params'], seed: number): Map<string, Float32Array> {
  const rand = seededRandom(seed);
  return new Map(
    specs.map((p) => {
      const n = p.shape.reduce((x, y) => x * y, 1);
      const out = new Float32Array(n);
      if (p.kind === 'weight') {
        const lim = Math.sqrt(6 / (p.shape[0]! + p.shape[1]!));
        for (let i = 0; i < n; i++) out[i] = (2 * rand() - 1) * lim;
      } else if (p.kind === 'vector') for (let i = 0; i < n; i++) out[i] = (2 * rand() - 1) * 0.1;
      else if (p.kind === 'embedding') for (let i = p.shape[1]!; i < n; i++) out[i] = (2 * rand() - 1) * 0.1;
      return [p.tensor.name, out];
    }),
  );
}

/** The words of a line as the JITLine-style model tokenizes it (identifiers lower-cased). */
const wordsOf = (text: string) => tokensOfLine('+', text).map((t) => t.slice(1));

function buildVocabulary(train: readonly JitdpCommit[], max = 5000, minCount = 2): string[] {
  const counts = new Map<string, number>();
  for (const c of train)
    for (const text of [c.added, c.removed])
      for (const line of text.split('\n')) for (const w of wordsOf(line)) counts.set(w, (counts.get(w) ?? 0) + 1);
  const kept = [...counts]
    .filter(([, n]) => n >= minCount)
    .sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1))
    .slice(0, max)
    .map(([w]) => w);
  return ['<pad>', '<unk>', ...kept];
}

interface Encoded {
  added: BigInt64Array;
  removed: BigInt64Array;
  /** For each side, the index in `lines` of the line in slot [hunk, line], or -1. */
  addedSlots: Int32Array;
  removedSlots: Int32Array;
}

/** One change as the network reads it: per side, hunks x lines x words of vocabulary ids (0 = padding). */
export function encodeForCc2Vec(c: Cc2VecConfig, index: ReadonlyMap<string, number>, lines: readonly ChangedLine[]): Encoded {
  const side = (sign: '+' | '-') => {
    const ids = new BigInt64Array(c.hunks * c.lines * c.words);
    const slots = new Int32Array(c.hunks * c.lines).fill(-1);
    let h = -1;
    let l = 0;
    let lastHunk: number | undefined | null = null;
    lines.forEach((line, i) => {
      if (line.sign !== sign) return;
      const words = wordsOf(line.text);
      if (words.length === 0) return;
      if (h < 0 || line.hunk !== lastHunk) {
        h++;
        l = 0;
        lastHunk = line.hunk;
      }
      if (h >= c.hunks || l >= c.lines) return;
      words.slice(0, c.words).forEach((w, k) => (ids[(h * c.lines + l) * c.words + k] = BigInt(index.get(w) ?? UNK)));
      slots[h * c.lines + l] = i;
      l++;
    });
    return { ids, slots };
  };
  const a = side('+');
  const r = side('-');
  return { added: a.ids, removed: r.ids, addedSlots: a.slots, removedSlots: r.slots };
}

const linesOf = (commit: Pick<JitdpCommit, 'added' | 'removed' | 'hunks'>) => linesOfText(commit.added, commit.removed, commit.hunks);

function feedsFor(
  rt: Awaited<ReturnType<typeof ort>>,
  c: Cc2VecConfig,
  items: ReadonlyArray<{ enc: Encoded; features: number[] }>,
): Record<string, OrtTensor> {
  const per = c.hunks * c.lines * c.words;
  const stack = (pick: (e: Encoded) => BigInt64Array) => {
    const out = new BigInt64Array(items.length * per);
    items.forEach((x, i) => out.set(pick(x.enc), i * per));
    return new rt.Tensor('int64', out, [items.length, c.hunks, c.lines, c.words]);
  };
  return {
    added_ids: stack((e) => e.added),
    removed_ids: stack((e) => e.removed),
    expert_features: new rt.Tensor('float32', Float32Array.from(items.flatMap((x) => x.features)), [items.length, FEATURE_COUNT]),
  };
}

/** The inference graph in a session, with the parameters as its inputs. */
class Cc2VecScorer {
  private constructor(
    private readonly session: InferenceSession,
    private readonly config: Cc2VecConfig,
    private params: Record<string, OrtTensor>,
    private readonly specs: Array<{ name: string; shape: number[] }>,
  ) {}

  static async create(config: Cc2VecConfig, values: ReadonlyMap<string, Float32Array>, threads?: number): Promise<Cc2VecScorer> {
    const g = cc2vecGraph(config, false);
    const s = new Cc2VecScorer(
      await createSession(serialize(g.b), { intraOpThreads: threads }),
      config,
      {},
      g.params.map((p) => ({ name: p.tensor.name, shape: p.shape })),
    );
    await s.setParams(values);
    return s;
  }

  async setParams(values: ReadonlyMap<string, Float32Array>): Promise<void> {
    const rt = await ort();
    this.params = Object.fromEntries(
      this.specs.map((p) => {
        const v = values.get(p.name);
        if (!v || v.length !== p.shape.reduce((x, y) => x * y, 1))
          throw new ChangelingError('io', `the CC2Vec model has no tensor ${p.name} of shape [${p.shape.join(', ')}]`);
        return [p.name, new rt.Tensor('float32', v, p.shape)];
      }),
    );
  }

  async run(
    items: ReadonlyArray<{ enc: Encoded; features: number[] }>,
    o: { signal?: AbortSignal; weights?: boolean } = {},
  ): Promise<{ logits: number[]; added: Float32Array[]; removed: Float32Array[] }> {
    const rt = await ort();
    const logits: number[] = [];
    const added: Float32Array[] = [];
    const removed: Float32Array[] = [];
    const slots = this.config.hunks * this.config.lines;
    for (let k = 0; k < items.length; k += 64) {
      if (o.signal?.aborted) throw cancelledError();
      const part = items.slice(k, k + 64);
      const out = await this.session.run({ ...this.params, ...feedsFor(rt, this.config, part) });
      logits.push(...(out.logit!.data as Float32Array));
      if (o.weights) {
        part.forEach((_, i) => {
          added.push((out.added_line_weight!.data as Float32Array).slice(i * slots, (i + 1) * slots));
          removed.push((out.removed_line_weight!.data as Float32Array).slice(i * slots, (i + 1) * slots));
        });
      }
    }
    return { logits, added, removed };
  }
}

export async function trainCc2Vec(
  train: readonly JitdpCommit[],
  validation: readonly JitdpCommit[],
  o: Cc2VecOptions = {},
): Promise<Cc2VecModel & { seconds: number; steps: number; validationAuc: number | null }> {
  const t0 = performance.now();
  const seed = o.seed ?? 42;
  const config: Cc2VecConfig = {
    vocab: buildVocabulary(train, o.maxVocab ?? 5000),
    embed: o.embed ?? 32,
    hidden: o.hidden ?? 32,
    hunks: 8,
    lines: 8,
    words: 16,
    ntn: 4,
    featureDim: 16,
  };
  const index = new Map(config.vocab.map((w, i) => [w, i]));
  const scaling = fitScaling(train);
  const encode = (cs: readonly JitdpCommit[]) =>
    cs.map((c) => ({ enc: encodeForCc2Vec(config, index, linesOf(c)), features: scaleFeatures(c.features, scaling), label: c.label }));
  const trainEx = encode(train);
  const valEx = encode(validation);
  const g = cc2vecGraph(config, true);
  const init = initParams(g.params, seed);
  const specs: ParamSpec[] = g.params.map((p) => ({ tensor: p.tensor, init: init.get(p.tensor.name)!, decay: p.kind === 'weight' }));
  const batch = o.batch ?? 32;
  const epochs = o.epochs ?? 10;
  const stepsPerEpoch = Math.ceil(trainEx.length / batch);
  const session = await TrainSession.create(
    g.b,
    g.loss!,
    specs,
    { lr: o.lr ?? 3e-3, weightDecay: 0.01, clipNorm: 1.0, schedule: { kind: 'linear', warmup: 0, total: stepsPerEpoch * epochs } },
    { intraOpThreads: o.threads },
  );
  const rt = await ort();
  const scorer = await Cc2VecScorer.create(config, init, o.threads);
  const valLabels = valEx.map((e) => e.label);
  const current = () => new Map(session.params.map((p) => [p.name, session.value(p.name)]));
  const result = await trainLoop({
    session,
    train: trainEx,
    batchSize: batch,
    epochs,
    seed,
    signal: o.signal,
    toFeeds: (items) => ({
      ...feedsFor(rt, config, items),
      labels: new rt.Tensor('float32', Float32Array.from(items.map((e) => e.label)), [items.length]),
    }),
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
  const params: WeightMap = new Map(g.params.map((p) => [p.tensor.name, { shape: p.shape, data: result.bestParameters[p.tensor.name]! }]));
  await scorer.setParams(new Map([...params].map(([k, v]) => [k, v.data])));
  const { logits } = await scorer.run(valEx, { signal: o.signal });
  const model: Cc2VecModel = {
    config,
    params,
    ...scaling,
    ...calibrate(logits, valLabels),
    baseRate: train.filter((c) => c.label === 1).length / Math.max(1, train.length),
  };
  return { ...model, seconds: (performance.now() - t0) / 1000, steps: result.steps, validationAuc: result.best };
}

/** A trained CC2Vec-style model ready to score changes (the same methods as the neural JIT-Fine-style one). */
export class Cc2VecRisk {
  private readonly index: Map<string, number>;

  private constructor(
    readonly model: Cc2VecModel,
    private readonly scorer: Cc2VecScorer,
  ) {
    this.index = new Map(model.config.vocab.map((w, i) => [w, i]));
  }

  static async create(model: Cc2VecModel): Promise<Cc2VecRisk> {
    return new Cc2VecRisk(model, await Cc2VecScorer.create(model.config, new Map([...model.params].map(([k, v]) => [k, v.data]))));
  }

  async score(commits: readonly JitdpCommit[], signal?: AbortSignal): Promise<number[]> {
    const items = commits.map((c) => ({
      enc: encodeForCc2Vec(this.model.config, this.index, linesOf(c)),
      features: scaleFeatures(c.features, this.model),
    }));
    return (await this.scorer.run(items, { signal })).logits.map((z) => calibrated(this.model, z));
  }

  async evaluate(test: readonly JitdpCommit[], signal?: AbortSignal): Promise<JitdpMetrics> {
    const probs = await this.score(test, signal);
    return jitdpMetrics(
      test.map((c, i) => ({ prob: probs[i]!, label: c.label, effort: c.effort })),
      this.model.threshold,
    );
  }

  /** One change: its probability, the expert features' occlusion contributions, and each line's attention weight. */
  async explain(
    c: Pick<JitdpCommit, 'message' | 'features'>,
    lines: readonly ChangedLine[],
  ): Promise<{ prob: number; reasons: Reason[]; lineScores: Array<number | null> }> {
    const enc = encodeForCc2Vec(this.model.config, this.index, lines);
    const variants = occlusionVariants(c.features, this.model);
    const out = await this.scorer.run(
      variants.map((features) => ({ enc, features })),
      { weights: true },
    );
    const reasons = occlusionReasons(out.logits, this.model.platt.a);
    const lineScores: Array<number | null> = lines.map(() => null);
    // Each side's weights sum to one over its lines; halved so that a change's lines share one unit.
    enc.addedSlots.forEach((line, s) => line >= 0 && (lineScores[line] = out.added[0]![s]! / 2));
    enc.removedSlots.forEach((line, s) => line >= 0 && (lineScores[line] = out.removed[0]![s]! / 2));
    return { prob: calibrated(this.model, out.logits[0]!), reasons, lineScores };
  }
}

const FORMAT = 'changeling-jitdp-cc2vec/1';

export const isCc2VecModelDir = (dir: string) => existsSync(join(dir, 'cc2vec.json'));

/** Writes a CC2Vec-style model's files into a fresh folder (the fill of `writeOutputFolder`). */
export async function saveCc2Vec(dir: string, m: Cc2VecModel, info: Record<string, unknown> = {}): Promise<void> {
  const meta = {
    format: FORMAT,
    config: m.config,
    scaling: { mean: m.mean, std: m.std, median: m.median },
    platt: m.platt,
    threshold: m.threshold,
    baseRate: m.baseRate,
    info,
  };
  await writeBytesAtomic(join(dir, 'cc2vec.safetensors'), encodeSafetensors(Object.fromEntries(m.params), { format: 'pt' }));
  await writeBytesAtomic(join(dir, 'cc2vec.json'), Buffer.from(JSON.stringify(meta) + '\n'));
}

export async function loadCc2Vec(dir: string): Promise<Cc2VecModel & { info: Record<string, unknown> }> {
  const meta = (await readJsonFile(join(dir, 'cc2vec.json'))) as Record<string, any>;
  if (meta?.format !== FORMAT)
    throw new ChangelingError('io', `${dir}/cc2vec.json is not a Changeling CC2Vec model (format ${String(meta?.format)})`);
  const c = meta.config as Cc2VecConfig;
  if (
    !Array.isArray(c?.vocab) ||
    ![c.embed, c.hidden, c.hunks, c.lines, c.words, c.ntn, c.featureDim].every((n) => Number.isInteger(n) && n > 0 && n <= 4096)
  )
    throw new ChangelingError('io', `${dir}/cc2vec.json has a broken configuration`);
  const params = await loadSafetensors(join(dir, 'cc2vec.safetensors'));
  const head = checkRiskHead(`${dir}/cc2vec.json`, { ...meta.scaling, ...meta }, FEATURE_COUNT);
  return {
    config: c,
    params,
    mean: head.mean,
    std: head.std,
    ...(head.median ? { median: head.median } : {}),
    platt: head.platt,
    threshold: head.threshold,
    baseRate: head.baseRate,
    info: meta.info ?? {},
  };
}
