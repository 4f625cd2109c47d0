import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync, statSync } from 'node:fs';
import { cpus, homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadModelFolder } from '../src/models/modelFolder.js';
import { CausalLmRunner } from '../src/runtime/causalLm.js';
import { seededRandom } from '../src/train/batching.js';
import { QWEN_SHAPES, qwenShapes, qwenShapesDir, type QwenShapes } from './qwenShapes.js';

/**
 * `npm run bench -- llm [--shapes 0.5b|1.5b] [--prompt N] [--new N] [--threads 1,2] [--no-torch]`: the code LLM against
 * the runtime users would otherwise pick, both sides in one run on the same random weights. Changeling at `auto`
 * (int8 on the CPU), llama.cpp through node-llama-cpp (its prebuilt CPU binary) on GGUFs of the same weights in Q8_0
 * and Q4_0 (bench/make_gguf.py, llama.cpp's own gguf package), and PyTorch + transformers fp32. For each: a prompt of N
 * random token ids (default 2,000, a diff's size) prefilled, then N new tokens greedily (default 60, a message), at 1
 * and 2 threads; with 1 thread also while a second process keeps the other core busy. Each side runs in its own process
 * (`llm-worker`), timed from start to exit with its peak RSS, so loading is counted: first use (Changeling builds and
 * quantizes its graph) and a warm start (its cached graph) are both measured.
 */
