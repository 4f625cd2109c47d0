import { ChangelingError } from '../util/errors.js';

/**
 * Inference precision: `fp32`, `int8` (weights quantized, `graph/quantize.ts`), or `auto`: int8 where the
 * quality gate (`npm run bench -- gate`, figures in docs/performance.md) held for the architecture, on the CPU provider
 * (the int8 MatMul is a CPU kernel; other providers would hand those nodes back to the CPU), fp32 otherwise.
 */
export const PRECISIONS = ['auto', 'fp32', 'int8'] as const;
export type Precision = (typeof PRECISIONS)[number];
export type Architecture = 't5' | 'bart' | 'roberta' | 'llama';

/**
 * The architectures whose int8 graphs passed the gate (`npm run bench -- gate`, Intel Xeon, 2 cores):
 * - RoBERTa (CodeBERT-base shapes with a classifier, random weights): largest probability difference
 *   0.0029-0.0043 over 40-60 inputs of 512 tokens (gate: 0.01). Held.
 * - T5 (CodeT5-small shapes, random weights): greedy 20-token sequences identical for 85-90% of inputs (85/100,
 *   54/60; gate: 95%), the mean identical prefix 92-95%; keeping the LM head or the cross-attention in fp32
 *   does not change it (86/100): with random weights the top two logits are often within 8-bit weight noise
 *   (0.4% relative error per MatMul). Not held, so `auto` keeps T5 in fp32; int8 is there on request.
 * - BART and the Llama family: not measured, so not held.
 */
const INT8_GATE: Readonly<Record<Architecture, boolean>> = { t5: false, bart: false, roberta: true, llama: false };

export function parsePrecision(value: string | undefined, where = '--precision'): Precision {
  if (value === undefined || value === '') return 'auto';
  if ((PRECISIONS as readonly string[]).includes(value)) return value as Precision;
  throw new ChangelingError('usage', `${where} must be one of ${PRECISIONS.join(', ')}, not ${JSON.stringify(value.slice(0, 40))}`);
}

export function resolvePrecision(p: Precision | undefined, kind: Architecture, provider: string | undefined): 'fp32' | 'int8' {
  const cpu = (provider ?? 'cpu') === 'cpu';
  if (p === 'int8') return 'int8';
  if (p === 'fp32') return 'fp32';
  return cpu && INT8_GATE[kind] ? 'int8' : 'fp32';
}
