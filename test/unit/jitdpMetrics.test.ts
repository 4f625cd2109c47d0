import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aucRoc, jitdpMetrics, type Scored } from '../../src/eval/jitdpMetrics.js';

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} vs ${b}`);

test('F1, precision, recall at 0.5 and AUC-ROC with ties, computed by hand', () => {
  const xs: Scored[] = [
    { prob: 0.9, label: 1, effort: 10 },
    { prob: 0.8, label: 0, effort: 10 },
    { prob: 0.6, label: 1, effort: 10 },
    { prob: 0.4, label: 1, effort: 10 },
    { prob: 0.4, label: 0, effort: 10 },
    { prob: 0.1, label: 0, effort: 10 },
  ];
  const m = jitdpMetrics(xs);
  // Predicted buggy: 0.9 (tp), 0.8 (fp), 0.6 (tp). Missed: 0.4 buggy.
  close(m.precision, 2 / 3, 'precision');
  close(m.recall, 2 / 3, 'recall');
  close(m.f1, 2 / 3, 'f1');
  // 9 (buggy, clean) pairs: 0.9 beats all 3; 0.6 beats 0.4 and 0.1; 0.4 beats 0.1 and ties 0.4 (half): 6.5 / 9.
  close(aucRoc(xs), 6.5 / 9, 'auc');
});

test('effort-aware figures: density ranking, Recall@20%Effort, Effort@20%Recall, Popt', () => {
  // Total effort 100; two buggy commits.
  const xs: Scored[] = [
    { prob: 0.9, label: 1, effort: 10 }, // density 0.09
    { prob: 0.5, label: 0, effort: 10 }, // 0.05
    { prob: 0.8, label: 1, effort: 40 }, // 0.02
    { prob: 0.2, label: 0, effort: 40 }, // 0.005
  ];
  const m = jitdpMetrics(xs);
  // Order: 10 (buggy) -> 10 (clean) -> 40 (buggy) -> 40. At 20% effort: 1 of 2 buggy found.
  close(m.recallAt20Effort, 0.5, 'recall@20%effort');
  // 20% recall is reached with the first commit: 10% of effort.
  close(m.effortAt20Recall, 0.1, 'effort@20%recall');
  // Areas (trapezoids): model (0,0)(.1,.5)(.2,.5)(.6,1)(1,1) = .025+.05+.3+.4 = .775;
  // optimal (0,0)(.1,.5)(.5,1)(.6,1)(1,1) = .025+.3+.1+.4 = .825; worst (0,0)(.4,0)(.5,0)(.9,.5)(1,1) = .1+.075 = .175.
  close(m.popt, 1 - (0.825 - 0.775) / (0.825 - 0.175), 'popt');
});

test('prediction files: JSON lines and plain columns, with clear errors', async () => {
  const { parsePredictions } = await import('../../src/cli/evalCommand.js');
  assert.deepEqual(parsePredictions('{"prob": 0.7, "label": 1, "effort": 12}\n0.2 0 5\n0.4,1\n', 'p.txt'), [
    { prob: 0.7, label: 1, effort: 12 },
    { prob: 0.2, label: 0, effort: 5 },
    { prob: 0.4, label: 1, effort: 1 },
  ]);
  assert.throws(() => parsePredictions('1.5 1', 'p.txt'), /p\.txt:1: probability 1\.5 is not in \[0, 1\]/);
  assert.throws(() => parsePredictions('0.5 2', 'p.txt'), /label must be 0 or 1/);
  assert.throws(() => parsePredictions('\n', 'p.txt'), /has no predictions/);
});