export async function llmBench(args: string[]): Promise<Record<string, unknown>> {
  const flag = (n: string) => (args.includes(n) ? args[args.indexOf(n) + 1]! : null);
  const shapes = qwenShapes(flag('--shapes') ?? '0.5b');
  const prompt = Number(flag('--prompt') ?? 2000);
  const fresh = Number(flag('--new') ?? 60);
  const threads = (flag('--threads') ?? '1,2').split(',').map(Number);
  const dir = qwenShapesDir(shapes);
  const python = process.env.CHANGELING_PYTHON ?? join(homedir(), '.cache', 'changeling-py', 'bin', 'python');
  if (!existsSync(python)) throw new Error(`no Python with gguf, torch and transformers at ${python} (see docs/development.md)`);
  const gguf = (kind: string) => {
    const file = join(dir, `model-${kind}.gguf`);
    if (!existsSync(file)) {
      process.stderr.write(`writing ${file}...\n`);
      const r = spawnSync(python, [resolve('bench/make_gguf.py'), dir, file, kind], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`make_gguf.py failed: ${r.stderr.slice(-2000)}`);
    }
    return file;
  };
  const files = { q8_0: gguf('q8_0'), q4_0: gguf('q4_0') };
  // The same weights as a bf16 checkpoint (what the hub serves), for the first-use row: its peak against the file.
  const bf16Dir = `${dir}-bf16`;
  if (!existsSync(join(bf16Dir, 'model.safetensors'))) {
    process.stderr.write(`writing ${bf16Dir}...\n`);
    const r = spawnSync(python, [resolve('bench/to_bf16.py'), dir, bf16Dir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`to_bf16.py failed: ${r.stderr.slice(-2000)}`);
  }
  const bf16Bytes = statSync(join(bf16Dir, 'model.safetensors')).size;
  const graphs = join(dir, '..', `graphs-${shapes}`);
  rmSync(graphs, { recursive: true, force: true });
  const worker = (side: string[], t: number, busy = false, cache = graphs) => {
    const hog: ChildProcess | null = busy ? spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }) : null;
    try {
      const r = spawnSync(
        '/usr/bin/time',
        [
          '-f',
          '%e %M',
          process.execPath,
          resolve('dist/bench.mjs'),
          'llm-worker',
          '--shapes',
          shapes,
          '--prompt',
          String(prompt),
          '--new',
          String(fresh),
          '--threads',
          String(t),
          ...side,
        ],
        { encoding: 'utf8', env: { ...process.env, CHANGELING_GRAPH_CACHE: cache, CHANGELING_PYTHON: python }, maxBuffer: 1 << 24 },
      );
      if (r.status !== 0) throw new Error(`llm-worker ${side.join(' ')} failed: ${r.stderr.slice(-3000)}`);
      const [seconds, kb] = r.stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
      return { ...JSON.parse(r.stdout.trim().split('\n').at(-1)!), processSeconds: seconds, peakRssMiB: Math.round(kb! / 1024) };
    } finally {
      hog?.kill('SIGKILL');
    }
  };
  const rows: Array<Record<string, unknown>> = [];
  const say = (x: Record<string, unknown>) =>
    process.stderr.write(
      `${String(x.side).padEnd(18)} ${x.threads} thread(s)${x.busy ? ', other core busy' : ''}: prefill ${Number(x.prefillSeconds).toFixed(2)} s, ` +
        `decode ${Number(x.decodeMsPerToken).toFixed(1)} ms/token, end to end ${Number(x.endToEndSeconds).toFixed(2)} s, load ${Number(x.loadSeconds).toFixed(2)} s, ` +
        `${x.peakRssMiB} MiB\n`,
    );
  // First use: Changeling builds, quantizes and caches its graph (2 threads, the machine's default).
  const first = {
    ...worker(['--side', 'changeling'], Math.max(...threads)),
    side: 'changeling',
    threads: Math.max(...threads),
    busy: false,
  };
  rows.push({ ...first, case: 'first use' });
  say(first);
  // First use of the bf16 checkpoint (its own empty graph cache): built from deferred weights, a slice at a time.
  const bf16Cache = `${graphs}-bf16`;
  rmSync(bf16Cache, { recursive: true, force: true });
  const firstBf16 = {
    ...worker(['--side', 'changeling', '--dir', bf16Dir], Math.max(...threads), false, bf16Cache),
    side: 'changeling',
    threads: Math.max(...threads),
    busy: false,
    checkpointMiB: Math.round(bf16Bytes / 2 ** 20),
  };
  rows.push({ ...firstBf16, case: 'first use, bf16 checkpoint' });
  say(firstBf16);
  rmSync(bf16Cache, { recursive: true, force: true });
  for (const t of threads)
    for (const busy of t === 1 ? [false, true] : [false]) {
      const sides: Array<[string, string[]]> = [
        ['changeling', ['--side', 'changeling']],
        ['llama.cpp Q8_0', ['--side', 'llama', '--gguf', files.q8_0]],
        ['llama.cpp Q4_0', ['--side', 'llama', '--gguf', files.q4_0]],
      ];
      if (!args.includes('--no-torch') && !busy) sides.push(['pytorch fp32', ['--side', 'torch']]);
      for (const [name, side] of sides) {
        const x = { ...worker(side, t, busy), side: name, threads: t, busy };
        rows.push(x);
        say(x);
      }
    }
  const pick = (side: string, t: number, busy = false) =>
    rows.find((r) => r.side === side && r.threads === t && !!r.busy === busy && r.case === undefined);
  const ratios = threads.flatMap((t) =>
    (t === 1 ? [false, true] : [false]).map((busy) => {
      const ours = pick('changeling', t, busy)!;
      const q8 = pick('llama.cpp Q8_0', t, busy)!;
      const q4 = pick('llama.cpp Q4_0', t, busy)!;
      const llama = Number(q8.endToEndSeconds) <= Number(q4.endToEndSeconds) ? q8 : q4;
      const torch = pick('pytorch fp32', t, busy);
      return {
        threads: t,
        busy,
        llamaPeer: llama.side,
        endToEnd: Number(ours.endToEndSeconds) / Number(llama.endToEndSeconds),
        prefill: Number(ours.prefillSeconds) / Number(llama.prefillSeconds),
        decode: Number(ours.decodeMsPerToken) / Number(llama.decodeMsPerToken),
        rssAtQ8: Number(ours.peakRssMiB) / Number(q8.peakRssMiB),
        endToEndVsTorch: torch ? Number(ours.endToEndSeconds) / Number(torch.endToEndSeconds) : null,
      };
    }),
  );
  for (const r of ratios)
    process.stderr.write(
      `${r.threads} thread(s)${r.busy ? ', other core busy' : ''}: against ${r.llamaPeer}: end to end ${r.endToEnd.toFixed(2)}x, prefill ${r.prefill.toFixed(2)}x, ` +
        `decode ${r.decode.toFixed(2)}x, RSS ${r.rssAtQ8.toFixed(2)}x Q8_0's${r.endToEndVsTorch !== null ? `; ${r.endToEndVsTorch.toFixed(2)}x PyTorch's end to end` : ''}\n`,
    );
  return {
    // The 0.5B's record is `llm`; other shapes have their own (llm-1.5b).
    bench: shapes === '0.5b' ? 'llm' : `llm-${shapes}`,
    firstUseBf16: {
      peakRssMiB: firstBf16.peakRssMiB,
      checkpointMiB: firstBf16.checkpointMiB,
      ratio: firstBf16.peakRssMiB / firstBf16.checkpointMiB,
    },
    cpu: cpus()[0]?.model,
    shapes: QWEN_SHAPES[shapes].name,
    prompt,
    new: fresh,
    rows,
    ratios,
    goals:
      '0.5B: end to end <= 0.5x llama.cpp and <= 0.25x PyTorch, decode <= 0.8x, RSS <= 1.3x at the same bits, first use of a bf16 checkpoint <= 1.5x its file, warm load <= 2 s; 1.5B: end to end <= 0.7x, decode <= 1.0x',
  };
}

