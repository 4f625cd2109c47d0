import { pySplit } from '../util/text.js';

/**
 * chrF as sacrebleu 2.x computes it with its defaults (character n-grams of orders 1 to 6 over the segment
 * with all white space removed, no word n-grams, beta 2, no lowercasing, no eps smoothing): the hypothesis,
 * reference and matching n-gram counts of every segment summed over the corpus, then per order precision and
 * recall, averaged over the orders where both sides have n-grams, and F-beta x 100. A hypothesis's n-grams of
 * an order its reference has none of are not counted, as sacrebleu does. Characters are code points, as in
 * Python. Written by hand: no JavaScript library computes sacrebleu's variant.
 */
const ORDER = 6;
const BETA = 2;

function charNgrams(line: string, n: number): Map<string, number> {
  const chars = Array.from(pySplit(line).join(''));
  const out = new Map<string, number>();
  for (let i = 0; i + n <= chars.length; i++) {
    const g = chars.slice(i, i + n).join('');
    out.set(g, (out.get(g) ?? 0) + 1);
  }
  return out;
}

/** [hyp, ref, match] counts per order, flattened, for one segment. */
export function chrfStatistics(hypothesis: string, reference: string): number[] {
  const stats: number[] = [];
  for (let n = 1; n <= ORDER; n++) {
    const h = charNgrams(hypothesis, n);
    const r = charNgrams(reference, n);
    let hyp = 0;
    let match = 0;
    for (const [g, c] of h) {
      hyp += c;
      const rc = r.get(g);
      if (rc !== undefined) match += Math.min(c, rc);
    }
    let ref = 0;
    for (const c of r.values()) ref += c;
    stats.push(r.size ? hyp : 0, ref, match);
  }
  return stats;
}

/** sacrebleu's `_compute_f_score` without eps smoothing, over summed statistics. */
export function chrfOfStatistics(stats: readonly number[]): number {
  const factor = BETA ** 2;
  let avgPrec = 0;
  let avgRec = 0;
  let effective = 0;
  for (let i = 0; i < ORDER; i++) {
    const [hyp, ref, match] = [stats[3 * i]!, stats[3 * i + 1]!, stats[3 * i + 2]!];
    if (hyp > 0 && ref > 0) {
      avgPrec += match / hyp;
      avgRec += match / ref;
      effective++;
    }
  }
  if (effective === 0) return 0;
  avgPrec /= effective;
  avgRec /= effective;
  return avgPrec + avgRec ? (100 * (1 + factor) * avgPrec * avgRec) / (factor * avgPrec + avgRec) : 0;
}

/** Corpus chrF (sacrebleu `CHRF().corpus_score(hyps, [refs])`), 0 to 100. */
export function corpusChrf(hypotheses: readonly string[], references: readonly string[]): number {
  const sum = new Array<number>(3 * ORDER).fill(0);
  hypotheses.forEach((h, i) => chrfStatistics(h, references[i]!).forEach((v, k) => (sum[k]! += v)));
  return chrfOfStatistics(sum);
}
