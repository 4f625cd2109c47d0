import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { cpus, homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { t5Config, t5Shapes, writeModel } from './infer.js';

/**
 * Training on a real history, both sides in one run: a repository's commits exported in the model's input
 * format (`changeling export`), one epoch of LoRA (r 8, alpha 32, q and v) on CodeT5-small shapes, batch 8,
 * by `changeling train` and by recipes/train_lora.py (transformers + PEFT with dynamic padding, what a user
 * would run), same rows, batch size, learning rate and epochs. Wall time and peak RSS of each side's process.
 */
export async function trainHistoryBench(args: string[]): Promise<Record<string, unknown>> {
  const repo = args.find((a) => !a.startsWith('--'));
  if (!repo) throw new Error('usage: npm run bench -- train-history REPO [--max N]');
  const max = args.includes('--max') ? args[args.indexOf('--max') + 1]! : '300';
  const python = process.env.CHANGELING_PYTHON ?? join(homedir(), '.cache', 'changeling-py', 'bin', 'python');
  if (!existsSync(python)) throw new Error(`no Python with torch, transformers, peft and accelerate at ${python}`);
  const root = join(tmpdir(), 'changeling-bench-train-history');
  rmSync(root, { recursive: true, force: true });
  const model = join(root, 'codet5-small');
  writeModel(model, t5Config(512, 64, 8, 2048, 6, 32100), t5Shapes(512, 64, 8, 2048, 6, 32100));
  for (const f of ['tokenizer.json', 'vocab.json', 'merges.txt', 'special_tokens.json'])
    copyFileSync(resolve('test/fixtures/goldens/tokenizers/codet5', f), join(model, f));
  const cli = resolve('dist/cli.mjs');
  const env = { ...process.env, CHANGELING_GRAPH_CACHE: join(root, 'graphs') };
  const data = join(root, 'data');
  const ex = spawnSync(
    process.execPath,
    [cli, 'export', '--task', 'cmg', '--model', model, '--repo', repo, '--out', data, '--max', max, '--json', '--quiet'],
    { encoding: 'utf8', env },
  );
  if (ex.status !== 0) throw new Error(`export failed: ${ex.stderr}`);
  const rows = readFileSync(join(data, 'train.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { input_ids: number[]; labels: number[] });
  const tokens = rows.reduce((n, r) => n + r.input_ids.length + r.labels.length, 0);
  const timed = (cmd: string[], e: NodeJS.ProcessEnv) => {
    const r = spawnSync('/usr/bin/time', ['-f', '%e %M', ...cmd], { encoding: 'utf8', env: e, maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(`${cmd[0]} failed: ${r.stderr.slice(-2000)}`);
    const [secs, kb] = r.stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
    return { seconds: secs!, peakRssMiB: Math.round(kb! / 1024) };
  };
  const common = ['--epochs', '1', '--batch', '8', '--lr', '5e-4'];
  const ours = timed(
    [
      process.execPath,
      cli,
      'train',
      '--model',
      model,
      '--method',
      'lora',
      '--data',
      join(data, 'train.jsonl'),
      '--out',
      join(root, 'ours'),
      ...common,
      '--json',
    ],
    env,
  );
  const threads = String(cpus().length);
  const torch = timed(
    [python, resolve('recipes/train_lora.py'), '--model', model, '--data', data, '--out', join(root, 'torch'), ...common],
    { ...process.env, OMP_NUM_THREADS: threads, MKL_NUM_THREADS: threads },
  );
  const result = {
    bench: 'train-history',
    cpu: cpus()[0]?.model,
    repo,
    rows: rows.length,
    tokens,
    changeling: ours,
    pytorch: torch,
    timeRatio: ours.seconds / torch.seconds,
    memoryRatio: ours.peakRssMiB / torch.peakRssMiB,
    goal: 'time <= 0.5x at memory <= 1x',
  };
  process.stderr.write(
    `${repo}: ${rows.length} training rows (${tokens} tokens), one epoch of LoRA on CodeT5-small shapes, batch 8: changeling ${ours.seconds.toFixed(0)} s (${ours.peakRssMiB} MiB), PyTorch + PEFT ${torch.seconds.toFixed(0)} s (${torch.peakRssMiB} MiB): time ${result.timeRatio.toFixed(2)}x, memory ${result.memoryRatio.toFixed(2)}x\n`,
  );
  if (!process.env.CHANGELING_KEEP_BENCH_MODELS) rmSync(root, { recursive: true, force: true });
  return result;
}
