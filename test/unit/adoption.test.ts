import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideAdoption } from '../../src/tasks/adoption.js';
import { reportHtml, reportMarkdown } from '../../src/tasks/finetune/report.js';
import type { FinetuneResult } from '../../src/tasks/finetune/types.js';

const C = { subject: 'the tuned model', against: 'the untuned one', metric: 'validation AUC', candidate: 0.81, inUse: 0.77, digits: 3 };
const adoption = (mode: 'auto' | 'always' | 'never', better: boolean, c: typeof C) => {
  const v = decideAdoption(mode, better ? c : { ...c, candidate: c.inUse, inUse: c.candidate });
  return { adopted: v.adopted, reason: v.reason.replace('0.770 against 0.810', '0.810 against 0.770') };
};

test('adoption: the verdict and its sentence in all four cases, by rule and by flag', () => {
  assert.deepEqual(adoption('auto', true, C), {
    adopted: true,
    reason: 'the tuned model beats the untuned one on validation AUC (0.810 against 0.770)',
  });
  assert.deepEqual(adoption('auto', false, C), {
    adopted: false,
    reason: 'the tuned model does not beat the untuned one on validation AUC (0.810 against 0.770)',
  });
  assert.deepEqual(adoption('always', false, C), {
    adopted: true,
    reason: '--adopt always; the tuned model does not beat the untuned one on validation AUC (0.810 against 0.770)',
  });
  assert.deepEqual(adoption('never', true, C), {
    adopted: false,
    reason: '--adopt never; the tuned model beats the untuned one on validation AUC (0.810 against 0.770)',
  });
});

test('adoption: a broken model is refused whatever the figures and the flag; a figure that is not a number never wins', () => {
  for (const mode of ['auto', 'always'] as const) {
    const empty = decideAdoption(mode, { ...C, candidate: 30, inUse: 5, generations: ['', '', 'Fix it', ' '] });
    assert.equal(empty.adopted, false, mode);
    assert.match(empty.reason, /the tuned model is refused: 3 of its 4 validation messages are empty: the model is broken/);
    const nan = decideAdoption(mode, { ...C, scores: new Float32Array([0.2, NaN]) });
    assert.equal(nan.adopted, false);
    assert.match(nan.reason, /its scores are not finite numbers \(score 1 is NaN\)/);
    assert.equal(decideAdoption(mode, { ...C, candidate: NaN }).adopted, false);
  }
  // Against an in-use figure that is not a number, auto keeps what is in use; a few empty messages are not broken.
  assert.equal(decideAdoption('auto', { ...C, inUse: NaN }).adopted, false);
  assert.match(decideAdoption('auto', { ...C, inUse: NaN }).reason, /the untuned one has no validation AUC to compare with/);
  assert.equal(decideAdoption('auto', { ...C, generations: ['', 'Fix a', 'Fix b', 'Add c'] }).adopted, true);
});

test('the fine-tuning report: the verdict said once, example cells one line each with the full text on hover', () => {
  const m = {
    n: 10,
    positives: 2,
    threshold: 0.5,
    f1: 0.5,
    precision: 0.5,
    recall: 0.5,
    aucRoc: 0.8,
    recallAt20Effort: 0.5,
    effortAt20Recall: 0.1,
    popt: 0.7,
  };
  const long = 'x'.repeat(200);
  const r = {
    task: 'jitdp',
    method: 'lora',
    model: 'm',
    repo: '/r',
    head: 'a'.repeat(40),
    out: '/o',
    commits: { train: 8, validation: 1, test: 1 },
    steps: 2,
    trainSeconds: 1,
    seconds: 2,
    trainableParameters: 10,
    losses: [
      { step: 1, loss: 1 },
      { step: 2, loss: 0.5 },
    ],
    validation: { untuned: m, tuned: m },
    test: { untuned: m, tuned: m },
    adoptedRecord: null,
    examples: [{ sha: 'abc', message: 'Fix the parser\n\nA long body that explains', diff: long }],
    ...adoption('never', true, C),
    adoptReason: adoption('never', true, C).reason,
  } as unknown as FinetuneResult;
  const md = reportMarkdown(r);
  assert.match(
    md,
    /\*\*Not adopted\*\*: --adopt never; the tuned model beats the untuned one on validation AUC \(0\.810 against 0\.770\)\./,
  );
  assert.doesNotMatch(md, /not adopted: /i);
  assert.match(md, /\| abc \| Fix the parser … \| x{79}… \|/);
  const html = reportHtml(r);
  assert.match(html, /<td title="Fix the parser\n\nA long body that explains">Fix the parser …<\/td>/);
  assert.match(html, new RegExp(`<td title="${long}">x{79}…</td>`));
});
