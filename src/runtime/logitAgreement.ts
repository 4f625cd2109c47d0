import { argmax, logSumExp } from './generation.js';

/**
 * How closely one model's next-token distributions follow another's on the same positions (a quantized model's
 * against fp32's): the share of positions whose most likely token is the same, and the mean Kullback-Leibler
 * divergence KL(reference || other) in nats, from logits [positions, vocab] row after row.
 */
export interface LogitAgreement {
  positions: number;
  /** Share of positions where both put the same token first. */
  top1: number;
  /** Mean KL(reference || other) over the positions, in nats. */
  kl: number;
}

export function logitAgreement(reference: Float32Array, other: Float32Array, vocab: number): LogitAgreement {
  if (reference.length !== other.length || reference.length % vocab !== 0)
    throw new RangeError(`logitAgreement: ${reference.length} and ${other.length} logits are not rows of ${vocab}`);
  const positions = reference.length / vocab;
  let same = 0;
  let kl = 0;
  for (let p = 0; p < positions; p++) {
    const a = reference.subarray(p * vocab, (p + 1) * vocab);
    const b = other.subarray(p * vocab, (p + 1) * vocab);
    const za = logSumExp(a);
    const zb = logSumExp(b);
    if (argmax(a) === argmax(b)) same++;
    // sum p_a (log p_a - log p_b), log p = logit - log-sum-exp
    for (let i = 0; i < vocab; i++) kl += Math.exp(a[i]! - za) * (a[i]! - za - (b[i]! - zb));
  }
  return { positions, top1: same / positions, kl: kl / positions };
}
