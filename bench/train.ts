import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { cpus, homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../src/graph/builder.js';
import type { Tensor } from '../src/graph/ir.js';
import { loadModelFolder } from '../src/models/modelFolder.js';
import { GraphWeights } from '../src/models/weights.js';
import { t5 } from '../src/models/t5.js';
import { roberta } from '../src/models/roberta.js';
import { injectLora, initLora } from '../src/peft/lora/inject.js';
import { TrainSession, type ParamSpec } from '../src/train/trainSession.js';
import { seededRandom } from '../src/train/batching.js';
import { endProfiling } from '../src/runtime/session.js';
import { quantizeFrozen } from '../src/graph/quantize.js';
import { robertaModel, t5Config, t5Shapes, writeModel } from './infer.js';

/** One side of a training measurement in its own process: seconds per step, tokens/s, peak RSS. */
export async function trainWorker(args: string[]): Promise<Record<string, unknown>> {
  const [dir, method, r, batch, src, tgt, runs] = [
    args[0]!,
    args[1]!,
    Number(args[2]),
    Number(args[3]),
    Number(args[4]),
    Number(args[5]),
    Number(args[6]),
  ];
  // keep: attention kept; recompute: recomputed, lean (no arena); int8: frozen weights in int8, attention recomputed, arena kept;
  // blocks: whole blocks recomputed from their inputs, arena kept.
  const mode = args[7] ?? 'keep';
  const recomputeAttention = mode === 'recompute' || mode === 'int8';
  const model = await loadModelFolder(dir);
  const weights = await model.loadWeights();
  const b = new GraphBuilder('bench-train');
  const trainAll = method === 'fmft';
  const w = new GraphWeights(b, weights, (n) => trainAll || n.startsWith('classifier.'));
  const ids = b.input('input_ids', 'int64', [batch, src]);
  const mask = b.input('attention_mask', 'int64', [batch, src]);
  const rand = seededRandom(1);
  const vocab = model.config.vocabSize;
  const i64 = (n: number, shape: number[]) =>
    new ort.Tensor(
      'int64',
      BigInt64Array.from({ length: n }, () => BigInt(5 + Math.floor(rand() * (vocab - 6)))),
      shape,
    );
  const feeds: Record<string, ort.Tensor> = {
    input_ids: i64(batch * src, [batch, src]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(batch * src).fill(1n), [batch, src]),
  };
  let loss: Tensor;
  let targets: string[];
  if (model.kind === 't5') {
    const dec = b.input('decoder_input_ids', 'int64', [batch, tgt]);
    const labels = b.input('labels', 'int64', [batch, tgt]);
    loss = b.crossEntropy(
      t5(b, model.config, w, { inputIds: ids, attentionMask: mask, decoderInputIds: dec }, { maxLength: 1024 }).logits,
      labels,
    );
    feeds.decoder_input_ids = i64(batch * tgt, [batch, tgt]);
    feeds.labels = i64(batch * tgt, [batch, tgt]);
    targets = ['q', 'v'];
  } else if (model.kind === 'roberta') {
    const y = b.input('y', 'float32', [batch]);
    const out = roberta(b, model.config, w, ids, mask, { classifier: true });
    loss = b.bceWithLogits(b.reshape(out.classifierLogits!, [-1]), y);
    feeds.y = new ort.Tensor(
      'float32',
      Float32Array.from({ length: batch }, () => (rand() < 0.5 ? 0 : 1)),
      [batch],
    );
    targets = ['query', 'value'];
  } else throw new Error('BART is not benchmarked');
  const params: ParamSpec[] = w.trainable.map((p) => ({ ...p }));
  if (method === 'lora') {
    for (const l of injectLora(b, {
      r,
      loraAlpha: 32,
      loraDropout: 0,
      targetModules: targets,
      useRslora: false,
      taskType: null,
      baseModel: null,
    })) {
      const init = initLora(l, rand);
      params.push({ tensor: l.a, init: init.a, decay: true }, { tensor: l.b, init: init.b, decay: true });
    }
  }
  if (mode === 'int8') quantizeFrozen(b, { minSize: 32 });
  const s = await TrainSession.create(
    b,
    loss,
    params,
    { lr: 1e-4, weightDecay: 0.01, clipNorm: 1, recomputeAttention, recomputeBlocks: mode === 'blocks' },
    { lean: mode === 'recompute' },
  );
  weights.clear(); // as changeling train does: the frozen weights live in onnxruntime now
  const mib = () => `max ${Math.round(process.resourceUsage().maxRSS / 1024)} now ${Math.round(process.memoryUsage().rss / 2 ** 20)}`;
  if (process.env.CHANGELING_BENCH_RSS) process.stderr.write(`after create: ${mib()}\n`);
  await s.step(feeds);
  if (process.env.CHANGELING_BENCH_RSS) process.stderr.write(`after step 1: ${mib()}\n`);
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await s.step(feeds);
    best = Math.min(best, (performance.now() - t) / 1000);
  }
  const tokens = batch * (src + (model.kind === 't5' ? tgt : 0));
  const out = {
    secondsPerStep: best,
    tokensPerSecond: tokens / best,
    trainableParameters: params.reduce((n, p) => n + p.init.length, 0),
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  endProfiling();
  process.stdout.write(JSON.stringify(out) + '\n');
  return out;
}

export async function trainBench(args: string[]): Promise<Record<string, unknown>> {
  const python = process.env.CHANGELING_PYTHON ?? join(homedir(), '.cache', 'changeling-py', 'bin', 'python');
  if (!existsSync(python))
    throw new Error(`no Python with torch, transformers and peft at ${python} (see docs/development.md) or set CHANGELING_PYTHON`);
  const only = args.find((a) => !a.startsWith('--'));
  const root = join(tmpdir(), 'changeling-bench-train');
  const cases = [
    { name: 'lora-codet5-small', model: 'codet5-small', method: 'lora', r: 8, batch: 8, src: 256, tgt: 64 },
    { name: 'lora-codebert-base', model: 'codebert-base-1', method: 'lora', r: 64, batch: 8, src: 512, tgt: 0 },
    { name: 'fmft-codet5-small', model: 'codet5-small', method: 'fmft', r: 0, batch: 8, src: 256, tgt: 64 },
  ];
  const results: Record<string, unknown>[] = [];
  for (const c of cases.filter((x) => !only || x.name === only)) {
    const dir = join(root, c.model);
    if (!existsSync(join(dir, 'model.safetensors'))) {
      if (c.model === 'codet5-small') writeModel(dir, t5Config(512, 64, 8, 2048, 6, 32100), t5Shapes(512, 64, 8, 2048, 6, 32100));
      else robertaModel(dir, 1);
    }
    const a = [dir, c.method, String(c.r), String(c.batch), String(c.src), String(c.tgt), '2'];
    const py = spawnSync(python, [resolve('bench/torch_train.py'), ...a, String(cpus().length)], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (py.status !== 0) throw new Error(`PyTorch side failed: ${py.stderr.slice(-3000)}`);
    const t = JSON.parse(py.stdout.trim().split('\n').at(-1)!);
    // Changeling: attention probabilities kept for the backward, recomputed in it (lean), whole blocks recomputed, and
    // (with frozen weights to hold) the frozen weights in int8 with attention recomputed.
    for (const attention of c.method === 'fmft' ? ['keep', 'recompute', 'blocks'] : ['keep', 'recompute', 'blocks', 'int8']) {
      const ours = spawnSync(process.execPath, [resolve('dist/bench.mjs'), 'train-worker', ...a, attention], {
        encoding: 'utf8',
        maxBuffer: 1 << 24,
      });
      if (ours.status !== 0) throw new Error(`changeling side failed: ${ours.stderr.slice(-3000)}`);
      const o = JSON.parse(ours.stdout.trim().split('\n').at(-1)!);
      const row = {
        ...c,
        attention,
        changeling: o,
        pytorchPeft: t,
        speedup: o.tokensPerSecond / t.tokensPerSecond,
        memoryRatio: o.peakRssMiB / t.peakRssMiB,
      };
      results.push(row);
      process.stderr.write(
        `${c.name.padEnd(20)} ${attention.padEnd(9)} changeling ${Math.round(o.tokensPerSecond)} tok/s (${o.peakRssMiB} MiB)  pytorch+peft ${Math.round(t.tokensPerSecond)} tok/s (${Math.round(t.peakRssMiB)} MiB)  speed ${row.speedup.toFixed(2)}x, memory ${row.memoryRatio.toFixed(2)}x\n`,
      );
    }
  }
  if (!process.env.CHANGELING_KEEP_BENCH_MODELS) rmSync(root, { recursive: true, force: true });
  return {
    bench: 'train',
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? '?', node: process.version },
    tokens: 'batch x (input + label tokens) per step',
    results,
    goal: 'speedup >= 2 at memoryRatio <= 1',
  };
}
