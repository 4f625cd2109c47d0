/**
 * Whether a newly trained model replaces the one in use, and the sentence that says why: one rule for
 * `finetune` (both tasks) and `risk-train`. auto: only when it is better on validation (a tie keeps the one in
 * use); always / never: the flag decides, and the sentence still says how the comparison came out.
 */
export type AdoptMode = 'auto' | 'always' | 'never';

export interface Comparison {
  /** The new model ("the tuned model"), the one it is compared with ("the untuned one"), on what. */
  subject: string;
  against: string;
  metric: string;
  /** Figures, in parentheses after the comparison: "0.81 against 0.77". */
  figures?: string;
  /** The flag as the user gave it, when not `--adopt <mode>` (adopt's `--force`). */
  flag?: string;
}

export function adoption(mode: AdoptMode, better: boolean, c: Comparison): { adopted: boolean; reason: string } {
  const compared = `${c.subject} ${better ? 'beats' : 'does not beat'} ${c.against} on ${c.metric}${c.figures ? ` (${c.figures})` : ''}`;
  const adopted = mode === 'always' || (mode === 'auto' && better);
  return { adopted, reason: mode === 'auto' ? compared : `${c.flag ?? `--adopt ${mode}`}; ${compared}` };
}
