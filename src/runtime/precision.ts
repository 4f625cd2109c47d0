import { ChangelingError } from '../util/errors.js';
import { architecture, type ModelKind } from '../models/architectures.js';

/**
 * Inference precision: `fp32`, `int8` (weights quantized, `graph/quantize.ts`), or `auto`: int8 where the
 * quality gate (`npm run bench -- gate`, figures in docs/performance.md) held for the architecture, on the CPU provider
 * (the int8 MatMul is a CPU kernel; other providers would hand those nodes back to the CPU), fp32 otherwise.
 */
export const PRECISIONS = ['auto', 'fp32', 'int8'] as const;
export type Precision = (typeof PRECISIONS)[number];

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
export function resolvePrecision(p: Precision | undefined, kind: ModelKind, provider: string | undefined): 'fp32' | 'int8' {
  const cpu = (provider ?? 'cpu') === 'cpu';
  if (p === 'int8') return 'int8';
  if (p === 'fp32') return 'fp32';
  return cpu && architecture(kind).int8Gate ? 'int8' : 'fp32';
}
