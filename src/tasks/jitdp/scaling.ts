import { FEATURE_NAMES, type ExpertFeatures } from '../../git/expertFeatures.js';

/**
 * How every JIT-DP model here sees the 14 expert features: log1p of the counts (FIX stays 0/1), then
 * z-scored with the training split's mean and standard deviation, so one unit means "one standard
 * deviation from this history's typical commit".
 */
export interface FeatureScaling {
  mean: number[];
  std: number[];
}

const squash = (name: string, v: number) => (name === 'fix' ? v : Math.log1p(Math.max(0, v)));

export function fitScaling(rows: ReadonlyArray<{ features: ExpertFeatures }>): FeatureScaling {
  const n = Math.max(1, rows.length);
  const mean = FEATURE_NAMES.map((f) => rows.reduce((s, c) => s + squash(f, c.features[f]), 0) / n);
  // A feature constant over the training split is not scaled (deviation 1): every saved deviation is positive.
  const std = FEATURE_NAMES.map((f, i) => Math.sqrt(rows.reduce((s, c) => s + (squash(f, c.features[f]) - mean[i]!) ** 2, 0) / n) || 1);
  return { mean, std };
}

export function scaleFeatures(f: ExpertFeatures, s: FeatureScaling): number[] {
  return FEATURE_NAMES.map((name, i) => (squash(name, f[name]) - s.mean[i]!) / (s.std[i]! || 1));
}
