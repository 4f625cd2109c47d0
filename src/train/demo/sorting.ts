import type { Tensor as OrtTensor } from 'onnxruntime-node';
import { GraphBuilder } from '../../graph/builder.js';
import { serialize } from '../../graph/serialize.js';
import { createSession, ort } from '../../runtime/session.js';
import { seededRandom } from '../batching.js';
import { TrainSession } from '../trainSession.js';
import { trainLoop } from '../trainLoop.js';
import { ParamStore, tinyTransformer, type Method, type PeftConfig, type TinyConfig } from './tinyTransformer.js';

/**
 * The seed's demonstration: pretrain a small encoder-decoder to sort digit sequences, freeze it, and
 * adapt it to new tasks with full fine-tuning, LoRA, a bottleneck adapter and prefix-tuning. One task
 * reuses the attention pattern sorting learned (sort descending: find the next-largest digit instead of
 * the next-smallest); one needs a new one (reverse: attend by position, not by value), which
 * prefix-tuning cannot create, since prefixes only add keys to attend to.
 */
export type Task = 'sort-asc' | 'sort-desc' | 'reverse';
const BOS = 10;

const TASKS: Record<Task, (xs: number[]) => number[]> = {
  'sort-asc': (xs) => xs.slice().sort((p, q) => p - q),
  'sort-desc': (xs) => xs.slice().sort((p, q) => q - p),
  reverse: (xs) => xs.slice().reverse(),
};

export interface DemoRow {
  method: Method | 'pretrain';
  task: Task;
  trainableParameters: number;
  steps: number;
  seconds: number;
  exactMatch: number;
  /** The first evaluated step at which exact match reached 90% (null: never within the budget). */
  stepsTo90: number | null;
}

export interface DemoOptions {
  quick?: boolean;
  seed?: number;
  onLog?: (line: string) => void;
  signal?: AbortSignal;
}

interface Settings {
  cfg: TinyConfig;
  trainSize: number;
  testSize: number;
  batch: number;
  pretrainMaxSteps: number;
  adaptSteps: number;
  evalEvery: number;
}

const QUICK: Settings = {
  cfg: { vocab: 11, length: 6, dModel: 64, heads: 4, dFf: 128, layers: 2 },
  trainSize: 20000,
  testSize: 500,
  batch: 64,
  pretrainMaxSteps: 3000,
  adaptSteps: 300,
  evalEvery: 50,
};
const FULL: Settings = {
  cfg: { vocab: 11, length: 8, dModel: 128, heads: 4, dFf: 256, layers: 2 },
  trainSize: 50000,
  testSize: 1000,
  batch: 64,
  pretrainMaxSteps: 20000,
  adaptSteps: 1500,
  evalEvery: 100,
};
const LR: Record<Method, number> = { full: 1e-3, fmft: 5e-4, lora: 3e-3, adapter: 3e-3, prefix: 1e-2 };

type Example = { src: number[]; tgt: number[] };

function makeData(task: Task, n: number, L: number, rand: () => number): Example[] {
  return Array.from({ length: n }, () => {
    const src = Array.from({ length: L }, () => Math.floor(rand() * 10));
    return { src, tgt: TASKS[task](src) };
  });
}

function ids(rows: number[][], L: number, rt: typeof import('onnxruntime-node')): OrtTensor {
  return new rt.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, L]);
}

function buildGraph(cfg: TinyConfig, peft: PeftConfig, store: ParamStore, withLoss: boolean) {
  const b = new GraphBuilder('sorting');
  const enc = b.input('enc', 'int64', ['B', cfg.length]);
  const dec = b.input('dec', 'int64', ['B', cfg.length]);
  const logits = tinyTransformer(b, cfg, peft, store, enc, dec);
  if (!withLoss) {
    b.output(logits, 'logits');
    return { b, loss: null };
  }
  const labels = b.input('labels', 'int64', ['B', cfg.length]);
  return { b, loss: b.crossEntropy(logits, labels) };
}

