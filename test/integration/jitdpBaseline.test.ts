import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestRepo } from '../helpers/gitRepo.js';
import { openRepository } from '../../src/git/repository.js';
import { jitdpDataset } from '../../src/tasks/jitdp/dataset.js';
import { evaluateBaseline, explainBaseline, scoreBaseline, trainBaseline } from '../../src/tasks/jitdp/baseline.js';
import { seededRandom } from '../../src/train/batching.js';

const repos: TestRepo[] = [];
after(() => repos.forEach((r) => r.cleanup()));

/** A history where some commits add a risky call that a later "Fix ..." commit removes. */
function riskyHistory(n: number): TestRepo {
  const r = TestRepo.init();
  repos.push(r);
  const rand = seededRandom(3);
  const files = ['src/a.c', 'src/b.c', 'lib/c.c', 'lib/d.c'];
  const content = new Map(files.map((f) => [f, [`// ${f}`]]));
  const pending: Array<{ file: string; line: string; due: number }> = [];
  const authors = [{ name: 'Ada', email: 'ada@x.org' }, { name: 'Bob', email: 'bob@x.org' }];
  for (let i = 0; i < n; i++) {
    const due = pending.filter((p) => p.due <= i);
    if (due.length) {
      for (const p of due) content.set(p.file, content.get(p.file)!.map((l) => (l === p.line ? `safe_copy(buf${i}, len);` : l)));
      pending.splice(0, pending.length, ...pending.filter((p) => p.due > i));
      for (const f of files) r.write(f, content.get(f)!.join('\n') + '\n');
      r.commitAs(`Fix overflow in copy (#${100 + i})`, authors[i % 2]!);
      continue;
    }
    const file = files[Math.floor(rand() * files.length)]!;
    const risky = rand() < 0.3;
    const line = risky ? `unsafe_copy(buf${i}, len);` : `safe_copy(buf${i}, len);`;
    content.get(file)!.push(line, `int v${i} = ${i};`);
    if (risky) pending.push({ file, line, due: i + 1 + Math.floor(rand() * 4) });
    for (const f of files) r.write(f, content.get(f)!.join('\n') + '\n');
    r.commitAs(`update ${file} step ${i}`, authors[Math.floor(rand() * 2)]!);
  }
  return r;
}

test('JITLine-style baseline on a real history: learns the risky change, calibrates, explains itself', { timeout: 120_000 }, async () => {
  const r = riskyHistory(240);
  const data = await jitdpDataset(await openRepository(r.dir));
  const all = [...data.train, ...data.validation, ...data.test];
  assert.equal(all.length, 240);
  assert.ok(data.test.some((c) => c.label === 1) && data.test.some((c) => c.label === 0), 'the test split has both classes');
  assert.ok(data.train.filter((c) => c.label === 1).every((c) => c.tokens.has('+unsafe_copy')), 'SZZ labels exactly the risky commits');
  const m = trainBaseline(data.train, data.validation);
  const metrics = evaluateBaseline(m, data.test);
  assert.ok(metrics.aucRoc > 0.9, `AUC ${metrics.aucRoc}`);
  assert.ok(metrics.f1 > 0.6, `F1 ${metrics.f1}`);
  assert.ok(m.threshold > 0 && m.threshold < 1);
  const risky = data.test.find((c) => c.label === 1)!;
  assert.ok(scoreBaseline(m, risky) > scoreBaseline(m, data.test.find((c) => c.label === 0 && !c.message.startsWith('Fix'))!));
  const why = explainBaseline(m, risky, 3);
  assert.equal(why[0]!.name, 'token +unsafe_copy', JSON.stringify(why));
  assert.ok(why[0]!.contribution > 0);
});
