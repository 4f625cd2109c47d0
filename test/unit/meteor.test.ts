import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { corpusMeteor, meteorNormalize, segmentMeteor } from '../../src/eval/meteor.js';

/** METEOR 1.5's own outputs (test/fixtures/meteor/make_goldens.py ran the jar) on 715 real message pairs. */
const G = JSON.parse(readFileSync(resolve('test/fixtures/meteor/goldens.json'), 'utf8'));

test('METEOR 1.5 normalisation: the same tokens as its Normalizer on every segment', () => {
  let n = 0;
  for (const s of G.segments) {
    assert.equal(meteorNormalize(s.hyp), s.hyp_norm.toLowerCase(), JSON.stringify(s.hyp));
    assert.equal(meteorNormalize(s.ref), s.ref_norm.toLowerCase(), JSON.stringify(s.ref));
    n++;
  }
  assert.equal(n, 715);
});

test("METEOR 1.5 segment scores (exact + stem) equal the jar's, and the corpus score is its aggregate, not a mean", () => {
  const bad: string[] = [];
  for (const s of G.segments) {
    const got = segmentMeteor(s.ref, s.hyp);
    if (Math.abs(got - s.score) > 1e-9) bad.push(`${JSON.stringify(s.hyp)} vs ${JSON.stringify(s.ref)}: ${got} != ${s.score}`);
  }
  assert.deepEqual(bad.slice(0, 5), []);
  const agg = corpusMeteor(
    G.segments.map((s: { hyp: string }) => s.hyp),
    G.segments.map((s: { ref: string }) => s.ref),
  );
  assert.ok(Math.abs(agg - G.aggregate * 100) < 1e-9, `${agg} vs ${G.aggregate * 100}`);
  assert.ok(Math.abs(G.mean_of_segments - G.aggregate) > 0.02, 'the two ways of averaging differ on real data');
});