/** Exact match of greedy decoding (one decoder pass per position; the causal mask hides the rest). */
async function exactMatch(cfg: TinyConfig, peft: PeftConfig, values: Map<string, Float32Array>, test: Example[]): Promise<number> {
  const rt = await ort();
  const { b } = buildGraph(cfg, peft, new ParamStore(values, () => false, 0), false);
  const session = await createSession(serialize(b));
  const L = cfg.length;
  const out = test.map(() => new Array<number>(L).fill(0));
  const enc = ids(
    test.map((e) => e.src),
    L,
    rt,
  );
  for (let pos = 0; pos < L; pos++) {
    const dec = ids(
      out.map((o) => [BOS, ...o.slice(0, L - 1)]),
      L,
      rt,
    );
    const logits = (await session.run({ enc, dec })).logits!.data as Float32Array;
    out.forEach((o, i) => {
      let best = 0;
      for (let v = 1; v < cfg.vocab; v++) if (logits[(i * L + pos) * cfg.vocab + v]! > logits[(i * L + pos) * cfg.vocab + best]!) best = v;
      o[pos] = best;
    });
  }
  await session.release();
  return out.filter((o, i) => o.every((v, j) => v === test[i]!.tgt[j])).length / test.length;
}

async function run(
  s: Settings,
  task: Task,
  peft: PeftConfig,
  values: Map<string, Float32Array>,
  steps: number,
  seed: number,
  o: DemoOptions,
  target?: number,
): Promise<DemoRow> {
  const rt = await ort();
  const rand = seededRandom(seed);
  const train = makeData(task, s.trainSize, s.cfg.length, rand);
  const test = makeData(task, s.testSize, s.cfg.length, rand);
  const store = new ParamStore(values, ParamStore.trainableFor(peft.method), seed);
  const { b, loss } = buildGraph(s.cfg, peft, store, true);
  const session = await TrainSession.create(b, loss!, store.trainable, { lr: LR[peft.method], weightDecay: 0.01, clipNorm: 1.0 });
  const L = s.cfg.length;
  const evalNow = async () => {
    for (const p of session.params) values.set(p.name, Float32Array.from(session.value(p.name)));
    return exactMatch(s.cfg, peft, values, test);
  };
  let stepsTo90: number | null = null;
  const r = await trainLoop({
    session,
    train,
    batchSize: s.batch,
    maxSteps: steps,
    seed,
    signal: o.signal,
    evaluate: evalNow,
    evalEvery: target !== undefined ? 250 : s.evalEvery,
    target,
    toFeeds: (batch) => ({
      enc: ids(
        batch.map((e) => e.src),
        L,
        rt,
      ),
      dec: ids(
        batch.map((e) => [BOS, ...e.tgt.slice(0, L - 1)]),
        L,
        rt,
      ),
      labels: ids(
        batch.map((e) => e.tgt),
        L,
        rt,
      ),
    }),
    onEvent: (e) => {
      if (e.kind !== 'eval') return;
      if (stepsTo90 === null && e.metric >= 0.9) stepsTo90 = e.step;
      o.onLog?.(`  ${peft.method} ${task}: step ${e.step}, exact match ${(100 * e.metric).toFixed(1)}%`);
    },
  });
  for (const [name, data] of Object.entries(r.bestParameters)) values.set(name, data);
  const trainable = store.trainable.reduce((n, p) => n + p.init.length, 0);
  return {
    method: peft.method === 'full' ? 'pretrain' : peft.method,
    task,
    trainableParameters: trainable,
    steps: r.steps,
    seconds: r.seconds,
    exactMatch: r.best ?? 0,
    stepsTo90,
  };
}

export async function sortingDemo(o: DemoOptions = {}): Promise<{ settings: Settings; rows: DemoRow[] }> {
  const s = o.quick ? QUICK : FULL;
  const seed = o.seed ?? 1;
  const base = new Map<string, Float32Array>();
  o.onLog?.(`pretraining (full training) to sort ${s.cfg.length} digits ascending...`);
  const rows = [await run(s, 'sort-asc', { method: 'full' }, base, s.pretrainMaxSteps, seed, o, 0.99)];
  for (const task of ['sort-desc', 'reverse'] as Task[]) {
    for (const method of ['fmft', 'lora', 'adapter', 'prefix'] as Method[]) {
      const values = new Map(Array.from(base, ([k, v]) => [k, Float32Array.from(v)]));
      const row = await run(s, task, { method }, values, s.adaptSteps, seed + 1, o);
      o.onLog?.(`  ${method} ${task}: ${(100 * row.exactMatch).toFixed(1)}% in ${row.seconds.toFixed(1)} s`);
      rows.push(row);
    }
  }
  return { settings: s, rows };
}
