import { test } from 'node:test';
import assert from 'node:assert/strict';
import { calibrate, calibrated } from '../../src/tasks/jitdp/calibration.js';
import { seededRandom } from '../../src/train/batching.js';
import { sigmoid } from '../../src/tasks/jitdp/logistic.js';
import { FEATURE_NAMES } from '../../src/git/expertFeatures.js';
import { linearModelJson, parseLinearModel } from '../../src/tasks/jitdp/modelFile.js';
import { trainBaseline, scoreBaseline, lineScoresBaseline, explainBaseline } from '../../src/tasks/jitdp/baseline.js';
import type { JitdpCommit } from '../../src/tasks/jitdp/dataset.js';

test('Platt scaling recovers the true slope and offset of labels drawn from sigmoid(2z - 1)', () => {
  const rand = seededRandom(5);
  const z = Array.from({ length: 20000 }, () => rand() * 6 - 3);
  const y = z.map((v) => (rand() < sigmoid(2 * v - 1) ? 1 : 0) as 0 | 1);
  const c = calibrate(z, y);
  assert.ok(Math.abs(c.platt.a - 2) < 0.1, `a = ${c.platt.a}`);
  assert.ok(Math.abs(c.platt.b + 1) < 0.1, `b = ${c.platt.b}`);
  assert.ok(c.threshold > 0.05 && c.threshold < 0.95);
});

test('Platt scaling stays finite on separable logits and never inverts a ranking', () => {
  const sep = calibrate([-2, -1, -0.5, 0.5, 1, 2, 50, -50], [0, 0, 0, 1, 1, 1, 1, 0]);
  assert.ok(Number.isFinite(sep.platt.a) && Number.isFinite(sep.platt.b) && sep.platt.a > 0 && sep.platt.a < 100, JSON.stringify(sep));
  const inverted = calibrate([-2, -1, 1, 2], [1, 1, 0, 0]);
  assert.ok(inverted.platt.a > 0, JSON.stringify(inverted));
  assert.ok(calibrated(inverted, 2) > calibrated(inverted, -2), 'still increasing');
  assert.deepEqual(calibrate([1, 2], [0, 0]), { platt: { a: 1, b: 0 }, threshold: 0.5 }, 'one class: identity');
});

const commit = (i: number, label: 0 | 1, tokens: Record<string, number>): JitdpCommit => ({
  sha: String(i),
  time: i,
  message: '',
  label,
  added: '',
  removed: '',
  effort: 1 + (i % 7),
  features: Object.fromEntries(
    FEATURE_NAMES.map((n, k) => [n, n === 'fix' ? i % 2 : ((i * (k + 3)) % 11) + label * (k === 4 ? 20 : 0)]),
  ) as JitdpCommit['features'],
  tokens: new Map(Object.entries(tokens)),
});

test('A linear model survives its JSON file exactly, and line scores share out the token contributions', () => {
  const data = Array.from({ length: 300 }, (_, i) => {
    const label = (i % 4 === 0 ? 1 : 0) as 0 | 1;
    return commit(i, label, label ? { '+strcpy': 1, '+x': 2 } : { '+memcpy': 1, '+x': 1 });
  });
  const m = trainBaseline(data.slice(0, 240), data.slice(240, 270), { minCount: 1 });
  const back = parseLinearModel(JSON.parse(linearModelJson(m, { trainedOn: 'test' })), 'model.json');
  assert.deepEqual(back.info, { trainedOn: 'test' });
  for (const c of data.slice(270)) assert.ok(Math.abs(scoreBaseline(back.model, c) - scoreBaseline(m, c)) < 1e-12);
  assert.deepEqual(explainBaseline(back.model, data[0]!), explainBaseline(m, data[0]!));
  // Two lines hold "+x" twice between them and one holds "+strcpy": the line scores add up to the tokens' logit part.
  const lines = [
    { sign: '+' as const, text: 'strcpy(x)' },
    { sign: '+' as const, text: 'x' },
  ];
  const scores = lineScoresBaseline(m, lines);
  const tokenPart = explainBaseline(m, commit(0, 1, { '+strcpy': 1, '+x': 2 }))
    .filter((r) => r.name.startsWith('token '))
    .reduce((s, r) => s + r.contribution, 0);
  assert.ok(Math.abs(scores[0]! + scores[1]! - tokenPart) < 1e-9, `${scores} vs ${tokenPart}`);
  assert.ok(scores[0]! > scores[1]!, 'the strcpy line is the riskier one');
  assert.throws(
    () => parseLinearModel({ format: 'changeling-jitdp-linear/1', features: {} }, 'bad.json'),
    /bad.json: feature "ns" is missing/,
  );
  assert.throws(() => parseLinearModel({ format: 'other' }, 'x.json'), /not a Changeling JIT-DP model/);
});
