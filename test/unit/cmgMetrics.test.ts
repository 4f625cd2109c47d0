import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bnormBleu,
  meteor,
  nistNormalize,
  rougeL,
  sentenceBleu,
  sentenceMeteor,
  sentenceRougeL,
  splitPuncts,
  cmgMetrics,
} from '../../src/eval/cmgMetrics.js';

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) < eps, `${a} vs ${b}`);

test('B-Norm BLEU tokenisation: splitPuncts (Unicode \\w) then NIST mteval normalisation', () => {
  assert.equal(splitPuncts('  Fix foo_bar.  '), 'fix foo_bar .');
  assert.equal(splitPuncts('Ünïcode naïve—test'), 'ünïcode naïve — test');
  assert.deepEqual(nistNormalize('fix foo_bar .'), ['fix', 'foo', '_', 'bar', '.']);
  // Commas split unless between digits, a dash after a digit splits, XML entities are unescaped.
  assert.deepEqual(nistNormalize('a,b 1,000 x-1 3-4 &amp;'), ['a', ',', 'b', '1,000', 'x-1', '3', '-', '4', '&']);
});

test('B-Norm BLEU: hand-computed sentence scores, the add-one smoothing and the brevity penalty', () => {
  close(sentenceBleu(['fix null pointer in parser'], 'fix null pointer in parser'), 1);
  // "fix bug" vs "fix the bug": p1 = 2/2, p2 = (0+1)/(1+1), p3 = p4 = (0+1)/(0+1); BP = 1 - 4/3.
  close(sentenceBleu(['fix the bug'], 'fix bug'), Math.exp(Math.log(0.5) / 4 + (1 - 4 / 3)));
  // No unigram match: unsmoothed unigram precision 0 sends the score to 0.
  close(sentenceBleu(['add tests'], 'remove docs'), 0);
  // An empty prediction: every precision is 0/0 smoothed to 1, BP = 1 - (r+1)/1: exp(-r).
  close(sentenceBleu(['fix the bug'], ''), Math.exp(-3));
  // Corpus: lower-cased and tokenised first, mean x 100.
  close(
    bnormBleu(['Fix bug', 'Fix null pointer in parser.'], ['fix the bug', 'fix null pointer in parser.']),
    (100 * (Math.exp(Math.log(0.5) / 4 - 1 / 3) + 1)) / 2,
  );
  assert.throws(() => bnormBleu(['a'], []), /1 predictions but 0 references/);
});

test('ROUGE-L: LCS of whitespace tokens, F with beta 1.2', () => {
  // LCS("fix the null pointer bug", "fix null bug") = 3: P = 1, R = 3/5.
  close(sentenceRougeL(['fix the null pointer bug'], 'fix null bug'), (2.44 * 1 * 0.6) / (0.6 + 1.44 * 1));
  close(sentenceRougeL(['a b c'], 'a b c'), 1);
  close(sentenceRougeL(['a b c'], 'd e'), 0);
  close(sentenceRougeL(['Fix bug'], 'fix bug'), (2.44 * 0.5 * 0.5) / (0.5 + 1.44 * 0.5), 1e-12); // case is kept
  close(rougeL(['fix null bug', 'a b c'], ['fix the null pointer bug', 'a b c']), (100 * ((2.44 * 0.6) / 2.04 + 1)) / 2);
});

test('METEOR: exact then stem matches, function words weighted by 1 - delta, fragmentation penalty', () => {
  close(sentenceMeteor('fix crash in parser', 'fix crash in parser'), 1, 1e-12); // identical: no fragmentation penalty
  // Every word matched in one chunk but the reference is longer: the penalty applies.
  const Pi = 1;
  const Ri = (0.75 * 2) / (0.75 * 3);
  close(sentenceMeteor('fix crash parser', 'fix crash'), ((Pi * Ri) / (0.85 * Pi + 0.15 * Ri)) * (1 - 0.6 * (1 / 2) ** 0.2));
  // "fixes crash widgets" vs "fix crash for widgets": crash, widgets exact (1.0), fixes~fix by stem (0.6);
  // "for" is a function word (weight 0.25 against 0.75); chunks [fix crash] [widgets] = 2 of 3 matches.
  const P = (0.75 * (0.6 + 1 + 1)) / (0.75 * 3);
  const R = (0.75 * 0.6 + 0.75 * 1 + 0.25 * 0 + 0.75 * 1) / (0.75 * 3 + 0.25);
  const fmean = (P * R) / (0.85 * P + 0.15 * R);
  close(sentenceMeteor('fix crash for widgets', 'fixes crash widgets'), fmean * (1 - 0.6 * (2 / 3) ** 0.2));
  close(sentenceMeteor('add tests', 'remove docs'), 0);
  close(sentenceMeteor('add tests', ''), 0);
  // Order matters only through the chunks: reversed words are all matched, in three chunks.
  close(sentenceMeteor('alpha beta gamma', 'gamma beta alpha'), 1 - 0.6 * (3 / 3) ** 0.2);
  const all = cmgMetrics(['fixes crash widgets'], ['fix crash for widgets']);
  assert.equal(all.n, 1);
  close(all.meteor, 100 * sentenceMeteor('fix crash for widgets', 'fixes crash widgets'));
  close(meteor(['a'], ['a']), 100);
});
