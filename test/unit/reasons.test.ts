import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FEATURE_NAMES, type ExpertFeatures } from '../../src/git/expertFeatures.js';
import { DIRECTION, FACTS, factText, isReasonToken, reasonLine, riskReasons, tokenText } from '../../src/tasks/jitdp/reasons.js';
import { sigmoid } from '../../src/tasks/jitdp/logistic.js';
import { assertReasonsAgree } from '../helpers/riskyHistory.js';

const f: ExpertFeatures = {
  ns: 2,
  nd: 23,
  nf: 30,
  entropy: 4.6,
  la: 120,
  ld: 4,
  lt: 310.4,
  fix: 0,
  ndev: 4,
  age: 2.2,
  nuc: 17,
  exp: 0,
  rexp: 0,
  sexp: 0,
};

test('each fact in words, from all of the change’s features', () => {
  assert.equal(factText('size', f), 'adds 120 lines and deletes 4 in 30 files');
  assert.equal(factText('size', { ...f, ld: 0, nf: 1 }), 'adds 120 lines to 1 file');
  assert.equal(factText('size', { ...f, la: 0, ld: 1 }), 'deletes 1 line from 30 files');
  assert.equal(factText('spread', f), 'changes 30 files in 23 directories across 2 top-level directories, spread evenly over them');
  assert.equal(factText('spread', { ...f, nf: 1 }), 'keeps its changes in one file');
  assert.equal(factText('spread', { ...f, nf: 4, nd: 1, ns: 1, entropy: 0.5 }), 'changes 4 files in 1 directory, most of it in a few');
  assert.equal(factText('file size', f), 'the changed files had 310 lines each before, on average');
  assert.equal(factText('fix', { ...f, fix: 1 }), 'is a bug fix (by its message)');
  assert.equal(factText('file history', f), 'the files were changed 17 times before, by 4 people, last 2 days ago on average');
  assert.equal(factText('file history', { ...f, nuc: 0, ndev: 0, age: 0 }), 'the files are new: nobody changed them before');
  assert.equal(
    factText('file history', { ...f, nuc: 1, ndev: 1, age: 400 }),
    'the files were changed 1 time before, by 1 person, last 13 months ago on average',
  );
  assert.equal(factText('experience', f), 'the author has made no commit to code here before');
  assert.equal(
    factText('experience', { ...f, exp: 1250, sexp: 5, rexp: 3.25 }),
    'the author made 1,250 earlier commits to code here (5 changes to these top-level directories)',
  );
  assert.equal(
    factText('experience', { ...f, exp: 3, ns: 1, rexp: 0.2 }),
    'the author made 3 earlier commits to code here (none to this top-level directory)',
  );
  assert.equal(
    factText('experience', { ...f, exp: 435, ns: 1, sexp: 15 }, 'sexp'),
    'the author made 15 earlier changes to this top-level directory (435 commits to code here in all)',
  );
  assert.equal(
    factText('experience', { ...f, exp: 435, ns: 1, sexp: 0 }, 'sexp'),
    'the author has made no change to this top-level directory before (435 commits to code here in all)',
  );
  assert.equal(
    factText('experience', { ...f, exp: 12, rexp: 0.5 }, 'rexp'),
    "the author's recent commits here: 0.5 (weighted by age; 12 commits to code here in all)",
  );
  assert.equal(tokenText('token +unsafe_copy'), 'adds "unsafe_copy"');
  assert.equal(tokenText('token -return'), 'removes "return"');
  // Every feature belongs to exactly one fact and has a direction.
  assert.deepEqual(Object.values(FACTS).flat().sort(), [...FEATURE_NAMES].sort());
  assert.deepEqual(Object.keys(DIRECTION).sort(), [...FEATURE_NAMES].sort());
});

test('reasons agree: one per fact, none against its feature’s direction, effects in percentage points', () => {
  // The report the issue quotes: no recent experience "lowering" risk while no experience in the directory
  // raises it, and 23 directories "lowering" it. Deviations: below the typical commit for experience, above
  // it for directories and size.
  const dev = (v: Partial<Record<keyof ExpertFeatures, number>>) => FEATURE_NAMES.map((n) => v[n] ?? 0);
  const deviation = dev({ rexp: -1.2, sexp: -0.9, exp: -1.1, nd: 2.5, la: 1.4, nuc: 0.8, ndev: 0.3 });
  const all = [
    { name: 'rexp', contribution: -1.36 }, // against: low experience cannot lower risk
    { name: 'sexp', contribution: 0.99 },
    { name: 'exp', contribution: 0.2 },
    { name: 'nd', contribution: -2.07 }, // against: more directories cannot lower risk
    { name: 'la', contribution: 0.8 },
    { name: 'nuc', contribution: 0.3 },
    { name: 'ndev', contribution: -0.1 }, // against
    { name: 'token +unsafe_copy', contribution: 0.5 },
    { name: 'token -check', contribution: -0.05 },
  ];
  const p = 0.4;
  const reasons = riskReasons(all, f, deviation, p, 10);
  assert.deepEqual(
    reasons.map((r) => [r.fact, r.parts.map((x) => x.name)]),
    [
      ['experience', ['exp', 'sexp']],
      ['size', ['la']],
      ['token', ['token +unsafe_copy']],
      ['file history', ['nuc']],
      ['token', ['token -check']],
    ],
  );
  const z = Math.log(p / (1 - p));
  assert.ok(Math.abs(reasons[0]!.points - 100 * (p - sigmoid(z - 1.19))) < 1e-9);
  assert.ok(reasons[0]!.points > 0 && reasons.at(-1)!.points < 0);
  assertReasonsAgree([{ reasons }]);
  assert.equal(
    reasonLine(reasons[0]!),
    `raises the risk by ${reasons[0]!.points.toFixed(0)} points: the author has made no commit to code here before`,
  );
  assert.equal(reasonLine({ points: -0.4321, text: 'x' }), 'lowers the risk by 0.4 points: x');
  assert.equal(riskReasons(all, f, deviation, p, 2).length, 2);
  // The check the helper makes fails on a reason against its direction and on two reasons from one fact.
  assert.throws(() => assertReasonsAgree([{ reasons: [{ ...reasons[0]!, parts: [{ name: 'rexp', contribution: -1, deviation: -1 }] }] }]));
  assert.throws(() => assertReasonsAgree([{ reasons: [reasons[0]!, reasons[0]!] }]));
});

test('only identifiers and keywords are token reasons', () => {
  for (const t of ['+unsafe_copy', '-return', '+$el', '+_x1']) assert.ok(isReasonToken(t), t);
  for (const t of ['+"', "+'", '+;', '-{', '+42', '+3.5', '+=']) assert.equal(isReasonToken(t), false, t);
});
