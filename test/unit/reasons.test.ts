import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isReasonToken, reasonText } from '../../src/tasks/jitdp/reasons.js';

test('risk reasons in words: the feature with the context a developer needs', () => {
  const f = {
    ns: 2,
    nd: 2,
    nf: 3,
    entropy: 1.2,
    la: 120,
    ld: 1,
    lt: 310.4,
    fix: 0,
    ndev: 4,
    age: 2.2,
    nuc: 17,
    exp: 0,
    rexp: 3.25,
    sexp: 5,
  };
  assert.equal(reasonText('la', 120, f), 'adds 120 lines to 3 files');
  assert.equal(reasonText('ld', 1, f), 'deletes 1 line from 3 files');
  assert.equal(reasonText('nf', 3, f), 'changes 3 files in 2 directories');
  assert.equal(reasonText('age', 2.2, f), 'the files were last changed 2 days ago, on average, by 4 people before');
  assert.equal(reasonText('age', 400, { ndev: 1 }), 'the files were last changed 13 months ago, on average, by 1 person before');
  assert.equal(reasonText('ndev', 4, f), 'the files were changed before by 4 people');
  assert.equal(reasonText('exp', 0, f), 'the author has made no commit to code here before');
  assert.equal(reasonText('exp', 1250, f), 'the author made 1,250 earlier commits to code here');
  assert.equal(reasonText('fix', 1, f), 'is a bug fix (by its message)');
  assert.equal(reasonText('entropy', 1.2, f), 'spreads its changes over 3 files (entropy 1.20 of at most 1.58)');
  assert.equal(reasonText('sexp', 5, f), 'the author made 5 earlier commits in these top-level directories');
  assert.equal(reasonText('token +unsafe_copy'), 'adds "unsafe_copy"');
  assert.equal(reasonText('token -return'), 'removes "return"');
  // The value alone when the context is not known.
  assert.equal(reasonText('la', 7), 'adds 7 lines');
});

test('only identifiers and keywords are token reasons', () => {
  for (const t of ['+unsafe_copy', '-return', '+$el', '+_x1']) assert.ok(isReasonToken(t), t);
  for (const t of ['+"', "+'", '+;', '-{', '+42', '+3.5', '+=']) assert.equal(isReasonToken(t), false, t);
});
