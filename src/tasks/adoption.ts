import { firstNonFinite } from '../util/numbers.js';

/**
 * The one adoption decision: whether a newly trained or imported model replaces the one in use, and the
 * sentence that says why. Every adopter calls `decideAdoption` (finetune for both tasks, risk-train, adopt):
 *
 * - A model that is broken is refused whatever the metric says and whatever the flag: one whose validation
 *   messages are mostly empty (an empty message out-scores a weak model's words in B-Norm), or one whose
 *   scores or figures are not finite numbers (a diverged run, an overflowing adapter).
 * - auto: adopted only when its figure beats the one in use's (a tie keeps the one in use);
 *   always / never: the flag decides, and the sentence still says how the comparison came out.
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
  /** The flag as the user gave it, when not `--adopt <mode>` (adopt's `--force`). */
  flag?: string;
  /** The candidate's validation messages: mostly empty ones mean a broken model. */
  generations?: readonly string[];
  /** The candidate's raw scores (probabilities, logits): any that is not finite means a broken model. */
  scores?: ArrayLike<number>;
}

export interface AdoptionVerdict {
  adopted: boolean;
  reason: string;
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
  const broken = brokenModel(c);
  if (broken) return { adopted: false, reason: `${c.subject} is refused: ${broken}`, broken };
  const comparable = Number.isFinite(c.inUse);
  const better = comparable && c.candidate > c.inUse;
  const d = c.digits ?? 2;
  const compared = comparable
    ? `${c.subject} ${better ? 'beats' : 'does not beat'} ${c.against} on ${c.metric} (${c.candidate.toFixed(d)} against ${c.inUse.toFixed(d)}${c.after ? ` ${c.after}` : ''})`
    : `${c.against} has no ${c.metric} to compare with`;
  const adopted = mode === 'always' || (mode === 'auto' && better);
  return { adopted, reason: mode === 'auto' ? compared : `${flag}; ${compared}` };
}
