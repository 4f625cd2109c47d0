import { cpus } from 'node:os';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../src/graph/builder.js';
import { serialize } from '../src/graph/serialize.js';
import { createSession } from '../src/runtime/session.js';
import { seededRandom } from '../src/train/batching.js';

/**
 * Fused attention for inference, measured (issue: "through the fused contrib ops where they help"): T5's
 * attention (no scaling, an additive bias) as Changeling composes it (MatMul, Add, Softmax, MatMul and the
 * head transposes) against onnxruntime's com.microsoft MultiHeadAttention on the CPU provider, at the two
 * shapes generation spends its attention time in: the encoder's self-attention over 512 tokens with the
 * position bias, and one decoder step's cross-attention of 5 beams over 512 cached keys. Same inputs, same
 * threads; best of several rounds, and the largest difference of the outputs.
 */
function graphs(batch: number, heads: number, q: number, kv: number, d: number) {
  const comp = new GraphBuilder('attention-composed');
  {
    const [Q, K, V] = ['q', 'k', 'v'].map((n, i) => comp.input(n, 'float32', [batch, heads, i === 0 ? q : kv, d]));
    const bias = comp.input('bias', 'float32', [batch, heads, q, kv]);
    const ctx = comp.matmul(comp.softmax(comp.add(comp.matmul(Q!, comp.transposeLast(K!)), bias), -1), V!);
    comp.output(comp.reshape(comp.transpose(ctx, [0, 2, 1, 3]), [batch, q, heads * d]), 'y');
  }
  const fused = new GraphBuilder('attention-fused');
  {
    const Q = fused.input('q', 'float32', [batch, q, heads * d]);
    const [K, V] = ['k', 'v'].map((n) => fused.input(n, 'float32', [batch, heads, kv, d]));
    const bias = fused.input('bias', 'float32', [batch, heads, q, kv]);
    const [y] = fused.node('MultiHeadAttention', [Q, K!, V!, null, null, bias], [{ dtype: 'float32', shape: [batch, q, heads * d] }], {
      num_heads: heads,
      scale: { float: 1.0 },
    });
    y!.producer!.domain = 'com.microsoft';
    fused.output(y!, 'y');
  }
  return { comp, fused };
}

async function measure(batch: number, heads: number, q: number, kv: number, d: number, runs: number) {
  const r = seededRandom(3);
  const rand = (n: number) => Float32Array.from({ length: n }, () => r() - 0.5);
  const bnsh = rand(batch * heads * q * d);
  const bsd = new Float32Array(bnsh.length); // the same query as [batch, q, heads * d]
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < heads; h++)
      for (let s = 0; s < q; s++)
        for (let k = 0; k < d; k++) bsd[((b * q + s) * heads + h) * d + k] = bnsh[((b * heads + h) * q + s) * d + k]!;
  const k = new ort.Tensor('float32', rand(batch * heads * kv * d), [batch, heads, kv, d]);
  const v = new ort.Tensor('float32', rand(batch * heads * kv * d), [batch, heads, kv, d]);
  const bias = new ort.Tensor('float32', rand(batch * heads * q * kv), [batch, heads, q, kv]);
  const g = graphs(batch, heads, q, kv, d);
  const sessions = { composed: await createSession(serialize(g.comp)), fused: await createSession(serialize(g.fused)) };
  const feeds = {
    composed: { q: new ort.Tensor('float32', bnsh, [batch, heads, q, d]), k, v, bias },
    fused: { q: new ort.Tensor('float32', bsd, [batch, q, heads * d]), k, v, bias },
  };
  const a = (await sessions.composed.run(feeds.composed)).y!.data as Float32Array;
  const b = (await sessions.fused.run(feeds.fused)).y!.data as Float32Array;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
  const best = { composed: Infinity, fused: Infinity };
  for (let round = 0; round < 5; round++) {
    for (const side of ['composed', 'fused'] as const) {
      const t = performance.now();
      for (let i = 0; i < runs; i++) await sessions[side].run(feeds[side]);
      best[side] = Math.min(best[side], (performance.now() - t) / runs);
    }
  }
  return { composedMs: best.composed, fusedMs: best.fused, ratio: best.fused / best.composed, maxDifference: diff };
}

export async function attentionBench(): Promise<Record<string, unknown>> {
  const cases = [
    { name: 'encoder self-attention, 512 tokens, 8 heads (CodeT5-small)', shape: [1, 8, 512, 512, 64], runs: 20 },
    { name: 'encoder self-attention, 512 tokens, 12 heads (CodeT5-base)', shape: [1, 12, 512, 512, 64], runs: 10 },
    { name: 'decoder step cross-attention, 5 beams over 512 keys, 8 heads', shape: [5, 8, 1, 512, 64], runs: 200 },
    { name: 'decoder step cross-attention, 10 beams over 512 keys, 12 heads', shape: [10, 12, 1, 512, 64], runs: 100 },
  ];
  const rows: Array<Record<string, unknown>> = [];
  for (const c of cases) {
    const [b, h, q, kv, d] = c.shape as [number, number, number, number, number];
    const m = await measure(b, h, q, kv, d, c.runs);
    rows.push({ case: c.name, ...m });
    process.stderr.write(
      `${c.name.padEnd(66)} composed ${m.composedMs.toFixed(3)} ms  MultiHeadAttention ${m.fusedMs.toFixed(3)} ms  ratio ${m.ratio.toFixed(2)}  max diff ${m.maxDifference.toExponential(1)}\n`,
    );
  }
  return { bench: 'attention', date: new Date().toISOString(), cpu: cpus()[0]?.model ?? '?', cpus: cpus().length, rows };
}
