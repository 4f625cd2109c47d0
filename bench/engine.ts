import { cpus } from 'node:os';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../src/graph/builder.js';
import { serialize } from '../src/graph/serialize.js';
import { createSession } from '../src/runtime/session.js';
import { TrainSession, type ParamSpec } from '../src/train/trainSession.js';
import { seededRandom } from '../src/train/batching.js';

/** Seconds per call of fn, best of `runs` after a warm-up. */
async function best(fn: () => Promise<unknown>, runs: number): Promise<number> {
  await fn();
  let t = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    t = Math.min(t, (performance.now() - t0) / 1000);
  }
  return t;
}

async function matmulPeak(n: number): Promise<{ seconds: number; gflops: number }> {
  const b = new GraphBuilder('mm');
  const x = b.input('a', 'float32', [n, n]);
  const y = b.input('b', 'float32', [n, n]);
  b.output(b.matmul(x, y), 'c');
  const s = await createSession(serialize(b));
  const r = seededRandom(1);
  const a = new ort.Tensor('float32', Float32Array.from({ length: n * n }, r), [n, n]);
  const c = new ort.Tensor('float32', Float32Array.from({ length: n * n }, r), [n, n]);
  const seconds = await best(() => s.run({ a, b: c }), 10);
  return { seconds, gflops: (2 * n ** 3) / seconds / 1e9 };
}

interface Shape {
  layers: number;
  d: number;
  heads: number;
  ff: number;
  batch: number;
  seq: number;
}

/** A pre-LN transformer encoder stack, all weights trainable, loss = mean of squared outputs. */
async function transformerStep(c: Shape) {
  const b = new GraphBuilder('enc');
  const x0 = b.input('x', 'float32', [c.batch, c.seq, c.d]);
  const r = seededRandom(2);
  const params: ParamSpec[] = [];
  const p = (name: string, shape: number[], fill?: number) => {
    const n = shape.reduce((a, q) => a * q, 1);
    const scale = Math.sqrt(1 / shape[0]!);
    const init = fill !== undefined ? new Float32Array(n).fill(fill) : Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
    const t = b.input(name, 'float32', shape);
    params.push({ tensor: t, init, decay: shape.length > 1 });
    return t;
  };
  const dh = c.d / c.heads;
  const heads = (t: ReturnType<typeof b.matmul>) => b.transpose(b.reshape(t, [c.batch, c.seq, c.heads, dh]), [0, 2, 1, 3]);
  let x = x0;
  for (let i = 0; i < c.layers; i++) {
    const h = b.layerNorm(x, p(`l${i}.ln1.g`, [c.d], 1), p(`l${i}.ln1.b`, [c.d], 0));
    const q = heads(b.linear(h, p(`l${i}.q`, [c.d, c.d]), p(`l${i}.qb`, [c.d], 0)));
    const k = heads(b.linear(h, p(`l${i}.k`, [c.d, c.d]), p(`l${i}.kb`, [c.d], 0)));
    const v = heads(b.linear(h, p(`l${i}.v`, [c.d, c.d]), p(`l${i}.vb`, [c.d], 0)));
    const att = b.softmax(b.div(b.matmul(q, b.transposeLast(k)), Math.sqrt(dh)), -1);
    const ctx = b.reshape(b.transpose(b.matmul(att, v), [0, 2, 1, 3]), [c.batch, c.seq, c.d]);
    x = b.add(x, b.linear(ctx, p(`l${i}.o`, [c.d, c.d]), p(`l${i}.ob`, [c.d], 0)));
    const h2 = b.layerNorm(x, p(`l${i}.ln2.g`, [c.d], 1), p(`l${i}.ln2.b`, [c.d], 0));
    const f = b.gelu(b.linear(h2, p(`l${i}.fc1`, [c.d, c.ff]), p(`l${i}.fc1b`, [c.ff], 0)));
    x = b.add(x, b.linear(f, p(`l${i}.fc2`, [c.ff, c.d]), p(`l${i}.fc2b`, [c.d], 0)));
  }
  const loss = b.reduceMean(b.reshape(b.mul(x, x), [-1]), [0], false);
  const s = await TrainSession.create(b, loss, params, { lr: 1e-4, weightDecay: 0.01, clipNorm: 1 });
  const xs = new ort.Tensor('float32', Float32Array.from({ length: c.batch * c.seq * c.d }, r), [c.batch, c.seq, c.d]);
  const N = c.batch * c.seq;
  // Forward FLOPs of the matrix products; a train step is 3x (the backward has two products per one).
  const fwd = c.layers * (2 * N * c.d * c.d * 4 + 2 * 2 * c.batch * c.seq * c.seq * c.d + 2 * 2 * N * c.d * c.ff);
  const seconds = await best(() => s.step({ x: xs }), 3);
  return { seconds, gflops: (3 * fwd) / seconds / 1e9, flopsPerStep: 3 * fwd };
}

export async function engineBench(args: string[]): Promise<Record<string, unknown>> {
  const small = args.includes('--small');
  const shape: Shape = small
    ? { layers: 2, d: 256, heads: 8, ff: 1024, batch: 4, seq: 128 }
    : { layers: 6, d: 512, heads: 8, ff: 2048, batch: 8, seq: 256 };
  const peak = await matmulPeak(1024);
  const step = await transformerStep(shape);
  const result = {
    bench: 'engine',
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? '?', node: process.version, onnxruntime: ort.env.versions?.common },
    matmul1024: peak,
    trainStep: { shape, ...step },
    ratio: step.gflops / peak.gflops,
    goal: 'ratio >= 0.5',
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  process.stderr.write(
    [
      `engine benchmark (${cpus().length} cores)`,
      `  MatMul 1024^3 fp32          ${(peak.seconds * 1000).toFixed(1)} ms  ${peak.gflops.toFixed(1)} GFLOP/s`,
      `  train step ${shape.layers}x d${shape.d} h${shape.heads} ff${shape.ff}, ${shape.batch}x${shape.seq} tokens: ${step.seconds.toFixed(2)} s  ${step.gflops.toFixed(1)} GFLOP/s`,
      `  ratio                       ${(100 * result.ratio).toFixed(0)}% of the MatMul peak (goal: at least 50%)`,
    ].join('\n') + '\n',
  );
  return result;
}
