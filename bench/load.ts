import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { cpus, homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadModelFolder } from '../src/models/modelFolder.js';
import { Seq2SeqRunner } from '../src/runtime/seq2seq.js';

/**
 * `npm run bench -- load`: the first use of a full-size checkpoint as PyTorch writes it (CodeT5-base,
 * random weights, `pytorch_model.bin` from torch.save: a zip whose tied embeddings share one storage):
 * wall time and peak RSS of the process that reads it, builds and caches its graphs and opens its sessions,
 * and of a later use, which loads the cached graphs. Each in its own process, so peak RSS is its own.
 * Goal: first use at most 2x the file's size.
 */
export async function loadWorker(args: string[]): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const model = await loadModelFolder(args[0]!);
  const runner = await Seq2SeqRunner.create(model, { maxLength: 1024 });
  const out = {
    seconds: (performance.now() - t0) / 1000,
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    vocab: runner.info.vocabSize,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
  return out;
}

export async function loadBench(args: string[]): Promise<Record<string, unknown>> {
  const python = process.env.CHANGELING_PYTHON ?? join(homedir(), '.cache', 'changeling-py', 'bin', 'python');
  if (!existsSync(python))
    throw new Error(
      `no Python with torch and transformers at ${python}; make one with the image's wheels (see docs/development.md) or set CHANGELING_PYTHON`,
    );
  const root = args.find((a) => !a.startsWith('--')) ?? join(tmpdir(), 'changeling-bench-load');
  const dir = join(root, 'codet5-base-bin');
  if (!existsSync(join(dir, 'pytorch_model.bin'))) {
    mkdirSync(dir, { recursive: true });
    const w = spawnSync(python, [resolve('bench/torch_save_bin.py'), dir], { encoding: 'utf8' });
    if (w.status !== 0) throw new Error(`writing the checkpoint failed: ${w.stderr.slice(-2000)}`);
  }
  const fileMiB = statSync(join(dir, 'pytorch_model.bin')).size / 2 ** 20;
  const graphs = join(root, 'graphs');
  rmSync(graphs, { recursive: true, force: true });
  const env = { ...process.env, CHANGELING_GRAPH_CACHE: graphs };
  const once = () => {
    const r = spawnSync(process.execPath, [resolve('dist/bench.mjs'), 'load-worker', dir], { encoding: 'utf8', env, maxBuffer: 1 << 20 });
    if (r.status !== 0) throw new Error(`load failed: ${r.stderr.slice(-2000)}`);
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { seconds: number; peakRssMiB: number };
  };
  const first = once();
  const later = once();
  process.stderr.write(
    `pytorch_model.bin ${fileMiB.toFixed(0)} MiB: first use ${first.seconds.toFixed(1)} s, peak ${first.peakRssMiB} MiB (${(first.peakRssMiB / fileMiB).toFixed(2)}x the file); later use ${later.seconds.toFixed(1)} s, peak ${later.peakRssMiB} MiB (${(later.peakRssMiB / fileMiB).toFixed(2)}x)\n`,
  );
  if (!process.env.CHANGELING_KEEP_BENCH_MODELS && !args.some((a) => !a.startsWith('--'))) rmSync(root, { recursive: true, force: true });
  return {
    bench: 'load',
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? '?', node: process.version },
    fileMiB,
    firstUse: first,
    laterUse: later,
    firstUseRatio: first.peakRssMiB / fileMiB,
    goal: 'first use peak RSS <= 2x the file',
  };
}
