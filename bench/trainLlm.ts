import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { cpus, homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { trainAdapter } from '../src/peft/trainAdapter.js';
import { seededRandom } from '../src/train/batching.js';
import { tempDir } from '../test/helpers/gitRepo.js';
import { writeTinyQwen2 } from '../test/helpers/tinyModels.js';

/**
 * `npm run bench -- train-llm [--tokens N] [--batch N] [--r N] [--layers A-B] [--steps N]`: LoRA on a code LLM
 * of Qwen2.5-Coder-0.5B's shapes (random f32 weights, written once by `writeTinyQwen2`), all seven projections
 * of the top layers (default r 16, layers 16-23 of 24, batch 4 x 512 tokens, every token labelled), by
 * `changeling train` and by transformers + PEFT (bench/torch_train_llm.py, the image's wheels), each in its own
 * process: seconds per step after the first, tokens per second, peak RSS.
 */
const SHAPES = { hidden: 896, layers: 24, heads: 14, kvHeads: 2, intermediate: 4864, vocab: 151936, context: 32768, eos: 151645 };

function options(args: string[]) {
  const flag = (n: string, d: string) => (args.includes(n) ? args[args.indexOf(n) + 1]! : d);
  return {
    tokens: Number(flag('--tokens', '512')),
    batch: Number(flag('--batch', '4')),
    r: Number(flag('--r', '16')),
    layers: flag('--layers', '16-23'),
    steps: Number(flag('--steps', '3')),
  };
}

function modelDir(): string {
  const dir = join(tmpdir(), 'changeling-bench-cmg-llm', 'qwen2.5-coder-0.5b-shapes');
  if (!existsSync(join(dir, 'config.json'))) writeTinyQwen2(dir, SHAPES);
  return dir;
}

/** The Changeling side, in its own process: `changeling train` as a library call on random rows. */
export async function trainLlmWorker(args: string[]): Promise<Record<string, unknown>> {
  const o = options(args);
  const rand = seededRandom(1);
  const data = join(tempDir(), 'rows.jsonl');
  writeFileSync(
    data,
    Array.from({ length: o.batch }, () => {
      const ids = Array.from({ length: o.tokens }, () => 5 + Math.floor(rand() * 1990));
      return JSON.stringify({ input_ids: ids, labels: ids });
    }).join('\n') + '\n',
  );
  const [a, b] = o.layers.split('-').map(Number);
  const stamps: number[] = [];
  const r = await trainAdapter({
    model: modelDir(),
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
  const dir = modelDir();
  const py = spawnSync(
    python,
    [
      resolve('bench/torch_train_llm.py'),
      dir,
      String(o.r),
      o.layers,
      String(o.batch),
      String(o.tokens),
      String(o.steps),
      String(cpus().length),
    ],
    { encoding: 'utf8', maxBuffer: 1 << 24 },
  );
  if (py.status !== 0) throw new Error(`PyTorch side failed: ${py.stderr.slice(-3000)}`);
  const t = JSON.parse(py.stdout.trim().split('\n').at(-1)!);
  const ours = spawnSync(process.execPath, ['--expose-gc', resolve('dist/bench.mjs'), 'train-llm-worker', ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (ours.status !== 0) throw new Error(`changeling side failed: ${ours.stderr.slice(-3000)}`);
  const c = JSON.parse(ours.stdout.trim().split('\n').at(-1)!);
  const row = {
    shapes: 'Qwen2.5-Coder-0.5B (494M parameters, f32)',
    ...o,
    changeling: c,
    pytorchPeft: t,
    speedup: c.tokensPerSecond / t.tokensPerSecond,
    memoryRatio: c.peakRssMiB / t.peakRssMiB,
  };
  process.stderr.write(
    `LoRA r ${o.r}, layers ${o.layers}, ${o.batch} x ${o.tokens} tokens: changeling ${c.tokensPerSecond.toFixed(1)} tok/s (${c.peakRssMiB} MiB)  pytorch+peft ${t.tokensPerSecond.toFixed(1)} tok/s (${Math.round(t.peakRssMiB)} MiB)  speed ${row.speedup.toFixed(2)}x, memory ${row.memoryRatio.toFixed(2)}x\n`,
  );
  return {
    bench: 'train-llm',
    results: [row],
    goal: 'speedup >= 2 at memoryRatio <= 1; one epoch of 300 x 512 tokens within 15 minutes at <= 4 GB',
  };
}
