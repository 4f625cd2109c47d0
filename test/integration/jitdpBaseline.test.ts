import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestRepo } from '../helpers/gitRepo.js';
import { openRepository } from '../../src/git/repository.js';
import { jitdpDataset } from '../../src/tasks/jitdp/dataset.js';
import { evaluateBaseline, explainBaseline, scoreBaseline, trainBaseline } from '../../src/tasks/jitdp/baseline.js';
import { riskyHistory } from '../helpers/riskyHistory.js';

const repos: TestRepo[] = [];
after(() => repos.forEach((r) => r.cleanup()));

test('JITLine-style baseline on a real history: learns the risky change, calibrates, explains itself', { timeout: 120_000 }, async () => {
  const r = riskyHistory(240);
  repos.push(r);
  const data = await jitdpDataset(await openRepository(r.dir));
  const all = [...data.train, ...data.validation, ...data.test];
  assert.equal(all.length, 240);
  assert.ok(data.test.some((c) => c.label === 1) && data.test.some((c) => c.label === 0), 'the test split has both classes');
  assert.ok(
    data.train.filter((c) => c.label === 1).every((c) => c.tokens.has('+unsafe_copy')),
    'SZZ labels exactly the risky commits',
  );
  const m = trainBaseline(data.train, data.validation);
  const metrics = evaluateBaseline(m, data.test);
  assert.ok(metrics.aucRoc > 0.9, `AUC ${metrics.aucRoc}`);
  assert.ok(metrics.f1 > 0.6, `F1 ${metrics.f1}`);
  assert.ok(m.threshold > 0 && m.threshold < 1);
  const risky = data.test.find((c) => c.label === 1)!;
  assert.ok(
    scoreBaseline(m, risky) >
      scoreBaseline(
        m,
        data.test.find((c) => c.label === 0 && !c.message.startsWith('Fix'))!,
      ),
  );
  const why = explainBaseline(m, risky).sort((p, q) => Math.abs(q.contribution) - Math.abs(p.contribution));
  assert.equal(why[0]!.name, 'token +unsafe_copy', JSON.stringify(why));
  assert.ok(why[0]!.contribution > 0);
});
