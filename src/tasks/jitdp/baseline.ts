import { isReasonToken, type Reason } from './reasons.js';
import { FEATURE_NAMES } from '../../git/expertFeatures.js';
import { aucRoc, jitdpMetrics, type JitdpMetrics } from '../../eval/jitdpMetrics.js';
import { lineTokens, type JitdpCommit } from './dataset.js';
import { contributions, fitLogistic, logit, type LogisticModel, type SparseRow } from './logistic.js';
import { fitScaling, referenceScaled, scaleFeatures, type FeatureScaling } from './scaling.js';
import { calibrate, calibrated, type Calibration } from './calibration.js';

/**
 * The JITLine-style baseline: bag of code tokens of the change (log counts; vocabulary from the training
 * split, tokens seen at least `minCount` times) plus the 14 expert features (scaled as `scaling.ts` says),
 * class-weighted logistic regression; probabilities calibrated on validation with Platt scaling and the
 * threshold chosen there (best F1). With `maxVocab: 0` it is the expert-feature model (the embedded
 * default). Explanations are exact contributions, and line scores are the token contributions shared out
 * over the lines that hold the tokens (JITLine ranks lines by its tokens' weights the same way).
 */
export interface BaselineModel extends FeatureScaling, Calibration {
  vocab: Map<string, number>;
  model: LogisticModel;
  /** The training split's fraction of buggy commits. */
  baseRate: number;
}

const F = FEATURE_NAMES.length;

function encode(c: Pick<JitdpCommit, 'features' | 'tokens'>, m: Pick<BaselineModel, 'vocab' | 'mean' | 'std'>): SparseRow {
  const idx: number[] = [...FEATURE_NAMES.keys()];
  const val: number[] = scaleFeatures(c.features, m);
  for (const [t, n] of c.tokens) {
    const j = m.vocab.get(t);
    if (j !== undefined) {
      idx.push(F + j);
      val.push(Math.log1p(n));
    }
  }
  return { idx: Int32Array.from(idx), val: Float64Array.from(val) };
}

export function trainBaseline(
  train: readonly JitdpCommit[],
  validation: readonly JitdpCommit[],
  o: { minCount?: number; maxVocab?: number; epochs?: number; l2?: number } = {},
): BaselineModel {
  const counts = new Map<string, number>();
  for (const c of train) for (const t of c.tokens.keys()) counts.set(t, (counts.get(t) ?? 0) + 1);
  const kept = [...counts]
    .filter(([, n]) => n >= (o.minCount ?? 3))
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, o.maxVocab ?? 20000);
  const vocab = new Map(kept.map(([t], i) => [t, i]));
  const enc = { vocab, ...fitScaling(train) };
  const rows = train.map((c) => encode(c, enc));
  const valRows = validation.map((c) => encode(c, enc));
  const valLabels = validation.map((c) => c.label);
  // The L2 strength is chosen on validation (AUC): thousands of token weights overfit a small history.
  const candidates = o.l2 !== undefined ? [o.l2] : valLabels.includes(0) && valLabels.includes(1) ? [1e-4, 1e-3, 1e-2, 1e-1] : [1e-3];
  let model: LogisticModel | null = null;
  let bestAuc = -1;
  for (const l2 of candidates) {
    const m = fitLogistic(
      rows,
      train.map((c) => c.label),
      F + vocab.size,
      { epochs: o.epochs ?? 300, l2 },
    );
    const auc = candidates.length > 1 ? aucRoc(valRows.map((x, i) => ({ prob: logit(m, x), label: valLabels[i]!, effort: 1 }))) : 0;
    if (model === null || auc > bestAuc) {
      model = m;
      bestAuc = auc;
    }
  }
  const cal = calibrate(
    valRows.map((x) => logit(model!, x)),
    valLabels,
  );
  return { ...enc, model: model!, ...cal, baseRate: train.filter((c) => c.label === 1).length / Math.max(1, train.length) };
}

export function scoreBaseline(m: BaselineModel, c: Pick<JitdpCommit, 'features' | 'tokens'>): number {
  return calibrated(m, logit(m.model, encode(c, m)));
}

export function evaluateBaseline(m: BaselineModel, test: readonly JitdpCommit[]): JitdpMetrics {
  return jitdpMetrics(
    test.map((c) => ({ prob: scoreBaseline(m, c), label: c.label, effort: c.effort })),
    m.threshold,
  );
}

/**
 * Every input's share of a score against the typical commit (`referenceScaled`): the expert features by name,
 * the code tokens the change holds that a developer can read (identifiers and keywords, not punctuation),
 * each as "token +foo" or "token -foo". `riskReasons` turns them into the reasons shown.
 */
export function explainBaseline(m: BaselineModel, c: Pick<JitdpCommit, 'features' | 'tokens'>): Reason[] {
  const tokens = [...m.vocab.keys()];
  const ref = referenceScaled(m);
  return contributions(m.model, encode(c, m))
    .filter((x) => x.index < F || isReasonToken(tokens[x.index - F]!))
    .map((x) =>
      x.index < F
        ? { name: FEATURE_NAMES[x.index]!, contribution: (x.contribution - m.model.weights[x.index]! * ref[x.index]!) * m.platt.a }
        : { name: `token ${tokens[x.index - F]}`, contribution: x.contribution * m.platt.a },
    );
}

/**
 * Line-level scores: each changed line gets the contributions of the tokens it holds, each token's
 * contribution shared equally among its occurrences in the change, so the line scores add up to the
 * tokens' part of the logit. `lines` are the changed lines with their sign ("+" or "-").
 */
export function lineScoresBaseline(m: BaselineModel, lines: ReadonlyArray<{ sign: '+' | '-'; text: string }>): number[] {
  return lineShares(m, lines).map((ts) => ts.reduce((s, t) => s + t.share, 0));
}

/** Each line's tokens that raise its score, largest share first, at most `top`. */
export function lineReasons(m: BaselineModel, lines: ReadonlyArray<{ sign: '+' | '-'; text: string }>, top = 3): string[][] {
  return lineShares(m, lines).map((ts) =>
    [...new Map(ts.filter((t) => t.share > 0 && isReasonToken(t.token)).map((t) => [t.token, t.share]))]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([t]) => `token ${t}`),
  );
}

function lineShares(
  m: BaselineModel,
  lines: ReadonlyArray<{ sign: '+' | '-'; text: string }>,
): Array<Array<{ token: string; share: number }>> {
  const { tokens, occurrence } = lineTokens(lines);
  const share = (t: string) => {
    const j = m.vocab.get(t);
    return j === undefined ? 0 : m.model.weights[F + j]! * occurrence(t) * m.platt.a;
  };
  return tokens.map((ts) => ts.map((token) => ({ token, share: share(token) })));
}
