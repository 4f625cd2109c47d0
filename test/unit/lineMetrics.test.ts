import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { commitLineMetrics, lineMetrics, parseScoredLines } from '../../src/eval/lineMetrics.js';

interface Golden {
  commits: Array<{ commit: string; scores: number[]; labels: Array<0 | 1>; reference: Record<string, number> | null }>;
  mean: Record<string, number>;
}
const gold = JSON.parse(readFileSync('test/fixtures/linemetrics/goldens.json', 'utf8')) as Golden;

test('line-level metrics equal the reference get_line_level_metrics (JIT-Fine / JIT-Smart) commit by commit and on average', () => {
  for (const c of gold.commits) {
    const m = commitLineMetrics(c.scores.map((score, i) => ({ score, label: c.labels[i]! })));
    if (c.reference === null) {
      assert.equal(m, null, `${c.commit} has no defective line`);
      continue;
    }
    for (const [k, v] of Object.entries(c.reference))
      assert.ok(Math.abs(m![k as keyof typeof m]! - v) < 1e-12, `${c.commit} ${k}: ${m![k as keyof typeof m]} vs ${v}`);
  }
  const rows = gold.commits.flatMap((c) =>
    c.scores.map((score, i) => ({ commit: c.commit, path: 'a.c', line: i + 1, score, label: c.labels[i]! })),
  );
  const all = lineMetrics(rows);
  assert.equal(all.buggyCommits, gold.commits.filter((c) => c.reference).length);
  assert.equal(all.commits, gold.commits.length);
  for (const [k, v] of Object.entries(gold.mean))
    assert.ok(Math.abs(all[k as keyof typeof all] - v) < 1e-12, `${k}: ${all[k as keyof typeof all]} vs ${v}`);
});

test('ties keep the file order; a file without defective lines or with bad values is refused by line', () => {
  // Two lines scored alike: the first in the file is ranked first.
  assert.equal(
    commitLineMetrics([
      { score: 1, label: 0 },
      { score: 1, label: 1 },
    ])!.ifa,
    1,
  );
  assert.equal(
    commitLineMetrics([
      { score: 1, label: 1 },
      { score: 1, label: 0 },
    ])!.ifa,
    0,
  );
  assert.throws(() => lineMetrics([{ commit: 'a', path: 'x', line: 1, score: 0.5, label: 0 }]), /no commit has a defective line/);
  const ok = '{"commit":"a","path":"x.c","line":3,"score":0.5,"label":1}\n';
  assert.equal(parseScoredLines(ok, 'f').length, 1);
  assert.throws(
    () => parseScoredLines(ok + '{"commit":"a","path":"x.c","line":0,"score":0.5,"label":1}\n', 'f'),
    /f:2: "line" must be a whole number at least 1/,
  );
  assert.throws(
    () => parseScoredLines('{"commit":"a","path":"x.c","line":2,"score":"NaN","label":1}', 'f'),
    /f:1: "score" must be a number/,
  );
  assert.throws(() => parseScoredLines('{"commit":"a","path":"x.c","line":2,"score":1,"label":2}', 'f'), /f:1: "label" must be 0 or 1/);
  assert.throws(() => parseScoredLines('nope', 'f'), /f:1: not valid JSON/);
  assert.throws(() => parseScoredLines('\n# only a comment\n', 'f'), /f has no scored lines/);
});
