import { checkAllFinite, checkNumber, type Bounds } from '../../util/numbers.js';
import { ChangelingError } from '../../util/errors.js';
import { jitdpMetrics } from '../../eval/jitdpMetrics.js';
import { sigmoid } from './logistic.js';

/**
 * Turning a model's logits into probabilities that mean something: Platt scaling (p = sigmoid(a z + b))
 * fitted on the validation split, and the decision threshold chosen there (the F1-best one). With one
 * class only in validation it keeps a = 1, b = 0 and 0.5.
 */
export interface Calibration {
  platt: { a: number; b: number };
  threshold: number;
}

const MIN_SLOPE = 1e-3;

export const calibrated = (c: Calibration, z: number) => sigmoid(c.platt.a * z + c.platt.b);

export function calibrate(z: readonly number[], y: readonly (0 | 1)[]): Calibration {
  checkAllFinite("the model's validation logits", z);
  let a = 1;
  let b = 0;
  if (!(z.length > 0 && y.includes(1) && y.includes(0))) return { platt: { a, b }, threshold: 0.5 };
  // Platt's smoothed targets (they keep a separable validation set from sending a to infinity), then
  // Newton's method on the log-loss (two parameters: a few steps).
  const pos = y.filter((v) => v === 1).length;
  const hi = (pos + 1) / (pos + 2);
  const lo = 1 / (y.length - pos + 2);
  const t = y.map((v) => (v === 1 ? hi : lo));
  const loss = (pa: number, pb: number) =>
    z.reduce((s, zi, i) => {
      const q = Math.min(Math.max(sigmoid(pa * zi + pb), 1e-15), 1 - 1e-15);
      return s - t[i]! * Math.log(q) - (1 - t[i]!) * Math.log(1 - q);
    }, 0);
  let current = loss(a, b);
  for (let it = 0; it < 100; it++) {
    let ga = 0,
      gb = 0,
      haa = 1e-9,
      hab = 0,
      hbb = 1e-9;
    z.forEach((zi, i) => {
      const p = sigmoid(a * zi + b);
      const d = p - t[i]!;
      const w = p * (1 - p);
      ga += d * zi;
      gb += d;
      haa += w * zi * zi;
      hab += w * zi;
      hbb += w;
    });
    const det = haa * hbb - hab * hab;
    if (!(Math.abs(det) > 1e-12)) break;
    const da = (hbb * ga - hab * gb) / det;
    const db = (haa * gb - hab * ga) / det;
    // Backtracking: a full Newton step can overshoot far from the optimum; halve it until the loss drops.
    let step = 1;
    let next = loss(a - da, b - db);
    while (!(next <= current) && step > 1e-6) {
      step /= 2;
      next = loss(a - step * da, b - step * db);
    }
    if (!(next <= current)) break;
    a -= step * da;
    b -= step * db;
    const gain = current - next;
    current = next;
    if (gain < 1e-12) break;
  }
  // A calibration must keep the model's ranking: a validation split that disagrees with it (a < 0) gets a
  // nearly flat, still increasing map instead of an inverted model.
  if (!(a >= MIN_SLOPE)) {
    a = MIN_SLOPE;
    for (let it = 0; it < 50; it++) {
      let g = 0,
        h = 1e-9;
      z.forEach((zi, i) => {
        const p = sigmoid(a * zi + b);
        g += p - t[i]!;
        h += p * (1 - p);
      });
      const db = Math.max(-5, Math.min(5, g / h));
      b -= db;
      if (Math.abs(db) < 1e-9) break;
    }
  }
  const probs = z.map((zi) => sigmoid(a * zi + b));
  let threshold = 0.5;
  let best = -1;
  for (let k = 5; k <= 95; k++) {
    const f1 = jitdpMetrics(
      probs.map((p, i) => ({ prob: p, label: y[i]!, effort: 1 })),
      k / 100,
    ).f1;
    if (f1 > best) {
      best = f1;
      threshold = k / 100;
    }
  }
  return { platt: { a, b }, threshold };
}

/**
 * What every risk model file (linear, neural, CC2Vec) must hold to be used: feature scaling of the expert
 * features' width with finite means and positive deviations (a legacy 0 reads as 1, unscaled), an increasing
 * Platt map (slope > 0), a threshold strictly between 0 and 1, a base rate in [0, 1]. Checked on load: a crafted
 * or corrupt file is refused in one line instead of printing "LOW NaN%" or an inverted risk.
 */
export function checkRiskHead(
  where: string,
  h: { mean: unknown; std: unknown; median?: unknown; platt: unknown; threshold: unknown; baseRate: unknown },
  width: number,
): { mean: number[]; std: number[]; median?: number[]; platt: { a: number; b: number }; threshold: number; baseRate: number } {
  const vec = (v: unknown, what: string, b: Bounds) => {
    if (!Array.isArray(v) || v.length !== width)
      throw new ChangelingError('io', `${where}: ${what} must list ${width} numbers (one per expert feature)`);
    return v.map((x, i) => checkNumber(`${where}: ${what}[${i}]`, x, b));
  };
  const platt = h.platt as { a?: unknown; b?: unknown } | null;
  return {
    mean: vec(h.mean, 'the scaling means', {}),
    // 0 is how files written before deviations were kept positive said "constant feature, not scaled" (1).
    std: vec(h.std, 'the scaling deviations', { min: 0 }).map((s) => s || 1),
    // Absent from models trained before 2026-12-07: reasons then measure against the mean.
    ...(h.median === undefined ? {} : { median: vec(h.median, 'the training medians', { min: 0 }) }),
    platt: {
      a: checkNumber(`${where}: the Platt slope`, platt?.a, { min: 0, minExclusive: true }),
      b: checkNumber(`${where}: the Platt intercept`, platt?.b),
    },
    threshold: checkNumber(`${where}: the decision threshold`, h.threshold, { min: 0, minExclusive: true, max: 1 - Number.EPSILON }),
    baseRate: checkNumber(`${where}: the base rate`, h.baseRate, { min: 0, max: 1 }),
  };
}
