import * as ort from 'onnxruntime-node';
import { cpus } from 'node:os';
import { GraphBuilder } from '../src/graph/builder.js';
import { serialize } from '../src/graph/serialize.js';
import { quantizeWeights, type WeightQuantization } from '../src/graph/quantize.js';
import { createSession } from '../src/runtime/session.js';
import { int8Weights } from '../src/runtime/int8Kernel.js';
import { seededRandom } from '../src/train/batching.js';

/**
 * `npm run bench -- precision-forms`: one product by a weight matrix at Qwen2.5-Coder-0.5B's shapes in each way
 * inference can hold the weight (graph/quantize.ts): fp32, int8 with int8 arithmetic (DynamicQuantizeMatMul, the seed
 * models' int8), 8-bit blocks of 32 with the activations quantized per block (MatMulNBits accuracy 4, the code LLM's
 * int8), the same computed in fp32 (accuracy 0), and 4-bit blocks of 32 (int4). A prefill of 2,048 tokens through an
 * MLP projection, and one token through the MLP's two shapes and the 151,936-word head (a decoding step). Milliseconds
 * per product, the mean of several after a warm-up, as many threads as cores.
 */
const FORMS: Array<[string, WeightQuantization | null]> = [
  ['fp32', null],
  ['int8 dynamic', { kind: 'dynamic', unsigned: false }],
  // The same levels as uint8 with a zero point: what a CPU whose signed kernel saturates gets (runtime/int8Kernel.ts).
  ['int8 dynamic, unsigned weights', { kind: 'dynamic', unsigned: true }],
  ['int8 blocks', { kind: 'nbits', bits: 8, block: 32, accuracy: 4 }],
  ['int8 blocks, fp32 math', { kind: 'nbits', bits: 8, block: 32, accuracy: 0 }],
  ['int4 blocks', { kind: 'nbits', bits: 4, block: 32, accuracy: 4 }],
];
const CASES = [
  { name: 'prefill 2048 x 896 -> 4864', m: 2048, k: 896, n: 4864, reps: 3 },
  { name: 'one token 896 -> 4864', m: 1, k: 896, n: 4864, reps: 200 },
  { name: 'one token 4864 -> 896', m: 1, k: 4864, n: 896, reps: 200 },
  { name: 'one token through the head 896 -> 151936', m: 1, k: 896, n: 151936, reps: 10 },
];

export async function precisionFormsBench(): Promise<Record<string, unknown>> {
  const rand = seededRandom(5);
  const rows: Array<Record<string, unknown>> = [];
  for (const c of CASES) {
    const w = Float32Array.from({ length: c.n * c.k }, () => (rand() - 0.5) * 0.1);
    const x = new ort.Tensor(
      'float32',
      Float32Array.from({ length: c.m * c.k }, () => rand() - 0.5),
      [1, c.m, c.k],
    );
    const ms: Record<string, number> = {};
    for (const [name, form] of FORMS) {
      const b = new GraphBuilder('form');
      const input = b.input('x', 'float32', [1, c.m, c.k]);
      b.output(b.matmul(input, b.transpose(b.initializer('w', 'float32', [c.n, c.k], w), [1, 0])), 'y');
      if (form) quantizeWeights(b, { form });
      const s = await createSession(serialize(b), { intraOpThreads: cpus().length });
      await s.run({ x });
      const t = performance.now();
      for (let i = 0; i < c.reps; i++) await s.run({ x });
      ms[name] = (performance.now() - t) / c.reps;
      await s.release();
    }
    rows.push({ case: c.name, ms });
    process.stderr.write(
      `${c.name}: ${Object.entries(ms)
        .map(([k, v]) => `${k} ${v.toFixed(2)} ms`)
        .join(', ')}\n`,
    );
  }
  // Whether this CPU's signed int8 kernel saturates (then the runners use the unsigned row's form).
  return { bench: 'precision-forms', cpu: cpus()[0]?.model, threads: cpus().length, int8Weights: await int8Weights(), rows };
}
