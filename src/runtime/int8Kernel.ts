import { GraphBuilder } from '../graph/builder.js';
import { serialize } from '../graph/serialize.js';
import { ChangelingError } from '../util/errors.js';
import { createSession, ort } from './session.js';

/**
 * How this machine's CPU multiplies int8 (onnxruntime's DynamicQuantizeMatMul: uint8 activations by the weights), measured
 * rather than guessed from the CPU's name. Where the CPU has VNNI (AVX-512 VNNI, AVX-VNNI, AMX) or ARM's dot products,
 * unsigned-by-signed products are exact and the fastest form: weights `signed` (int8). On x86 CPUs with only AVX2 (most
 * laptops before 2021, AMD before Zen 4), onnxruntime computes them with VPMADDUBSW, which adds two products into 16 bits
 * and saturates: measured here on an AMD EPYC without AVX-512, the product of 64 activations of 255 by weights of 127 came
 * out 4,110 instead of 8,001, and a LoRA run over int8-fast drifted 2.4% from the exact one in four steps. There the
 * weights are `unsigned` (uint8 with a zero point of 128: the same 256 levels, an exact kernel; 20-40% slower than the
 * saturating one at the seed models' shapes, still faster than fp32).
 *
 * The probe is one product on the worst case (a few milliseconds, once per process); CHANGELING_INT8_WEIGHTS=signed|unsigned
 * overrides it (tests run both forms on any machine).
 */
export type Int8Weights = 'signed' | 'unsigned';

let measured: Promise<Int8Weights> | null = null;

export function int8Weights(): Promise<Int8Weights> {
  const forced = process.env.CHANGELING_INT8_WEIGHTS;
  if (forced) {
    if (forced !== 'signed' && forced !== 'unsigned')
      return Promise.reject(
        new ChangelingError('usage', `CHANGELING_INT8_WEIGHTS must be signed or unsigned, not ${JSON.stringify(forced.slice(0, 40))}`),
      );
    return Promise.resolve(forced);
  }
  return (measured ??= signedProductSaturates().then((s) => (s ? 'unsigned' : 'signed')));
}

/** Whether a signed-weight DynamicQuantizeMatMul here loses the worst case's sum (exact: 127 x 255 levels x 64 inputs). */
export async function signedProductSaturates(): Promise<boolean> {
  const K = 64;
  const b = new GraphBuilder('int8-probe');
  const a = b.input('a', 'float32', [1, K]);
  const [y] = b.node(
    'DynamicQuantizeMatMul',
    [a, b.initializer('w', 'int8', [K, 1], new Int8Array(K).fill(127)), b.initializer('s', 'float32', [1], new Float32Array([1]))],
    [{ dtype: 'float32', shape: [1, 1] }],
  );
  y!.producer!.domain = 'com.microsoft';
  b.output(y!, 'y');
  const session = await createSession(serialize(b), { intraOpThreads: 1 });
  const rt = await ort();
  // 0 and 1: the activations quantize to 0 and 255 (scale 1/255), so the exact answer is 127 x (K - 1).
  const x = new Float32Array(K).fill(1);
  x[0] = 0;
  const out = (await session.run({ a: new rt.Tensor('float32', x, [1, K]) })).y!.data as Float32Array;
  await session.release();
  return Math.abs(out[0]! - 127 * (K - 1)) > 0.01 * 127 * (K - 1);
}
