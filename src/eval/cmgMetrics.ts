import { corpusMeteor, segmentMeteor } from './meteor.js';
import { corpusChrf } from './chrf.js';
import { exactMatch, meanEditSimilarity, scoredPairs } from './editSim.js';

/**
 * Commit-message metrics exactly as the study defines them (../shared/notes/study.md), written by hand
 * because no JavaScript library computes these variants:
 *
 * - **B-Norm BLEU**: CodeXGLUE's smooth_bleu.py (CodeNN's bleu.py): the message lower-cased and split into
 *   `[\w]+|[^\s\w]` tokens (Python's Unicode \w), then NIST mteval-v11a normalisation (XML unescaping,
 *   punctuation, period/comma and digit-dash tokenisation), sentence BLEU-4 with add-one smoothing on the
 *   2-, 3- and 4-gram precisions (none on unigrams), brevity penalty min(0, 1 - (r+1)/(c+1)) in log space with
 *   r the shortest reference length; corpus score = mean sentence score x 100.
 * - **ROUGE-L**: longest common subsequence of whitespace tokens (no case folding), F-measure with beta = 1.2
 *   (precision and recall maximised over references, as pycocoevalcap's Rouge), mean x 100.
 * - **METEOR**: METEOR 1.5 as the published papers run it (-l en -norm), with the exact and stem modules
 *   (no WordNet synonyms or paraphrase tables); the corpus score is METEOR's own aggregate over summed
 *   statistics, not a mean of sentence scores. The port and its checks are in ./meteor.ts.
 */

const FLOAT_MIN = 2.2250738585072014e-308;

const unescapeXml = (s: string) =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

/** CodeXGLUE's splitPuncts after lower-casing: `' '.join(re.findall(r"[\w]+|[^\s\w]", line))`. */
export function splitPuncts(line: string): string {
  return (
    line
      .trim()
      .toLowerCase()
      .match(/[\p{L}\p{N}_]+|[^\s\p{L}\p{N}_]/gu) ?? []
  ).join(' ');
}

