import { firstNonFinite } from '../util/numbers.js';
import { bootstrapImprovement, delongImprovement, type Improvement } from '../eval/significance.js';

/**
 * The one adoption decision: whether a newly trained or imported model replaces the one in use, and the
 * sentence that says why. Every adopter calls `decideAdoption` (finetune for both tasks, risk-train, adopt):
 *
 * - A model that is broken is refused whatever the metric says and whatever the flag: one whose validation
 *   messages are mostly empty (an empty message out-scores a weak model's words in B-Norm), or one whose
 *   scores or figures are not finite numbers (a diverged run, an overflowing adapter).
 * - auto, with the per-item evidence: adopted only when the improvement is beyond the noise of the validation
 *   split: the one-sided 95% lower bound of candidate minus in use (DeLong's test for AUC, a paired bootstrap of
 *   1,000 resamples for per-item message scores) is above zero. With fewer than MIN_CLASS buggy or clean commits
 *   nothing can be judged, and the model in use stays. Without evidence (a single figure each): the figures.
 * - always / never: the flag decides, and the sentence still says how the comparison came out.
 */
export type AdoptMode = 'auto' | 'always' | 'never';

export interface Comparison {
  /** The new model ("the tuned model"), the one it is compared with ("the untuned one"), on what. */
  subject: string;
  against: string;
  metric: string;
  /** The two figures (higher is better) and how many digits to show. */
  candidate: number;
  inUse: number;
  digits?: number;
  /** Words after the figures ("for the embedded default"). */
  after?: string;
  /** What stays when the candidate is not adopted ("the embedded default"); by default `against`. */
  keeps?: string;
  /** The flag as the user gave it, when not `--adopt <mode>` (adopt's `--force`). */
  flag?: string;
  /** The candidate's validation messages: mostly empty ones mean a broken model. */
  generations?: readonly string[];
  /** The candidate's raw scores (probabilities, logits): any that is not finite means a broken model. */
  scores?: ArrayLike<number>;
  /** Per-item evidence for the significance test (the figures above are then recomputed from it). */
  evidence?: Evidence;
}

/**
 * AUC: both models' scores on the same labelled validation commits (label 1: buggy). Items: each model's score
 * per validation item (sentence B-Norm of each message), whose mean is the figure.
 */
export type Evidence =
  | { kind: 'auc'; labels: readonly number[]; candidate: readonly number[]; inUse: readonly number[] }
  | { kind: 'items'; candidate: readonly number[]; inUse: readonly number[] };

/** The fewest buggy (and clean) validation commits on which an AUC comparison means anything. */
export const MIN_CLASS = 5;

/**
 * What a decision rests on, for the words a user reads (`reason` keeps the figures): the user's --adopt
 * always or never, a broken model, too few validation commits to judge, or the comparison's outcome.
 */
export type AdoptionBasis = 'asked-always' | 'asked-never' | 'broken' | 'too-few' | 'better' | 'not-better';

export interface AdoptionVerdict {
  adopted: boolean;
  reason: string;
  basis: AdoptionBasis;
  /** The improvement and its one-sided 95% lower bound, when the evidence allowed a test. */
  interval?: Improvement;
  /** Set when the model is refused as broken (not adopted even when forced). */
  broken?: string;
}

/** Why a model is broken, or null: evidence that no metric can outweigh. */
export function brokenModel(c: Pick<Comparison, 'generations' | 'scores' | 'candidate'>): string | null {
  const bad = c.scores ? firstNonFinite(c.scores) : -1;
  if (bad >= 0) return `its scores are not finite numbers (score ${bad} is ${c.scores![bad]}): the model is broken`;
  if (c.generations && c.generations.length > 0) {
    const empty = c.generations.filter((g) => g.trim() === '').length;
    if (empty * 2 >= c.generations.length)
      return `${empty} of its ${c.generations.length} validation messages are empty: the model is broken (did training diverge?)`;
  }
  if (!Number.isFinite(c.candidate)) return `its validation figure is ${c.candidate}, not a number`;
  return null;
}

export function decideAdoption(mode: AdoptMode, c: Comparison): AdoptionVerdict {
  const flag = c.flag ?? `--adopt ${mode}`;
  const ev = c.evidence;
  const buggy = ev?.kind === 'auc' ? ev.labels.filter((l) => l === 1).length : 0;
  const clean = ev?.kind === 'auc' ? ev.labels.length - buggy : 0;
  const tooFew = ev?.kind === 'auc' && (buggy < MIN_CLASS || clean < MIN_CLASS);
  // With one class in validation the AUC is undefined: no evidence either way, not a sign of a broken model
  // (finite scores are still required).
  const broken = brokenModel(tooFew ? { ...c, candidate: 0 } : c);
  if (broken) return { adopted: false, reason: `${c.subject} is refused: ${broken}`, broken, basis: 'broken' };
  const asked: AdoptionBasis | null = mode === 'always' ? 'asked-always' : mode === 'never' ? 'asked-never' : null;
  const d = c.digits ?? 2;
  const said = (text: string) => (mode === 'auto' ? text : `${flag}; ${text}`);
  if (ev?.kind === 'auc') {
    if (tooFew)
      return {
        adopted: mode === 'always',
        basis: asked ?? 'too-few',
        reason: said(
          `too few ${buggy < MIN_CLASS ? 'buggy' : 'clean'} commits to judge: ${Math.min(buggy, clean)} in validation ` +
            `(at least ${MIN_CLASS} are needed); ${mode === 'always' ? 'adopted as asked' : `keeping ${c.keeps ?? c.against}`}`,
        ),
      };
  }
  const interval = ev
    ? ev.kind === 'auc'
      ? delongImprovement(ev.labels, ev.candidate, ev.inUse)
      : bootstrapImprovement(ev.candidate, ev.inUse)
    : undefined;
  const candidate = interval?.candidate ?? c.candidate;
  const inUse = interval?.inUse ?? c.inUse;
  const comparable = Number.isFinite(inUse);
  const better = comparable && (interval ? interval.lower > 0 : candidate > inUse);
  const figures = `${candidate.toFixed(d)} against ${inUse.toFixed(d)}${c.after ? ` ${c.after}` : ''}`;
  const bound = interval ? `; the improvement's 95% lower bound (${interval.method}) is ${interval.lower.toFixed(d)}` : '';
  const compared = !comparable
    ? `${c.against} has no ${c.metric} to compare with`
    : interval && !better && candidate > inUse
      ? `${c.subject} is not clearly better than ${c.against} on ${c.metric} (${figures}${bound}): keeping ${c.keeps ?? c.against}`
      : `${c.subject} ${better ? (interval ? 'is clearly better than' : 'beats') : 'does not beat'} ${c.against} on ${c.metric} (${figures}${bound})`;
  const adopted = mode === 'always' || (mode === 'auto' && better);
  return { adopted, reason: said(compared), basis: asked ?? (better ? 'better' : 'not-better'), ...(interval ? { interval } : {}) };
}
