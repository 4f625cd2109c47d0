import { checkAllFinite } from '../util/numbers.js';
import { seededRandom } from '../train/batching.js';

/**
 * Whether one model is better than another beyond the noise of a small validation split: the two tests the
 * adoption decision uses. Both give the improvement (candidate minus the model in use) and a one-sided 95%
 * lower bound of it; a model is adopted only when that bound is above zero.
 *
 * - AUC: DeLong, DeLong and Clarke-Pearson's test for two correlated AUCs (Biometrics 1988), with the midrank
 *   computation of Sun and Xu (IEEE SPL 2014): each model's AUC from its structural components, and the variance
 *   of the difference from their covariances over buggy and over clean commits.
 * - A mean of per-item scores (B-Norm is the mean of sentence BLEU): a paired bootstrap over items, its lower
 *   bound the 5th percentile of the resampled mean differences.
 */
export interface Improvement {
  /** Candidate minus in use. */
  difference: number;
  /** One-sided 95% lower bound of the difference. */
  lower: number;
  method: 'DeLong' | 'paired bootstrap';
  candidate: number;
  inUse: number;
}

const Z95_ONE_SIDED = 1.6448536269514722;

/** Midranks (1-based, ties get the mean of their ranks) of values. */
function midranks(values: readonly number[]): Float64Array {
  const order = values.map((_, i) => i).sort((a, b) => values[a]! - values[b]!);
  const ranks = new Float64Array(values.length);
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && values[order[j + 1]!] === values[order[i]!]) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k]!] = r;
    i = j + 1;
  }
  return ranks;
}

/** One model's AUC and its DeLong components: V10 over buggy items, V01 over clean ones. */
function components(pos: readonly number[], neg: readonly number[]): { auc: number; v10: Float64Array; v01: Float64Array } {
  const m = pos.length;
  const n = neg.length;
  const all = midranks([...pos, ...neg]);
  const inPos = midranks(pos);
  const inNeg = midranks(neg);
  const v10 = Float64Array.from(pos, (_, i) => (all[i]! - inPos[i]!) / n);
  const v01 = Float64Array.from(neg, (_, j) => 1 - (all[m + j]! - inNeg[j]!) / m);
  return { auc: v10.reduce((a, b) => a + b, 0) / m, v10, v01 };
}

function covariance(a: Float64Array, b: Float64Array): number {
  const k = a.length;
  if (k < 2) return 0;
  const ma = a.reduce((s, x) => s + x, 0) / k;
  const mb = b.reduce((s, x) => s + x, 0) / k;
  let c = 0;
  for (let i = 0; i < k; i++) c += (a[i]! - ma) * (b[i]! - mb);
  return c / (k - 1);
}

/** DeLong's test of AUC(candidate) - AUC(inUse) on the same labelled items (label 1: buggy). */
export function delongImprovement(labels: readonly number[], candidate: readonly number[], inUse: readonly number[]): Improvement {
  checkAllFinite('candidate scores', candidate);
  checkAllFinite('scores of the model in use', inUse);
  const split = (s: readonly number[]) => ({
    pos: s.filter((_, i) => labels[i] === 1),
    neg: s.filter((_, i) => labels[i] !== 1),
  });
  const a = split(candidate);
  const b = split(inUse);
  const ca = components(a.pos, a.neg);
  const cb = components(b.pos, b.neg);
  const m = a.pos.length;
  const n = a.neg.length;
  const variance =
    (covariance(ca.v10, ca.v10) + covariance(cb.v10, cb.v10) - 2 * covariance(ca.v10, cb.v10)) / m +
    (covariance(ca.v01, ca.v01) + covariance(cb.v01, cb.v01) - 2 * covariance(ca.v01, cb.v01)) / n;
  const difference = ca.auc - cb.auc;
  return {
    difference,
    lower: difference - Z95_ONE_SIDED * Math.sqrt(Math.max(variance, 0)),
    method: 'DeLong',
    candidate: ca.auc,
    inUse: cb.auc,
  };
}

/** Paired bootstrap of mean(candidate) - mean(inUse) over items (per-item scores, higher better). */
export function bootstrapImprovement(candidate: readonly number[], inUse: readonly number[], resamples = 1000, seed = 1): Improvement {
  checkAllFinite('candidate scores', candidate);
  checkAllFinite('scores of the model in use', inUse);
  const k = candidate.length;
  const d = candidate.map((x, i) => x - inUse[i]!);
  const mean = (xs: readonly number[]) => xs.reduce((acc, x) => acc + x, 0) / xs.length;
  const rand = seededRandom(seed);
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < k; i++) s += d[Math.floor(rand() * k)]!;
    means[r] = s / k;
  }
  means.sort();
  return {
    difference: mean(d),
    lower: means[Math.floor(0.05 * resamples)]!,
    method: 'paired bootstrap',
    candidate: mean(candidate),
    inUse: mean(inUse),
  };
}
