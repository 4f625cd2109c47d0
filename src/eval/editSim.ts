import { pySplit, pyStrip } from '../util/text.js';

/**
 * The completion metrics of CommitChronicle (JetBrains-Research/commit_message_generation, src/metrics/ and
 * compute_metrics.py), on messages stripped as that script strips them, pairs with an empty reference left out:
 * - EditSim: the mean over pairs of rapidfuzz's normalised Levenshtein similarity (insert, delete and
 *   substitute cost 1: 1 - distance / the longer length; two empty strings are equal), x 100;
 * - ExactMatch@n: the share of pairs whose first n whitespace-separated words are equal, among the pairs whose
 *   reference has at least n words, x 100 (0 when none has).
 * Strings are compared by code point, as Python compares them.
 */
export function levenshtein(a: readonly string[], b: readonly string[]): number {
  if (a.length < b.length) [a, b] = [b, a];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur.push(Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    prev = cur;
  }
  return prev[b.length]!;
}

export function editSimilarity(prediction: string, reference: string): number {
  const a = Array.from(prediction);
  const b = Array.from(reference);
  const longest = Math.max(a.length, b.length);
  return longest === 0 ? 1 : 1 - levenshtein(a, b) / longest;
}

/** The pairs the reference scores: both stripped, those with an empty reference left out. */
export function scoredPairs(predictions: readonly string[], references: readonly string[]): Array<[string, string]> {
  return predictions.map((p, i): [string, string] => [pyStrip(p), pyStrip(references[i]!)]).filter(([, r]) => r.length > 0);
}

export function meanEditSimilarity(predictions: readonly string[], references: readonly string[]): number {
  const pairs = scoredPairs(predictions, references);
  return pairs.length ? (100 * pairs.reduce((s, [p, r]) => s + editSimilarity(p, r), 0)) / pairs.length : 0;
}

export function exactMatch(predictions: readonly string[], references: readonly string[], n: number): number {
  let total = 0;
  let correct = 0;
  for (const [p, r] of scoredPairs(predictions, references)) {
    const pw = pySplit(p);
    const rw = pySplit(r);
    if (rw.length < n) continue;
    total++;
    if (pw.length >= n && rw.slice(0, n).every((w, i) => w === pw[i])) correct++;
  }
  return total ? (100 * correct) / total : 0;
}
