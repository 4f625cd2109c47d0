import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adoption } from '../../src/tasks/adoption.js';
import { reportHtml, reportMarkdown } from '../../src/tasks/finetune/report.js';
import type { FinetuneResult } from '../../src/tasks/finetune/types.js';

const C = { subject: 'the tuned model', against: 'the untuned one', metric: 'validation AUC', figures: '0.810 against 0.770' };

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
