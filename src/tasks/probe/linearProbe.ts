import { lbfgs } from './lbfgs.js';

/**
 * The study's linear probe (no hidden layer): L2-regularised logistic regression on one layer's features,
 * minimising the mean cross-entropy + lambda/2 |W|^2 (the intercept unpenalised), binomial for two classes
 * and multinomial for more, as scikit-learn's lbfgs solver fits it with C = 1 / (n lambda). The strength is
 * chosen on validation from 1e-5 to 1e-2 (the reference's grid; the first best on ties), then the test
 * accuracy of that fit is reported. The reference trains its probe by Adam with early stopping; the exact
 * optimum is used here, so a run is deterministic.
 */
const PROBE_LAMBDAS = [1e-5, 1e-4, 1e-3, 1e-2] as const;

export interface Features {
  /** Row-major [rows, dim]. */
  data: ArrayLike<number>;
  rows: number;
  dim: number;
}

export interface LinearModel {
  classes: number;
  dim: number;
  /** [outputs, dim] then [outputs] biases; outputs = 1 for two classes, else the class count. */
  weights: Float64Array;
  bias: Float64Array;
}

const outputsFor = (classes: number) => (classes === 2 ? 1 : classes);

function fitLinearProbe(
  x: Features,
  y: readonly number[],
  classes: number,
  lambda: number,
  o: { maxIterations?: number } = {},
): LinearModel {
  const { rows: n, dim: d } = x;
  const K = outputsFor(classes);
  const X = Float64Array.from(x.data as ArrayLike<number>);
  const z = new Float64Array(n * K);
  const f = (p: Float64Array, grad: Float64Array): number => {
    grad.fill(0);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const row = i * d;
      for (let k = 0; k < K; k++) {
        let s = p[K * d + k]!;
        const w = k * d;
        for (let j = 0; j < d; j++) s += p[w + j]! * X[row + j]!;
        z[i * K + k] = s;
      }
      // r: d loss_i / d z_ik.
      if (K === 1) {
        const s = z[i]!;
        const t = y[i] === 1 ? 1 : 0;
        // log(1 + e^s) - t s, stably.
        loss += (s > 0 ? s + Math.log1p(Math.exp(-s)) : Math.log1p(Math.exp(s))) - t * s;
        z[i] = 1 / (1 + Math.exp(-s)) - t;
      } else {
        let max = -Infinity;
        for (let k = 0; k < K; k++) max = Math.max(max, z[i * K + k]!);
        let sum = 0;
        for (let k = 0; k < K; k++) sum += Math.exp(z[i * K + k]! - max);
        loss += max + Math.log(sum) - z[i * K + y[i]!]!;
        for (let k = 0; k < K; k++) z[i * K + k] = Math.exp(z[i * K + k]! - max) / sum - (y[i] === k ? 1 : 0);
      }
      for (let k = 0; k < K; k++) {
        const r = z[i * K + k]! / n;
        const w = k * d;
        for (let j = 0; j < d; j++) grad[w + j]! += r * X[row + j]!;
        grad[K * d + k]! += r;
      }
    }
    let pen = 0;
    for (let j = 0; j < K * d; j++) {
      pen += p[j]! * p[j]!;
      grad[j]! += lambda * p[j]!;
    }
    return loss / n + (lambda / 2) * pen;
  };
  const r = lbfgs(f, new Float64Array(K * d + K), { tolerance: 1e-7, maxIterations: o.maxIterations ?? 2000 });
  return { classes, dim: d, weights: r.x.slice(0, K * d), bias: r.x.slice(K * d) };
}

function predictLinear(m: LinearModel, x: Features): number[] {
  const K = outputsFor(m.classes);
  if (K === 1) return predictBinary(m, x);
  const out: number[] = [];
  for (let i = 0; i < x.rows; i++) {
    let best = 0;
    let bestScore = -Infinity;
    for (let k = 0; k < K; k++) {
      let s = m.bias[k]!;
      for (let j = 0; j < m.dim; j++) s += m.weights[k * m.dim + j]! * (x.data[i * x.dim + j] as number);
      if (s > bestScore) {
        bestScore = s;
        best = k;
      }
    }
    out.push(best);
  }
  return out;
}

function predictBinary(m: LinearModel, x: Features): number[] {
  return Array.from({ length: x.rows }, (_, i) => {
    let s = m.bias[0]!;
    for (let j = 0; j < m.dim; j++) s += m.weights[j]! * (x.data[i * x.dim + j] as number);
    return s > 0 ? 1 : 0;
  });
}

export const accuracy = (pred: readonly number[], gold: readonly number[]) =>
  gold.length === 0 ? 0 : pred.reduce((a, p, i) => a + (p === gold[i] ? 1 : 0), 0) / gold.length;

export interface ProbeSplits {
  train: { x: Features; y: number[] };
  validation: { x: Features; y: number[] };
  test: { x: Features; y: number[] };
  classes: number;
}

export interface LayerProbe {
  /** The strength chosen on validation. */
  lambda: number;
  validation: number;
  test: number;
  perLambda: Array<{ lambda: number; validation: number; test: number }>;
}

export function probeLayer(s: ProbeSplits, lambdas: readonly number[] = PROBE_LAMBDAS): LayerProbe {
  const perLambda = lambdas.map((lambda) => {
    const m = fitLinearProbe(s.train.x, s.train.y, s.classes, lambda);
    return {
      lambda,
      validation: accuracy(predictLinear(m, s.validation.x), s.validation.y),
      test: accuracy(predictLinear(m, s.test.x), s.test.y),
    };
  });
  let best = 0;
  perLambda.forEach((p, i) => {
    if (p.validation > perLambda[best]!.validation) best = i;
  });
  return { ...perLambda[best]!, perLambda };
}
