/**
 * Logistic regression over sparse inputs with class weights and L2 regularisation, trained by full-batch
 * Adagrad (deterministic, seconds on tens of thousands of commits): the JITLine-style baseline's model.
 * Its explanations are exact: a prediction's logit is the bias plus one contribution per input.
 */
export interface SparseRow {
  /** Feature indices (sorted or not) and their values. */
  idx: Int32Array;
  val: Float64Array;
}

export interface LogisticModel {
  weights: Float64Array;
  bias: number;
}

export interface FitOptions {
  epochs?: number;
  lr?: number;
  l2?: number;
  /** Weight of the positive class relative to the negative (default: balanced, n_neg / n_pos). */
  positiveWeight?: number;
}

export const sigmoid = (z: number) => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

export function logit(m: LogisticModel, x: SparseRow): number {
  let z = m.bias;
  for (let k = 0; k < x.idx.length; k++) z += m.weights[x.idx[k]!]! * x.val[k]!;
  return z;
}

export function predict(m: LogisticModel, x: SparseRow): number {
  return sigmoid(logit(m, x));
}

/** Per-input contributions w_i x_i of a prediction (they sum, with the bias, to its logit). */
export function contributions(m: LogisticModel, x: SparseRow): Array<{ index: number; contribution: number }> {
  return Array.from(x.idx, (i, k) => ({ index: i, contribution: m.weights[i]! * x.val[k]! }));
}

export function fitLogistic(rows: readonly SparseRow[], labels: readonly (0 | 1)[], dim: number, o: FitOptions = {}): LogisticModel {
  const epochs = o.epochs ?? 200;
  const lr = o.lr ?? 0.1;
  const l2 = o.l2 ?? 1e-4;
  const pos = labels.filter((y) => y === 1).length;
  const neg = labels.length - pos;
  const wPos = o.positiveWeight ?? (pos > 0 ? neg / pos : 1);
  const w = new Float64Array(dim);
  let b = 0;
  const g2 = new Float64Array(dim);
  let gb2 = 0;
  const grad = new Float64Array(dim);
  const norm = rows.reduce((s, _, i) => s + (labels[i] === 1 ? wPos : 1), 0) || 1;
  for (let e = 0; e < epochs; e++) {
    grad.fill(0);
    let gb = 0;
    rows.forEach((x, i) => {
      const y = labels[i]!;
      const cw = y === 1 ? wPos : 1;
      const d = (cw * (sigmoid(logit({ weights: w, bias: b }, x)) - y)) / norm;
      for (let k = 0; k < x.idx.length; k++) grad[x.idx[k]!]! += d * x.val[k]!;
      gb += d;
    });
    for (let i = 0; i < dim; i++) {
      const gi = grad[i]! + l2 * w[i]!;
      if (gi === 0) continue;
      g2[i]! += gi * gi;
      w[i]! -= (lr * gi) / (Math.sqrt(g2[i]!) + 1e-8);
    }
    gb2 += gb * gb;
    b -= (lr * gb) / (Math.sqrt(gb2) + 1e-8);
  }
  return { weights: w, bias: b };
}
