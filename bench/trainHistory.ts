import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { cpus, homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { t5Config, t5Shapes, writeModel } from './infer.js';
import { QWEN_SHAPES, qwenShapes, qwenShapesDir } from './qwenShapes.js';

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
  const llm = args.includes('--llm') ? qwenShapes(args[args.indexOf('--llm') + 1]) : null;
  const python = process.env.CHANGELING_PYTHON ?? join(homedir(), '.cache', 'changeling-py', 'bin', 'python');
  if (!existsSync(python)) throw new Error(`no Python with torch, transformers, peft and accelerate at ${python}`);
  const root = join(tmpdir(), 'changeling-bench-train-history');
  rmSync(root, { recursive: true, force: true });
  const model = llm ? qwenShapesDir(llm) : join(root, 'codet5-small');
  if (!llm) {
    writeModel(model, t5Config(512, 64, 8, 2048, 6, 32100), t5Shapes(512, 64, 8, 2048, 6, 32100));
    for (const f of ['tokenizer.json', 'vocab.json', 'merges.txt', 'special_tokens.json'])
      copyFileSync(resolve('test/fixtures/goldens/tokenizers/codet5', f), join(model, f));
  }
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
  // A causal LM's labels lie on its ids (one sequence); a seq2seq row has both.
  const tokens = rows.reduce((n, r) => n + r.input_ids.length + (llm ? 0 : r.labels.length), 0);
  const timed = (cmd: string[], e: NodeJS.ProcessEnv) => {
    const r = spawnSync('/usr/bin/time', ['-f', '%e %M', ...cmd], { encoding: 'utf8', env: e, maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(`${cmd[0]} failed: ${r.stderr.slice(-2000)}`);
    const [secs, kb] = r.stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
    return { seconds: secs!, peakRssMiB: Math.round(kb! / 1024) };
  };
  // finetune's batches: 8 commits for CodeT5, 4 rows of up to 1,536 tokens for the code LLM.
  const common = ['--epochs', '1', '--batch', llm ? '4' : '8', '--lr', llm ? '2e-4' : '5e-4'];
  // The code LLM as finetune tunes it: LoRA r 16 on the seven projections of the top 8 layers over int8-fast frozen
  // weights; the recipe's code-LLM defaults are the same LoRA over fp32 weights (PEFT's usual way on a CPU).
  const layers = llm ? QWEN_SHAPES[llm].layers : '';
  const llmArgs = llm
    ? [
        '--r',
        '16',
        '--alpha',
        '32',
        '--targets',
        'q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj',
        '--layers',
        layers,
        '--frozen',
        'int8-fast',
      ]
    : [];
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
      ...llmArgs,
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
    bench: llm ? 'train-history-llm' : 'train-history',
    model: llm ? `${QWEN_SHAPES[llm].name} shapes` : 'CodeT5-small shapes',
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
    `${repo}: ${rows.length} training rows (${tokens} tokens), one epoch of LoRA on ${result.model}, batch ${llm ? 4 : 8}: changeling ${ours.seconds.toFixed(0)} s (${ours.peakRssMiB} MiB), PyTorch + PEFT ${torch.seconds.toFixed(0)} s (${torch.peakRssMiB} MiB): time ${result.timeRatio.toFixed(2)}x, memory ${result.memoryRatio.toFixed(2)}x\n`,
  );
  if (!process.env.CHANGELING_KEEP_BENCH_MODELS) rmSync(root, { recursive: true, force: true });
  // The LLM folder stays in the temporary folder's cache (other benches use it).
  return result;
}
