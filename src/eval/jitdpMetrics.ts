import { checkAllFinite, checkNumber } from '../util/numbers.js';

/**
 * The just-in-time defect prediction metrics as the study and its baselines report them: F1, precision
 * and recall of the buggy class at a threshold (0.5), AUC-ROC, and the effort-aware figures of JITLine and
 * JIT-Fine with effort = lines added + deleted: commits are inspected in order of predicted defect density
 * (probability / effort, ties by higher probability); Recall@20%Effort is the share of buggy commits found
 * within 20% of all effort, Effort@20%Recall the share of effort spent to find 20% of them, and Popt
 * = 1 - (area(optimal) - area(model)) / (area(optimal) - area(worst)) under the cumulative curves of
 * buggy commits found against effort spent.
 */
export interface Scored {
  prob: number;
  label: 0 | 1;
  effort: number;
}

export interface JitdpMetrics {
  n: number;
  positives: number;
  threshold: number;
  precision: number;
  recall: number;
  f1: number;
  aucRoc: number;
  recallAt20Effort: number;
  effortAt20Recall: number;
  popt: number;
}

/** AUC-ROC as the probability that a random buggy commit outranks a random clean one (ties count half). */
export function aucRoc(items: readonly Scored[]): number {
  checkScored(items);
  return rankAuc(items);
}

/** AUC-ROC of items already checked (jitdpMetrics checks once for all its figures). */
function rankAuc(items: readonly Scored[]): number {
  const sorted = items.map((x) => x).sort((a, b) => a.prob - b.prob);
  let rankSumPos = 0;
  let pos = 0;
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j < sorted.length && (j === i || sorted[j]!.prob === sorted[i]!.prob)) j++;
    const avgRank = (i + 1 + j) / 2; // 1-based ranks i+1..j
    for (let k = i; k < j; k++)
      if (sorted[k]!.label === 1) {
        rankSumPos += avgRank;
        pos++;
      }
    i = j;
  }
  const neg = sorted.length - pos;
  if (pos === 0 || neg === 0) return NaN;
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Cumulative (effort fraction, buggy fraction) points of inspecting in the given order, from (0, 0). */
function curve(order: readonly Scored[]): Array<[number, number]> {
  const totalEffort = order.reduce((s, x) => s + x.effort, 0) || 1;
  const totalPos = order.reduce((s, x) => s + x.label, 0) || 1;
  const pts: Array<[number, number]> = [[0, 0]];
  let e = 0;
  let p = 0;
  for (const x of order) {
    e += x.effort;
    p += x.label;
    pts.push([e / totalEffort, p / totalPos]);
  }
  return pts;
}

function area(pts: Array<[number, number]>): number {
  let a = 0;
  for (let i = 1; i < pts.length; i++) a += ((pts[i]![0] - pts[i - 1]![0]) * (pts[i]![1] + pts[i - 1]![1])) / 2;
  return a;
}

/** The buggy fraction found at an effort fraction, interpolated linearly within a commit. */
function recallAtEffort(pts: Array<[number, number]>, effort: number): number {
  for (let i = 1; i < pts.length; i++) {
    const [e0, r0] = pts[i - 1]!;
    const [e1, r1] = pts[i]!;
    if (e1 >= effort) return e1 === e0 ? r1 : r0 + ((r1 - r0) * (effort - e0)) / (e1 - e0);
  }
  return pts.at(-1)![1];
}

/** The effort fraction at which a buggy fraction is first reached. */
function effortAtRecall(pts: Array<[number, number]>, recall: number): number {
  for (const [e, r] of pts) if (r >= recall) return e;
  return 1;
}

const density = (x: Scored) => x.prob / Math.max(x.effort, 1);

/** The metrics decide adoptions: a score that is not a finite number is an error, never a ranking. */
function checkScored(items: readonly Scored[]): void {
  checkAllFinite(
    "the model's probabilities",
    items.map((x) => x.prob),
  );
  checkAllFinite(
    'the commit efforts',
    items.map((x) => x.effort),
  );
}

export function jitdpMetrics(items: readonly Scored[], threshold = 0.5): JitdpMetrics {
  checkScored(items);
  checkNumber('the decision threshold', threshold, { min: 0, max: 1 }, 'model');
  let tp = 0,
    fp = 0,
    fn = 0;
  for (const x of items) {
    const predicted = x.prob >= threshold ? 1 : 0;
    if (predicted === 1 && x.label === 1) tp++;
    else if (predicted === 1) fp++;
    else if (x.label === 1) fn++;
  }
  const precision = tp + fp ? tp / (tp + fp) : 0;
  const recall = tp + fn ? tp / (tp + fn) : 0;
  const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
  const model = curve([...items].sort((a, b) => density(b) - density(a) || b.prob - a.prob));
  const optimal = curve([...items].sort((a, b) => b.label - a.label || a.effort - b.effort));
  const worst = curve([...items].sort((a, b) => a.label - b.label || b.effort - a.effort));
  const span = area(optimal) - area(worst);
  return {
    n: items.length,
    positives: items.filter((x) => x.label === 1).length,
    threshold,
    precision,
    recall,
    f1,
    aucRoc: rankAuc(items),
    recallAt20Effort: recallAtEffort(model, 0.2),
    effortAt20Recall: effortAtRecall(model, 0.2),
    popt: span > 0 ? 1 - (area(optimal) - area(model)) / span : NaN,
  };
}
