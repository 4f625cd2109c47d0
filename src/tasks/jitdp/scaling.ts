import { FEATURE_NAMES, type ExpertFeatures } from '../../git/expertFeatures.js';

/**
 * How every JIT-DP model here sees the 14 expert features: log1p of the counts (FIX stays 0/1), then
 * z-scored with the training split's mean and standard deviation, so one unit means "one standard
 * deviation from this history's typical commit". `median`, the training split's median of each raw
 * feature (models trained before 2026-12-07 lack it), is the typical commit reasons are measured against.
 */
export interface FeatureScaling {
  mean: number[];
  std: number[];
  median?: number[];
}

const squash = (name: string, v: number) => (name === 'fix' ? v : Math.log1p(Math.max(0, v)));

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (!s.length) return 0;
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

export function fitScaling(rows: ReadonlyArray<{ features: ExpertFeatures }>): Required<FeatureScaling> {
  const n = Math.max(1, rows.length);
  const mean = FEATURE_NAMES.map((f) => rows.reduce((s, c) => s + squash(f, c.features[f]), 0) / n);
  // A feature constant over the training split is not scaled (deviation 1): every saved deviation is positive.
  const std = FEATURE_NAMES.map((f, i) => Math.sqrt(rows.reduce((s, c) => s + (squash(f, c.features[f]) - mean[i]!) ** 2, 0) / n) || 1);
  return { mean, std, median: FEATURE_NAMES.map((f) => median(rows.map((c) => c.features[f]))) };
}

export function scaleFeatures(f: ExpertFeatures, s: FeatureScaling): number[] {
  return FEATURE_NAMES.map((name, i) => (squash(name, f[name]) - s.mean[i]!) / (s.std[i]! || 1));
}

/**
 * The typical commit a change is compared with, in the scaled space: the training median where the model
 * has it, else the training mean of the log-counts (0 after scaling; for these skewed counts it sits near
 * the median).
 */
export function referenceScaled(s: FeatureScaling): number[] {
  if (!s.median) return FEATURE_NAMES.map(() => 0);
  return scaleFeatures(Object.fromEntries(FEATURE_NAMES.map((n, i) => [n, s.median![i]!])) as ExpertFeatures, s);
}

/** How far each feature of a change is from the typical commit, in standard deviations (positive: above it). */
export function deviations(f: ExpertFeatures, s: FeatureScaling): number[] {
  const ref = referenceScaled(s);
  return scaleFeatures(f, s).map((v, i) => v - ref[i]!);
}

/**
 * The inputs of an occlusion explanation: the change's scaled features, then one copy per feature with that
 * feature set to the typical commit's (`occlusionReasons` turns the logits into contributions).
 */
export function occlusionVariants(f: ExpertFeatures, s: FeatureScaling): number[][] {
  const x = scaleFeatures(f, s);
  const ref = referenceScaled(s);
  return [x, ...FEATURE_NAMES.map((_, i) => x.map((v, j) => (j === i ? ref[j]! : v)))];
}
