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
  // What each rests on, for the words a user reads.
  const basis = (mode: 'auto' | 'always' | 'never', better: boolean) =>
    decideAdoption(mode, better ? C : { ...C, candidate: C.inUse, inUse: C.candidate }).basis;
  assert.deepEqual(
    [basis('auto', true), basis('auto', false), basis('always', false), basis('never', true)],
    ['better', 'not-better', 'asked-always', 'asked-never'],
  );
});

test('adoption: a broken model is refused whatever the figures and the flag; a figure that is not a number never wins', () => {
  for (const mode of ['auto', 'always'] as const) {
    const empty = decideAdoption(mode, { ...C, candidate: 30, inUse: 5, generations: ['', '', 'Fix it', ' '] });
    assert.equal(empty.adopted, false, mode);
    assert.match(empty.reason, /the tuned model is refused: 3 of its 4 validation messages are empty: the model is broken/);
    assert.equal(empty.basis, 'broken');
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

/** DeLong's variance by its definition, pair by pair (O(m n)), against the midrank computation. */
function delongByDefinition(labels: number[], a: number[], b: number[]): { diff: number; variance: number } {
  const pos = labels.flatMap((l, i) => (l === 1 ? [i] : []));
  const neg = labels.flatMap((l, i) => (l === 1 ? [] : [i]));
  const psi = (x: number, y: number) => (x > y ? 1 : x === y ? 0.5 : 0);
  const comps = (s: number[]) => ({
    v10: pos.map((i) => neg.reduce((t, j) => t + psi(s[i]!, s[j]!), 0) / neg.length),
    v01: neg.map((j) => pos.reduce((t, i) => t + psi(s[i]!, s[j]!), 0) / pos.length),
  });
  const cov = (x: number[], y: number[]) => {
    const mx = x.reduce((t, v) => t + v, 0) / x.length;
    const my = y.reduce((t, v) => t + v, 0) / y.length;
    return x.reduce((t, v, i) => t + (v - mx) * (y[i]! - my), 0) / (x.length - 1);
  };
  const A = comps(a);
  const B = comps(b);
  const mean = (x: number[]) => x.reduce((t, v) => t + v, 0) / x.length;
  return {
    diff: mean(A.v10) - mean(B.v10),
    variance:
      (cov(A.v10, A.v10) + cov(B.v10, B.v10) - 2 * cov(A.v10, B.v10)) / pos.length +
      (cov(A.v01, A.v01) + cov(B.v01, B.v01) - 2 * cov(A.v01, B.v01)) / neg.length,
  };
}

test("DeLong's test: the midrank computation equals the definition, ties included", async () => {
  const { delongImprovement } = await import('../../src/eval/significance.js');
  const { seededRandom } = await import('../../src/train/batching.js');
  const r = seededRandom(5);
  for (let trial = 0; trial < 5; trial++) {
    const n = 40 + trial * 17;
    const labels = Array.from({ length: n }, () => (r() < 0.3 ? 1 : 0));
    // Scores on a coarse grid so that ties happen.
    const a = labels.map((l) => Math.round((l * 0.4 + r()) * 10) / 10);
    const b = labels.map((l) => Math.round((l * 0.1 + r()) * 10) / 10);
    const fast = delongImprovement(labels, a, b);
    const slow = delongByDefinition(labels, a, b);
    assert.ok(Math.abs(fast.difference - slow.diff) < 1e-12);
    assert.ok(Math.abs(fast.difference - fast.lower - 1.6448536269514722 * Math.sqrt(slow.variance)) < 1e-9);
  }
});

test('adoption by evidence: a clearly better model is adopted; the same gain on 2 buggy commits, or within the noise, is not', async () => {
  const { seededRandom } = await import('../../src/train/batching.js');
  const r = seededRandom(11);
  const sample = (n: number, buggyShare: number, strength: number) => {
    const labels = Array.from({ length: n }, () => (r() < buggyShare ? 1 : 0));
    return { labels, candidate: labels.map((l) => l * strength + r()), inUse: labels.map((l) => l * 0.2 + r()) };
  };
  const risk = {
    subject: 'it',
    against: 'the model in use',
    metric: 'validation AUC',
    candidate: 0,
    inUse: 0,
    digits: 3,
    keeps: 'the embedded default',
  };
  const clear = decideAdoption('auto', { ...risk, evidence: { kind: 'auc', ...sample(300, 0.3, 1.5) } });
  assert.equal(clear.adopted, true, clear.reason);
  assert.match(
    clear.reason,
    /^it is clearly better than the model in use on validation AUC \([01]\.\d{3} against 0\.\d{3}; the improvement's 95% lower bound \(DeLong\) is 0\.\d{3}\)$/,
  );
  assert.ok(clear.interval!.lower > 0);
  // The simple-git case: a validation split with 2 buggy commits decides nothing.
  const few = sample(60, 0, 1.5);
  few.labels[10] = 1;
  few.labels[40] = 1;
  const thin = decideAdoption('auto', { ...risk, evidence: { kind: 'auc', ...few } });
  assert.deepEqual(thin, {
    adopted: false,
    reason: 'too few buggy commits to judge: 2 in validation (at least 5 are needed); keeping the embedded default',
    basis: 'too-few',
  });
  assert.equal(decideAdoption('always', { ...risk, flag: '--force', evidence: { kind: 'auc', ...few } }).adopted, true);
  // One class only: the AUC is undefined (NaN), which is no evidence, not a broken model; forced, it is adopted.
  const one = { labels: few.labels.map(() => 0 as const), candidate: few.candidate, inUse: few.inUse };
  const forced = decideAdoption('always', { ...risk, candidate: NaN, flag: '--force', evidence: { kind: 'auc', ...one } });
  assert.deepEqual(forced, {
    adopted: true,
    reason: '--force; too few buggy commits to judge: 0 in validation (at least 5 are needed); adopted as asked',
    basis: 'asked-always',
  });
  assert.equal(decideAdoption('auto', { ...risk, candidate: NaN, evidence: { kind: 'auc', ...one } }).adopted, false);
  // Non-finite scores are still a broken model, forced or not.
  const nan = decideAdoption('always', { ...risk, candidate: NaN, scores: [0.1, NaN], evidence: { kind: 'auc', ...one } });
  assert.equal(nan.adopted, false);
  assert.match(nan.reason, /score 1 is NaN/);
  // A small gain on a small split: one buggy commit moved above one clean one, within the noise.
  const base = sample(50, 0.2, 0);
  const candidate = [...base.inUse];
  const p = base.labels.findIndex((l, i) => l === 1 && base.inUse.some((s, j) => base.labels[j] === 0 && s > base.inUse[i]!));
  candidate[p] = Math.min(...base.inUse.filter((s, j) => base.labels[j] === 0 && s > base.inUse[p]!)) + 1e-9;
  const noisy = decideAdoption('auto', { ...risk, evidence: { kind: 'auc', labels: base.labels, candidate, inUse: base.inUse } });
  assert.ok(noisy!.interval!.difference > 0);
  assert.equal(noisy!.adopted, false, noisy!.reason);
  assert.match(noisy!.reason, /is not clearly better than the model in use .*: keeping the embedded default$/);
});

test('adoption by evidence for messages: a paired bootstrap of sentence B-Norm, reproducible', async () => {
  const { bootstrapImprovement } = await import('../../src/eval/significance.js');
  const msg = { subject: 'the tuned model', against: 'the untuned one', metric: 'validation B-Norm BLEU', candidate: 0, inUse: 0 };
  const base = Array.from({ length: 200 }, (_, i) => (i * 37) % 100);
  const better = decideAdoption('auto', { ...msg, evidence: { kind: 'items', candidate: base.map((x) => x + 5), inUse: base } });
  assert.equal(better.adopted, true);
  assert.equal(better.interval!.method, 'paired bootstrap');
  assert.ok(Math.abs(better.interval!.difference - 5) < 1e-9 && Math.abs(better.interval!.lower - 5) < 1e-9);
  // Gains on a few messages and losses on others, averaging a little above zero: not adopted.
  const mixed = base.map((x, i) => x + (i % 2 ? 12 : -11));
  const v = decideAdoption('auto', { ...msg, evidence: { kind: 'items', candidate: mixed, inUse: base } });
  assert.ok(v.interval!.difference > 0 && v.interval!.lower < 0);
  assert.equal(v.adopted, false);
  assert.deepEqual(bootstrapImprovement(mixed, base), bootstrapImprovement(mixed, base));
});
