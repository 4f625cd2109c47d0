import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { robertaModel, t5Config, t5Shapes, writeModel } from './infer.js';

/**
 * Where the time goes, by onnxruntime's own profiler: one benchmark case (the infer and train benches'
 * workers) run with every kernel timed, then the kernel time summed by operator, with matrix products told
 * apart by what they multiply (attention's [batch, heads, T, d] operands, or weights), so that a goal that is
 * not reached can be said to be bounded by something measured.
 *
 *   npm run bench -- profile infer codet5-small greedy|beam5|beam10 [fp32|int8]
 *   npm run bench -- profile infer codebert-base classify [fp32|int8]
 *   npm run bench -- profile train lora-codet5-small|lora-codebert-base|fmft-codet5-small
 */
interface KernelEvent {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string; input_type_shape?: Array<Record<string, number[]>>; output_type_shape?: Array<Record<string, number[]>> };
}

const MODELS: Record<string, (dir: string) => void> = {
  'codet5-small': (dir) => writeModel(dir, t5Config(512, 64, 8, 2048, 6, 32100), t5Shapes(512, 64, 8, 2048, 6, 32100)),
  'codet5-base': (dir) => writeModel(dir, t5Config(768, 64, 12, 3072, 12, 32100), t5Shapes(768, 64, 12, 3072, 12, 32100)),
  'codebert-base': (dir) => robertaModel(dir),
  'codebert-base-1': (dir) => robertaModel(dir, 1),
};

const TRAIN_CASES: Record<string, { model: string; args: string[] }> = {
  'lora-codet5-small': { model: 'codet5-small', args: ['lora', '8', '8', '256', '64'] },
  'lora-codebert-base': { model: 'codebert-base-1', args: ['lora', '64', '8', '512', '0'] },
  'fmft-codet5-small': { model: 'codet5-small', args: ['fmft', '0', '8', '256', '64'] },
};

/** An operator's class: attention's products and softmax apart from the weight products and the rest. */
function classOf(e: KernelEvent): string {
  const op = e.args?.op_name ?? '?';
  const shapes = (e.args?.input_type_shape ?? []).map((x) => Object.values(x)[0] ?? []);
  if ((op === 'MatMul' || op === 'FusedMatMul') && shapes.length >= 2 && shapes[0]!.length === 4 && shapes[1]!.length === 4)
    return `${op} (attention: scores or context)`;
  if (op === 'MatMul' || op === 'FusedMatMul' || op === 'Gemm' || op === 'DynamicQuantizeMatMul' || op === 'MatMulInteger')
    return `${op} (by a weight)`;
  if (op === 'Softmax' && (shapes[0]?.length ?? 0) === 4) return 'Softmax (attention)';
  return op;
}

export function summariseProfile(dir: string): { totalMs: number; rows: Array<{ op: string; ms: number; share: number; calls: number }> } {
  const by = new Map<string, { us: number; calls: number }>();
  let total = 0;
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
    const events = JSON.parse(readFileSync(join(dir, f), 'utf8')) as KernelEvent[];
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
      const k = classOf(e);
      const x = by.get(k) ?? { us: 0, calls: 0 };
      x.us += e.dur;
      x.calls++;
      by.set(k, x);
      total += e.dur;
    }
  }
  const rows = [...by]
    .map(([op, x]) => ({ op, ms: x.us / 1000, share: x.us / Math.max(1, total), calls: x.calls }))
    .sort((a, b) => b.ms - a.ms);
  return { totalMs: total / 1000, rows };
}

export async function profileBench(args: string[]): Promise<Record<string, unknown>> {
  const [kind, name, kase, precision] = args;
  const root = join(tmpdir(), 'changeling-bench-profile');
  const prof = mkdtempSync(join(tmpdir(), 'changeling-ort-profile-'));
  let model: string;
  let worker: string[];
  if (kind === 'infer' && name && MODELS[name]) {
    model = name;
    const k = kase ?? (name.startsWith('codebert') ? 'classify' : 'greedy');
    worker = ['infer-worker', join(root, name), k, '512', k === 'beam10' ? '15' : '32', '1', precision ?? 'fp32'];
  } else if (kind === 'train' && name && TRAIN_CASES[name]) {
    model = TRAIN_CASES[name]!.model;
    worker = ['train-worker', join(root, model), ...TRAIN_CASES[name]!.args, '1'];
  } else
    throw new Error(
      'usage: profile infer codet5-small|codet5-base|codebert-base [greedy|beam5|beam10|classify] [fp32|int8] | profile train lora-codet5-small|lora-codebert-base|fmft-codet5-small',
    );
  const dir = join(root, model);
  if (!existsSync(join(dir, 'model.safetensors'))) MODELS[model]!(dir);
  // The graphs are built and cached first, so that the profiled run times the kernels, not the build.
  const env = { ...process.env, CHANGELING_GRAPH_CACHE: join(root, 'graphs') };
  if (kind === 'infer') {
    const warm = spawnSync(process.execPath, [resolve('dist/bench.mjs'), ...worker.slice(0, 5), '0', worker[6]!], {
      encoding: 'utf8',
      env,
      maxBuffer: 1 << 24,
    });
    if (warm.status !== 0) throw new Error(warm.stderr.slice(-2000));
  }
  const r = spawnSync(process.execPath, [resolve('dist/bench.mjs'), ...worker], {
    encoding: 'utf8',
    env: { ...env, CHANGELING_ORT_PROFILE: prof },
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) throw new Error(r.stderr.slice(-2000));
  const s = summariseProfile(prof);
  rmSync(prof, { recursive: true, force: true });
  const timed = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { seconds?: number; secondsPerStep?: number };
  const wall = timed.seconds ?? timed.secondsPerStep ?? NaN;
  process.stderr.write(
    `${kind} ${name} ${kase ?? ''} ${precision ?? ''}: ${s.totalMs.toFixed(0)} ms of kernel time over the warm-up and the timed run, which took ${(1000 * wall).toFixed(0)} ms (with the profiler on) on ${cpus()[0]?.model ?? '?'}\n`,
  );
  for (const x of s.rows.slice(0, 14))
    process.stderr.write(
      `  ${x.op.padEnd(40)} ${x.ms.toFixed(0).padStart(8)} ms  ${(100 * x.share).toFixed(1).padStart(5)}%  (${x.calls} calls)\n`,
    );
  return { bench: 'profile', kind, name, kase, precision, cpu: cpus()[0]?.model ?? '?', timedRunSeconds: wall, ...s };
}
