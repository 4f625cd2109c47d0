import { ChangelingError } from '../util/errors.js';
import { architecture, type ModelKind } from '../models/architectures.js';
import type { GraphBuilder } from '../graph/builder.js';
import { quantizeWeights, type WeightQuantization } from '../graph/quantize.js';
import { int8Weights, type Int8Weights } from './int8Kernel.js';
import { llmInt8Block, llmInt8Form, type ProductShape } from './llmInt8Form.js';

/**
 * Inference precision: `fp32`, `int8` (weights quantized, `graph/quantize.ts`), `int4` (4-bit weights in blocks of 32:
 * a quarter of int8's size again, for memory-bound decoding; never chosen by `auto`), or `auto`: int8 where the
 * quality gate (`npm run bench -- gate`, figures in docs/performance.md) held for the architecture, on the CPU provider
 * (the int8 MatMul is a CPU kernel; other providers would hand those nodes back to the CPU), fp32 otherwise.
 */
export const PRECISIONS = ['auto', 'fp32', 'int8', 'int4'] as const;
export type Precision = (typeof PRECISIONS)[number];
/** What `auto` resolves to. */
export type ResolvedPrecision = Exclude<Precision, 'auto'>;

/**
 * The code LLM's int8 gate (test/integration/models/llmPrecisionGate.test.ts, `npm run bench -- gate`): on held-out
 * text, int8's next-token distributions against fp32's, measured on a tiny Qwen2 trained here, must put the same token
 * first at this share of positions or more, with a mean KL divergence of at most this many nats.
 */
export const LLM_INT8_GATE = { top1: 0.95, kl: 0.01 } as const;

export function parsePrecision(value: string | undefined, where = '--precision'): Precision {
  if (value === undefined || value === '') return 'auto';
  if ((PRECISIONS as readonly string[]).includes(value)) return value as Precision;
  throw new ChangelingError('usage', `${where} must be one of ${PRECISIONS.join(', ')}, not ${JSON.stringify(value.slice(0, 40))}`);
}

/**
 * Whether int8 passed the gate is each architecture's record (models/architectures.ts, `int8Gate`). On random
 * weights the T5 check is the hard one: the top two logits are often within 8-bit weight noise, so greedy
 * sequences diverge; keeping the LM head or the cross-attention in fp32 did not change that. RoBERTa held.
 */
export function resolvePrecision(p: Precision | undefined, kind: ModelKind, provider: string | undefined): ResolvedPrecision {
  const cpu = (provider ?? 'cpu') === 'cpu';
  if (p && p !== 'auto') return p;
  return cpu && architecture(kind).int8Gate ? 'int8' : 'fp32';
}

/** 4-bit weights, a scale per block of 32 inputs, activations quantized per block (MatMulNBits, accuracy level 4). */
const INT4: WeightQuantization = { kind: 'nbits', bits: 4, block: 32, accuracy: 4 };

/** A graph's weights in the precision (its architecture's int8 form, or `int8Form`, or int4): the matrices quantized. */
export function applyPrecision(
  b: GraphBuilder,
  p: ResolvedPrecision,
  kind: ModelKind,
  o: { int8Weights?: Int8Weights; int8Form?: WeightQuantization } = {},
): number {
  if (p === 'fp32') return 0;
  const form = p === 'int4' ? INT4 : (o.int8Form ?? architecture(kind).int8Form);
  return quantizeWeights(b, { form: form.kind === 'dynamic' ? { kind: 'dynamic', unsigned: o.int8Weights === 'unsigned' } : form });
}

/**
 * What a runner needs of a precision, the one place for all of them: the precision `auto` resolves to, the graph-cache
 * key's part for it ('' for fp32; "int8-", and "int8-u8-" where the architecture's int8 form is DynamicQuantizeMatMul
 * and this CPU needs its weights unsigned: runtime/int8Kernel.ts; "int8-b64-" where the code LLM's int8 blocks were
 * measured fastest in 64s on this machine: runtime/llmInt8Form.ts, given the model's `shape`) and the function that
 * quantizes a graph so.
 */
export async function precisionPlan(
  p: Precision | undefined,
  kind: ModelKind,
  provider: string | undefined,
  o: { shape?: ProductShape } = {},
): Promise<{ precision: ResolvedPrecision; key: string; apply: (b: GraphBuilder) => number; int8Form?: WeightQuantization }> {
  const precision = resolvePrecision(p, kind, provider);
  const dynamic = precision === 'int8' && architecture(kind).int8Form.kind === 'dynamic';
  const weights: Int8Weights = dynamic ? await int8Weights() : 'signed';
  const block = precision === 'int8' && kind === 'llama' && o.shape ? await llmInt8Block(o.shape) : null;
  const int8Form = block ? llmInt8Form(block) : undefined;
  const key = precision === 'fp32' ? '' : `${precision}-${weights === 'unsigned' ? 'u8-' : ''}${block && block !== 32 ? `b${block}-` : ''}`;
  return { precision, key, int8Form, apply: (b) => applyPrecision(b, precision, kind, { int8Weights: weights, int8Form }) };
}