/** One side of `llm` in its own process: load, prefill the prompt, decode greedily; prints its times as JSON. */
export async function llmWorker(args: string[]): Promise<Record<string, unknown>> {
  const flag = (n: string) => (args.includes(n) ? args[args.indexOf(n) + 1]! : null);
  const shapes: QwenShapes = qwenShapes(flag('--shapes'));
  const n = Number(flag('--prompt'));
  const fresh = Number(flag('--new'));
  const threads = Number(flag('--threads'));
  const side = flag('--side');
  const rand = seededRandom(3);
  // Ids the test tokenizer has (the vocabulary beyond it is never fed), the same for every side.
  const ids = Array.from({ length: n }, () => 10 + Math.floor(rand() * 1900));
  const dir = flag('--dir') ?? qwenShapesDir(shapes);
  const t0 = performance.now();
  if (side === 'changeling') {
    const runner = await CausalLmRunner.create(await loadModelFolder(dir), { intraOpThreads: threads });
    const loaded = performance.now();
    const batch = { ids: [ids], mask: [ids.map(() => 1)] };
    let firstAt = 0;
    let count = 0;
    await runner.greedy(batch, {
      maxNewTokens: fresh,
      minNewTokens: fresh,
      onToken: () => {
        if (count++ === 0) firstAt = performance.now();
      },
    });
    const end = performance.now();
    return timings(t0, loaded, firstAt, end, count, { precision: runner.precision, int8Block: runner.int8Block, fused: runner.fused });
  }
  if (side === 'llama') {
    const { getLlama } = await import('node-llama-cpp');
    const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
    const model = await llama.loadModel({ modelPath: flag('--gguf')! });
    const context = await model.createContext({ contextSize: n + fresh + 16, threads, batchSize: 512 });
    const loaded = performance.now();
    let firstAt = 0;
    let count = 0;
    for await (const _ of context.getSequence().evaluate(ids as never, { temperature: 0 })) {
      if (count++ === 0) firstAt = performance.now();
      if (count === fresh) break;
    }
    const end = performance.now();
    return timings(t0, loaded, firstAt, end, count, { gguf: flag('--gguf') });
  }
  if (side === 'torch') {
    const python = process.env.CHANGELING_PYTHON!;
    const r = spawnSync(python, [resolve('bench/torch_llm.py'), dir, String(n), String(fresh), String(threads)], {
      encoding: 'utf8',
      env: { ...process.env, OMP_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) },
    });
    if (r.status !== 0) throw new Error(`torch_llm.py failed: ${r.stderr.slice(-2000)}`);
    const x = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { load: number; prefill: number; decode: number; tokens: number };
    const loaded = t0 + x.load * 1000;
    return timings(t0, loaded, loaded + x.prefill * 1000, loaded + (x.prefill + x.decode) * 1000, x.tokens, {});
  }
  throw new Error('--side is changeling, llama or torch');
}

function timings(t0: number, loaded: number, firstAt: number, end: number, tokens: number, extra: Record<string, unknown>) {
  const result = {
    loadSeconds: (loaded - t0) / 1000,
    prefillSeconds: (firstAt - loaded) / 1000,
    decodeMsPerToken: tokens > 1 ? (end - firstAt) / (tokens - 1) : NaN,
    endToEndSeconds: (end - loaded) / 1000,
    tokens,
    ...extra,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
  return result;
}
