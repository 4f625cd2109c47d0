import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { GraphBuilder } from '../graph/builder.js';
import { serialize } from '../graph/serialize.js';
import { quantizeWeights, type WeightQuantization } from '../graph/quantize.js';
import { ChangelingError } from '../util/errors.js';
import { readJsonFile } from '../util/jsonFile.js';
import { writeFileAtomic } from '../util/atomicFile.js';
import { seededRandom } from '../train/batching.js';
import { createSession, ort } from './session.js';
import { graphCacheDir } from './graphCache.js';

/**
 * The code LLM's int8 form on this machine, chosen by measurement among the forms that passed the quality gate.
 *
 * `MatMulNBits` int8 with the activations quantized per block (accuracy 4) passed the gate (runtime/precision.ts,
 * LLM_INT8_GATE) in blocks of 32, 64 and 128 inputs (test/integration/models/llmPrecisionGate.test.ts checks each:
 * top-1 98.0%, 97.3% and 97.5%, KL 0.00025-0.00043 nats). Which is fastest depends on the CPU's kernels: on an AMD
 * EPYC with AVX2 only, a 2,048-token prefill through the 0.5B's 896 -> 4,864 projection took 328 ms in blocks of 32
 * and 253-255 ms in blocks of 64 or 128 (`npm run bench -- precision-forms`). So the block is measured once per
 * machine and model shape: one product of each candidate, a 512-token chunk and a single token, scored as a 2,048-token
 * prompt and a 60-token answer (a commit message), the fastest kept. The result is stored beside the graph cache
 * (keyed by CPU, core count, onnxruntime version and shape), so only the first use of a model shape pays for the
 * probe (about a second at the 0.5B's shapes). It is measured with onnxruntime's default threads and not per thread
 * setting: a block per setting would build and cache the model's graph once per setting (measured at the 1.5B's
 * shapes: 1 and 2 threads picked different blocks, and the second first use took 128 s).
 * CHANGELING_LLM_INT8_BLOCK=32|64|128 fixes the block.
 */
export const LLM_INT8_BLOCKS = [32, 64, 128] as const;
export type LlmInt8Block = (typeof LLM_INT8_BLOCKS)[number];

export function llmInt8Form(block: LlmInt8Block): WeightQuantization {
  return { kind: 'nbits', bits: 8, block, accuracy: 4 };
}

/** A projection's shape: `k` inputs, `n` outputs (the MLP's up projection: hidden -> intermediate). */
export interface ProductShape {
  k: number;
  n: number;
}

const measured = new Map<string, Promise<LlmInt8Block>>();

export function llmInt8Block(shape: ProductShape): Promise<LlmInt8Block> {
  const forced = process.env.CHANGELING_LLM_INT8_BLOCK;
  if (forced) {
    const b = Number(forced);
    if (!(LLM_INT8_BLOCKS as readonly number[]).includes(b))
      return Promise.reject(
        new ChangelingError(
          'usage',
          `CHANGELING_LLM_INT8_BLOCK must be one of ${LLM_INT8_BLOCKS.join(', ')}, not ${JSON.stringify(forced.slice(0, 40))}`,
        ),
      );
    return Promise.resolve(b as LlmInt8Block);
  }
  const id = JSON.stringify(shape);
  let p = measured.get(id);
  if (!p) {
    p = storedOrMeasured(shape);
    measured.set(id, p);
  }
  return p;
}

async function storedOrMeasured(shape: ProductShape): Promise<LlmInt8Block> {
  const ortVersion = (await ort()).env.versions?.common ?? '';
  const key = createHash('sha256')
    .update(JSON.stringify({ cpu: cpus()[0]?.model ?? '', cores: cpus().length, ortVersion, ...shape }))
    .digest('hex')
    .slice(0, 16);
  const file = join(graphCacheDir(), 'machine', `llm-int8-block-${key}.json`);
  if (existsSync(file)) {
    try {
      const stored = (await readJsonFile(file)) as { block?: unknown };
      if ((LLM_INT8_BLOCKS as readonly unknown[]).includes(stored.block)) return stored.block as LlmInt8Block;
    } catch {
      // A damaged record is measured again.
    }
  }
  const timings = await probeBlocks(shape);
  const best = timings.reduce((a, b) => (b.score < a.score ? b : a));
  // A cache that cannot be written costs the probe again next time, nothing else.
  try {
    mkdirSync(dirname(file), { recursive: true });
    await writeFileAtomic(file, JSON.stringify({ block: best.block, shape, timings }, null, 2));
  } catch {
    // (a read-only or full cache folder)
  }
  return best.block;
}

/** Each candidate's milliseconds for a 512-token chunk and for one token, and its score (4 chunks + 60 tokens). */
export async function probeBlocks(
  shape: ProductShape,
  threads?: number,
): Promise<Array<{ block: LlmInt8Block; chunkMs: number; tokenMs: number; score: number }>> {
  const rt = await ort();
  const rand = seededRandom(11);
  const w = Float32Array.from({ length: shape.k * shape.n }, () => (rand() - 0.5) * 0.1);
  const chunk = Float32Array.from({ length: 512 * shape.k }, () => rand() - 0.5);
  const out = [];
  for (const block of LLM_INT8_BLOCKS) {
    const b = new GraphBuilder('int8-block-probe');
    const x = b.input('x', 'float32', ['m', shape.k]);
    b.output(b.matmul(x, b.initializer('w', 'float32', [shape.k, shape.n], w)), 'y');
    quantizeWeights(b, { form: llmInt8Form(block) });
    const session = await createSession(serialize(b), threads ? { intraOpThreads: threads } : {});
    const time = async (m: number, reps: number) => {
      const feed = { x: new rt.Tensor('float32', chunk.subarray(0, m * shape.k), [m, shape.k]) };
      await session.run(feed);
      let best = Infinity;
      for (let i = 0; i < reps; i++) {
        const t = performance.now();
        await session.run(feed);
        best = Math.min(best, performance.now() - t);
      }
      return best;
    };
    const chunkMs = await time(512, 3);
    const tokenMs = await time(1, 20);
    await session.release();
    out.push({ block, chunkMs, tokenMs, score: 4 * chunkMs + 60 * tokenMs });
  }
  return out;
}