/** NIST mteval-v11a normalisation as bleu.py's `normalize` (preserve_case False). */
export function nistNormalize(s: string): string[] {
  s = s
    .replace(/<skipped>/g, '')
    .replace(/-\n/g, '')
    .replace(/\n/g, ' ');
  s = unescapeXml(s);
  s = ` ${s} `.toLowerCase();
  s = s.replace(/([{-~[-` -&(-+:-@\/])/g, ' $1 ');
  s = s.replace(/([^0-9])([.,])/g, '$1 $2 ');
  s = s.replace(/([.,])([^0-9])/g, ' $1 $2');
  s = s.replace(/([0-9])(-)/g, '$1 $2 ');
  return s.split(/\s+/).filter(Boolean);
}

function ngramCounts(words: readonly string[], n = 4): Map<string, number> {
  const counts = new Map<string, number>();
  for (let k = 1; k <= n; k++) {
    for (let i = 0; i + k <= words.length; i++) {
      const g = words.slice(i, i + k).join('\u0001');
      counts.set(g, (counts.get(g) ?? 0) + 1);
    }
  }
  return counts;
}

/** Smoothed BLEU-4 (bleu.py's score_cooked for one segment) of token sequences, in [0, 1]. */
export function bleuOfTokens(refToks: ReadonlyArray<readonly string[]>, test: readonly string[]): number {
  const n = 4;
  const maxCounts = new Map<string, number>();
  for (const r of refToks) for (const [g, c] of ngramCounts(r, n)) maxCounts.set(g, Math.max(maxCounts.get(g) ?? 0, c));
  const reflen = Math.min(...refToks.map((r) => r.length));
  const guess = Array.from({ length: n }, (_, k) => Math.max(test.length - k, 0));
  const correct = new Array<number>(n).fill(0);
  for (const [g, c] of ngramCounts(test, n)) correct[g.split('\u0001').length - 1]! += Math.min(maxCounts.get(g) ?? 0, c);
  let logBleu = 0;
  for (let k = 0; k < n; k++) {
    const add = k > 0 ? 1 : 0;
    logBleu += Math.log(correct[k]! + add + FLOAT_MIN) - Math.log(guess[k]! + add + FLOAT_MIN);
  }
  logBleu /= n;
  const brevity = Math.min(0, 1 - (reflen + 1) / (test.length + 1));
  return Math.exp(logBleu + brevity);
}

/** Sentence-level smoothed BLEU-4 of one hypothesis against its references (both already splitPuncts-ed), in [0, 1]. */
export function sentenceBleu(refs: readonly string[], hyp: string): number {
  return bleuOfTokens(refs.map(nistNormalize), nistNormalize(hyp));
}

/** Each pair's B-Norm sentence BLEU x 100: the per-item scores whose mean is bnormBleu (for paired tests). */
export function bnormPerItem(predictions: readonly string[], references: readonly string[]): number[] {
  checkPairs(predictions, references);
  return predictions.map((p, i) => sentenceBleu([splitPuncts(references[i]!)], splitPuncts(p)) * 100);
}

/** B-Norm BLEU of a corpus: the mean of sentence BLEU over (prediction, reference) pairs, x 100. */
export function bnormBleu(predictions: readonly string[], references: readonly string[]): number {
  checkPairs(predictions, references);
  let sum = 0;
  predictions.forEach((p, i) => (sum += sentenceBleu([splitPuncts(references[i]!)], splitPuncts(p))));
  return (sum * 100) / predictions.length;
}

function lcs(a: readonly string[], b: readonly string[]): number {
  const prev = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    let diag = 0;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = a[i - 1] === b[j - 1] ? diag + 1 : Math.max(prev[j]!, prev[j - 1]!);
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** ROUGE-L F (beta 1.2) of one hypothesis against references, in [0, 1]. */
export function sentenceRougeL(refs: readonly string[], hyp: string, beta = 1.2): number {
  const c = hyp.trim().split(/\s+/).filter(Boolean);
  let p = 0;
  let r = 0;
  for (const ref of refs) {
    const t = ref.trim().split(/\s+/).filter(Boolean);
    const l = lcs(t, c);
    p = Math.max(p, c.length ? l / c.length : 0);
    r = Math.max(r, t.length ? l / t.length : 0);
  }
  return p !== 0 && r !== 0 ? ((1 + beta ** 2) * p * r) / (r + beta ** 2 * p) : 0;
}

export function rougeL(predictions: readonly string[], references: readonly string[]): number {
  checkPairs(predictions, references);
  let sum = 0;
  predictions.forEach((p, i) => (sum += sentenceRougeL([references[i]!], p)));
  return (sum * 100) / predictions.length;
}

/** METEOR of one hypothesis against one reference (METEOR 1.5, exact + stem: src/eval/meteor.ts), in [0, 1]. */
export function sentenceMeteor(reference: string, hypothesis: string): number {
  return segmentMeteor(reference, hypothesis);
}

/** Corpus METEOR as METEOR 1.5 reports it: its aggregate over summed statistics, x 100. */
export function meteor(predictions: readonly string[], references: readonly string[]): number {
  checkPairs(predictions, references);
  return corpusMeteor(predictions, references);
}

function checkPairs(p: readonly string[], r: readonly string[]): void {
  if (p.length !== r.length) throw new RangeError(`${p.length} predictions but ${r.length} references`);
  if (p.length === 0) throw new RangeError('no predictions');
}

export interface CmgMetrics {
  n: number;
  bnormBleu: number;
  rougeL: number;
  meteor: number;
  /** CommitChronicle's completion metrics (./editSim.ts) and sacrebleu's corpus chrF (./chrf.ts), on stripped pairs with a reference. */
  editSim: number;
  chrF: number;
  exactMatch1: number;
  exactMatch2: number;
  /** A code LLM's messages: the share (%) that name only paths and identifiers the change or the tree has (`unfaithfulNames`). */
  faithful?: number;
  /** The same on the subjects (first lines) alone, when a message has more than one line. */
  subject?: Omit<CmgMetrics, 'subject'>;
}

/** A message's subject: its first line. */
export const subjectOf = (m: string) => m.trim().split(/\r?\n/)[0]!;

export function cmgMetrics(predictions: readonly string[], references: readonly string[]): CmgMetrics {
  const pairs = scoredPairs(predictions, references);
  const all = {
    n: predictions.length,
    bnormBleu: bnormBleu(predictions, references),
    rougeL: rougeL(predictions, references),
    meteor: meteor(predictions, references),
    editSim: meanEditSimilarity(predictions, references),
    chrF: pairs.length
      ? corpusChrf(
          pairs.map((p) => p[0]),
          pairs.map((p) => p[1]),
        )
      : 0,
    exactMatch1: exactMatch(predictions, references, 1),
    exactMatch2: exactMatch(predictions, references, 2),
  };
  const multiLine = [...predictions, ...references].some((m) => /\n/.test(m.trim()));
  return multiLine
    ? { ...all, subject: cmgMetrics(predictions.map(subjectOf), references.map(subjectOf)) as Omit<CmgMetrics, 'subject'> }
    : all;
}
