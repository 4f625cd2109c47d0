import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chrfStatistics, chrfOfStatistics, corpusChrf } from '../../src/eval/chrf.js';
import { editSimilarity, exactMatch, meanEditSimilarity, scoredPairs } from '../../src/eval/editSim.js';
import { cmgMetrics } from '../../src/eval/cmgMetrics.js';

const gold = JSON.parse(readFileSync('test/fixtures/cmgmetrics/goldens.json', 'utf8')) as {
  pairs: Array<{ pred: string; gold: string }>;
  editSim: number;
  exactMatch1: number;
  exactMatch2: number;
  chrF: number;
  chrFPerPair: number[];
};
const preds = gold.pairs.map((p) => p.pred);
const refs = gold.pairs.map((p) => p.gold);

test('EditSim and ExactMatch@1/@2 equal CommitChronicle’s metrics; ChrF equals sacrebleu’s corpus chrF', () => {
  // The reference sums in float32: agreement to 1e-4 on the x 100 scale.
  assert.ok(Math.abs(meanEditSimilarity(preds, refs) - gold.editSim) < 1e-4, `${meanEditSimilarity(preds, refs)} vs ${gold.editSim}`);
  assert.ok(Math.abs(exactMatch(preds, refs, 1) - gold.exactMatch1) < 1e-4);
  assert.ok(Math.abs(exactMatch(preds, refs, 2) - gold.exactMatch2) < 1e-4);
  const kept = scoredPairs(preds, refs);
  assert.equal(kept.length, gold.chrFPerPair.length, 'the pair with an empty reference is left out');
  kept.forEach(([p, r], i) => assert.ok(Math.abs(chrfOfStatistics(chrfStatistics(p, r)) - gold.chrFPerPair[i]!) < 1e-9, `pair ${i}`));
  assert.ok(
    Math.abs(
      corpusChrf(
        kept.map((k) => k[0]),
        kept.map((k) => k[1]),
      ) - gold.chrF,
    ) < 1e-9,
  );
  const m = cmgMetrics(preds, refs);
  assert.ok(Math.abs(m.chrF - gold.chrF) < 1e-9 && Math.abs(m.editSim - gold.editSim) < 1e-4);
  assert.ok(m.subject, 'multi-line messages get subject-only scores too');
  assert.equal(cmgMetrics(['a b'], ['a b']).subject, undefined);
});

test('edit similarity by code point: emoji count once, two empty strings are equal', () => {
  assert.equal(editSimilarity('🎉a', '🎉b'), 0.5);
  assert.equal(editSimilarity('', ''), 1);
  assert.equal(editSimilarity('kitten', 'sitting'), 1 - 3 / 7);
});
