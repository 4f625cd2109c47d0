import { QWEN_SHAPES, qwenShapesDir, type QwenShapes } from './qwenShapes.js';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { cpus, homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { trainAdapter, type FrozenMode } from '../src/peft/trainAdapter.js';
import { seededRandom } from '../src/train/batching.js';
import type { RecomputeMode } from '../src/train/memory.js';
import { tempDir } from '../test/helpers/gitRepo.js';

/**
 * `npm run bench -- train-llm [--shapes 0.5b|1.5b] [--labelled N] [--frozen int8] [--recompute blocks|attention|lean]
 * [--tokens N] [--batch N] [--r N] [--layers A-B] [--steps N]`: LoRA r 16 on all seven projections of the top 8
 * layers of a code LLM at Qwen2.5-Coder's shapes (random f32 weights, written once by `writeTinyQwen2`), batch
 * 4 x 512 tokens, by `changeling train` and by transformers + PEFT (bench/torch_train_llm.py, the image's
 * wheels), each in its own process: seconds per step after the first, tokens per second, peak RSS.
 *
 * With no case flag, six cases: the 0.5B with every token labelled (pretraining's case); with only the last 64
 * of each row labelled (a commit message after its diff, the product's case: the prompt is read, not learnt);
 * that with the frozen weights in int8 and attention recomputed (the laptop mode), exact and `int8-fast` (the
 * products no gradient flows through in int8 arithmetic); the 1.5B in both laptop modes.
 * PyTorch stays fp32 (the image has no bitsandbytes), one run per shape and labelling.
 */
const SHAPES = QWEN_SHAPES;
type Shapes = QwenShapes;

interface Case {
  shapes: Shapes;
  labelled: number;
  frozen: FrozenMode;
  recompute: RecomputeMode;
}

function options(args: string[]) {
  const flag = (n: string, d: string) => (args.includes(n) ? args[args.indexOf(n) + 1]! : d);
  const tokens = Number(flag('--tokens', '512'));
  const shapes = flag('--shapes', '0.5b') as Shapes;
  if (!(shapes in SHAPES)) throw new Error('--shapes is 0.5b or 1.5b');
  const one = ['--shapes', '--labelled', '--frozen', '--recompute'].some((f) => args.includes(f));
  const cases: Case[] = one
    ? [
        {
          shapes,
          labelled: Number(flag('--labelled', String(tokens))),
          frozen: flag('--frozen', 'fp32') as Case['frozen'],
          recompute: flag('--recompute', 'auto') as Case['recompute'],
        },
      ]
    : [
        { shapes: '0.5b', labelled: tokens, frozen: 'fp32', recompute: 'auto' },
        { shapes: '0.5b', labelled: 64, frozen: 'fp32', recompute: 'auto' },
        { shapes: '0.5b', labelled: 64, frozen: 'int8', recompute: 'attention' },
        { shapes: '0.5b', labelled: 64, frozen: 'int8-fast', recompute: 'attention' },
        { shapes: '1.5b', labelled: 64, frozen: 'int8', recompute: 'attention' },
        { shapes: '1.5b', labelled: 64, frozen: 'int8-fast', recompute: 'attention' },
      ];
  return {
    tokens,
    batch: Number(flag('--batch', '4')),
    r: Number(flag('--r', '16')),
    layers: args.includes('--layers') ? flag('--layers', '') : null,
    steps: Number(flag('--steps', '3')),
    cases,
  };
}

const modelDir = qwenShapesDir;

/** The Changeling side, in its own process: `changeling train` as a library call on random rows (one case). */
export async function trainLlmWorker(args: string[]): Promise<Record<string, unknown>> {
  const o = options(args);
  const c = o.cases[0]!;
  const rand = seededRandom(1);
  const data = join(tempDir(), 'rows.jsonl');
  writeFileSync(
    data,
    Array.from({ length: o.batch }, () => {
      const ids = Array.from({ length: o.tokens }, () => 5 + Math.floor(rand() * 1990));
      return JSON.stringify({ input_ids: ids, labels: ids.map((x, i) => (i < o.tokens - c.labelled ? -100 : x)) });
    }).join('\n') + '\n',
  );
  const [a, b] = (o.layers ?? SHAPES[c.shapes].layers).split('-').map(Number);
  const stamps: number[] = [];
  const r = await trainAdapter({
    model: modelDir(c.shapes),
    method: 'lora',
    data,
    out: join(tempDir(), 'out'),
    steps: o.steps,
    batch: o.batch,
    lr: 1e-4,
    lora: {
      r: o.r,
      alpha: 32,
      targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
      layers: Array.from({ length: b! - a! + 1 }, (_, i) => a! + i),
    },
    threads: cpus().length,
    frozen: c.frozen,
    recompute: c.recompute,
    onStep: () => stamps.push(performance.now()),
  });
  const perStep = (stamps.at(-1)! - stamps[0]!) / 1000 / Math.max(1, stamps.length - 1);
  const out = {
    secondsPerStep: perStep,
    tokensPerSecond: (o.batch * o.tokens) / perStep,
    trainableParameters: r.trainableParameters,
    peakRssMiB: r.peakRssMiB,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
  return out;
}

export async function trainLlmBench(args: string[]): Promise<Record<string, unknown>> {
  const python = process.env.CHANGELING_PYTHON ?? join(homedir(), '.cache', 'changeling-py', 'bin', 'python');
  if (!existsSync(python)) throw new Error(`no Python with torch, transformers and peft at ${python} (see docs/development.md)`);
  const o = options(args);
  const torchRuns = new Map<string, Record<string, number>>();
  const results = o.cases.map((c) => {
    const layers = o.layers ?? SHAPES[c.shapes].layers;
    const key = `${c.shapes}:${c.labelled}`;
    if (!torchRuns.has(key)) {
      const py = spawnSync(
        python,
        [
          resolve('bench/torch_train_llm.py'),
          modelDir(c.shapes),
          String(o.r),
          layers,
          String(o.batch),
          String(o.tokens),
          String(o.steps),
          String(cpus().length),
          String(c.labelled),
        ],
        { encoding: 'utf8', maxBuffer: 1 << 24 },
      );
      if (py.status !== 0) throw new Error(`PyTorch side failed: ${py.stderr.slice(-3000)}`);
      torchRuns.set(key, JSON.parse(py.stdout.trim().split('\n').at(-1)!));
    }
    const t = torchRuns.get(key)!;
    const common = [
      '--tokens',
      String(o.tokens),
      '--batch',
      String(o.batch),
      '--r',
      String(o.r),
      '--layers',
      layers,
      '--steps',
      String(o.steps),
    ];
    const ours = spawnSync(
      process.execPath,
      [
        '--expose-gc',
        resolve('dist/bench.mjs'),
        'train-llm-worker',
        ...common,
        '--shapes',
        c.shapes,
        '--labelled',
        String(c.labelled),
        '--frozen',
        c.frozen,
        '--recompute',
        c.recompute,
      ],
      { encoding: 'utf8', maxBuffer: 1 << 24 },
    );
    if (ours.status !== 0) throw new Error(`changeling side failed: ${ours.stderr.slice(-3000)}`);
    const x = JSON.parse(ours.stdout.trim().split('\n').at(-1)!);
    const row = {
      ...c,
      size: c.shapes,
      shapes: SHAPES[c.shapes].name,
      layersOf: SHAPES[c.shapes].of,
      tokens: o.tokens,
      batch: o.batch,
      r: o.r,
      layers,
      steps: o.steps,
      changeling: x,
      pytorchPeft: t,
      speedup: x.tokensPerSecond / t.tokensPerSecond!,
      memoryRatio: x.peakRssMiB / t.peakRssMiB!,
      epochMinutes: (300 * o.tokens) / x.tokensPerSecond / 60,
    };
    process.stderr.write(
      `${c.shapes} LoRA r ${o.r}, layers ${layers}, ${o.batch} x ${o.tokens} tokens, ${c.labelled} labelled, frozen ${c.frozen}, recompute ${c.recompute}: changeling ${x.tokensPerSecond.toFixed(1)} tok/s (${x.peakRssMiB} MiB)  pytorch+peft ${t.tokensPerSecond!.toFixed(1)} tok/s (${Math.round(t.peakRssMiB!)} MiB)  speed ${row.speedup.toFixed(2)}x, memory ${row.memoryRatio.toFixed(2)}x\n`,
    );
    return row;
  });
  return {
    bench: 'train-llm',
    results,
    goal: 'speedup >= 2 at memoryRatio <= 1; the 0.5B: one epoch of 300 x 512 tokens within 15 minutes at <= 4 GB; the 1.5B at <= 6 GB',
  };
}
