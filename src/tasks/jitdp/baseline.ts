import { FEATURE_NAMES } from '../../git/expertFeatures.js';
import { jitdpMetrics, type JitdpMetrics } from '../../eval/jitdpMetrics.js';
import type { JitdpCommit } from './dataset.js';
import { contributions, fitLogistic, logit, type LogisticModel, type SparseRow } from './logistic.js';

/**
 * The JITLine-style baseline: bag of code tokens of the change (log counts; vocabulary from the training
 * split, tokens seen at least `minCount` times) plus the 14 expert features (log1p, then z-scored with
 * training statistics), class-weighted logistic regression; probabilities calibrated on validation with
 * Platt scaling and the threshold chosen there (best F1). Explanations are exact contributions.
 */
export interface BaselineModel {
  vocab: Map<string, number>;
  mean: number[];
  std: number[];
  model: LogisticModel;
  platt: { a: number; b: number };
  threshold: number;
}

const F = FEATURE_NAMES.length;
const squash = (name: string, v: number) => (name === 'fix' ? v : Math.log1p(Math.max(0, v)));

function encode(c: JitdpCommit, m: Pick<BaselineModel, 'vocab' | 'mean' | 'std'>): SparseRow {
  const idx: number[] = [];
  const val: number[] = [];
  FEATURE_NAMES.forEach((name, i) => {
    idx.push(i);
    val.push((squash(name, c.features[name]) - m.mean[i]!) / (m.std[i]! || 1));
  });
  for (const [t, n] of c.tokens) {
    const j = m.vocab.get(t);
    if (j !== undefined) {
      idx.push(F + j);
      val.push(Math.log1p(n));
    }
  }
  return { idx: Int32Array.from(idx), val: Float64Array.from(val) };
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

export function trainBaseline(train: readonly JitdpCommit[], validation: readonly JitdpCommit[], o: { minCount?: number; maxVocab?: number; epochs?: number } = {}): BaselineModel {
  const counts = new Map<string, number>();
  for (const c of train) for (const t of c.tokens.keys()) counts.set(t, (counts.get(t) ?? 0) + 1);
  const kept = [...counts].filter(([, n]) => n >= (o.minCount ?? 3)).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, o.maxVocab ?? 20000);
  const vocab = new Map(kept.map(([t], i) => [t, i]));
  const mean = FEATURE_NAMES.map((n) => train.reduce((s, c) => s + squash(n, c.features[n]), 0) / Math.max(1, train.length));
  const std = FEATURE_NAMES.map((n, i) => Math.sqrt(train.reduce((s, c) => s + (squash(n, c.features[n]) - mean[i]!) ** 2, 0) / Math.max(1, train.length)));
  const enc = { vocab, mean, std };
  const model = fitLogistic(train.map((c) => encode(c, enc)), train.map((c) => c.label), F + vocab.size, { epochs: o.epochs ?? 300 });
  // Platt scaling on validation logits, then the F1-best threshold there.
  const z = validation.map((c) => logit(model, encode(c, enc)));
  const y = validation.map((c) => c.label);
  let a = 1;
  let b = 0;
  if (validation.length > 0 && y.some((v) => v === 1) && y.some((v) => v === 0)) {
    for (let it = 0; it < 500; it++) {
      let ga = 0;
      let gb = 0;
      z.forEach((zi, i) => {
        const d = sigmoid(a * zi + b) - y[i]!;
        ga += d * zi;
        gb += d;
      });
      a -= (0.5 * ga) / z.length;
      b -= (0.5 * gb) / z.length;
    }
  }
  let threshold = 0.5;
  let best = -1;
  const probs = z.map((zi) => sigmoid(a * zi + b));
  for (let t = 0.05; t < 0.96; t += 0.01) {
    const f1 = jitdpMetrics(probs.map((p, i) => ({ prob: p, label: y[i]!, effort: 1 })), t).f1;
    if (f1 > best) {
      best = f1;
      threshold = t;
    }
  }
  return { vocab, mean, std, model, platt: { a, b }, threshold: validation.length ? threshold : 0.5 };
}

export function scoreBaseline(m: BaselineModel, c: JitdpCommit): number {
  return sigmoid(m.platt.a * logit(m.model, encode(c, m)) + m.platt.b);
}

export function evaluateBaseline(m: BaselineModel, test: readonly JitdpCommit[]): JitdpMetrics {
  return jitdpMetrics(test.map((c) => ({ prob: scoreBaseline(m, c), label: c.label, effort: c.effort })), m.threshold);
}

/** The reasons for a score: the largest contributions, expert features by name and tokens as written. */
export function explainBaseline(m: BaselineModel, c: JitdpCommit, top = 5): Array<{ name: string; contribution: number }> {
  const names = [...FEATURE_NAMES, ...[...m.vocab.keys()].map((t) => `token ${t}`)];
  return contributions(m.model, encode(c, m))
    .map((x) => ({ name: names[x.index]!, contribution: x.contribution * m.platt.a }))
    .sort((p, q) => Math.abs(q.contribution) - Math.abs(p.contribution))
    .slice(0, top);
}

