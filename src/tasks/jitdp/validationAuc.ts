import { aucRoc } from '../../eval/jitdpMetrics.js';

/**
 * The training loop's validation for a JIT-DP model: the AUC of its logits on the validation split, twice an
 * epoch, when the split has both kinds of commit (otherwise no evaluation: the last checkpoint is kept).
 */
export function validationAuc(
  labels: readonly (0 | 1)[],
  logits: () => Promise<number[]>,
  stepsPerEpoch: number,
): { evaluate?: () => Promise<number>; evalEvery?: number } {
  if (!labels.includes(0) || !labels.includes(1)) return {};
  return {
    evaluate: async () => aucRoc((await logits()).map((z, i) => ({ prob: z, label: labels[i]!, effort: 1 }))),
    evalEvery: Math.max(1, Math.ceil(stepsPerEpoch / 2)),
  };
}
