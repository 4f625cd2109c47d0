import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contributions, fitLogistic, logit, predict, type SparseRow } from '../../src/tasks/jitdp/logistic.js';
import { aucRoc } from '../../src/eval/jitdpMetrics.js';
import { rng } from '../helpers/gradCheck.js';

const row = (pairs: Array<[number, number]>): SparseRow => ({
  idx: Int32Array.from(pairs.map((p) => p[0])),
  val: Float64Array.from(pairs.map((p) => p[1])),
});

test('learns an imbalanced sparse problem; balanced class weights find the rare class', () => {
  const r = rng(11);
  const rows: SparseRow[] = [];
  const labels: (0 | 1)[] = [];
  for (let i = 0; i < 600; i++) {
    const y: 0 | 1 = i % 10 === 0 ? 1 : 0; // 10% positive
    // Token 0 marks most positives; tokens 1..9 are noise; feature 10 is continuous and shifted for positives.
    const pairs: Array<[number, number]> = [
      [1 + Math.floor(Math.abs(r()) * 9), 1],
      [10, r() + (y ? 1.5 : 0)],
    ];
    if (y === 1 && r() > -0.6) pairs.push([0, 1]);
    rows.push(row(pairs));
    labels.push(y);
  }
  const m = fitLogistic(rows, labels, 11);
  const probs = rows.map((x) => predict(m, x));
  const auc = aucRoc(probs.map((p, i) => ({ prob: p, label: labels[i]!, effort: 1 })));
  assert.ok(auc > 0.9, `auc ${auc}`);
  const found = probs.filter((p, i) => p >= 0.5 && labels[i] === 1).length / 60;
  assert.ok(found > 0.7, `recall at 0.5 with class weights: ${found}`);
  assert.ok(m.weights[0]! > 0.5 && m.weights[10]! > 0.2, 'the informative inputs get positive weight');
  const unweighted = fitLogistic(rows, labels, 11, { positiveWeight: 1 });
  const foundUnweighted = rows.filter((x, i) => predict(unweighted, x) >= 0.5 && labels[i] === 1).length / 60;
  assert.ok(foundUnweighted < found, 'without class weights fewer positives cross 0.5');
});

test('contributions are exact: bias plus contributions is the logit', () => {
  const m = { weights: Float64Array.from([0.5, -2, 3]), bias: -0.25 };
  const x = row([
    [0, 2],
    [2, 0.5],
  ]);
  const c = contributions(m, x);
  assert.deepEqual(c, [
    { index: 0, contribution: 1 },
    { index: 2, contribution: 1.5 },
  ]);
  assert.equal(m.bias + c.reduce((s, k) => s + k.contribution, 0), logit(m, x));
});
