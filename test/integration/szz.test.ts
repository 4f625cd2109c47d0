import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { TestRepo } from '../helpers/gitRepo.js';
import { openRepository } from '../../src/git/repository.js';
import { labelsAt, szz, timeOrderedSplits } from '../../src/git/szz.js';

const repos: TestRepo[] = [];
after(() => repos.forEach((r) => r.cleanup()));
const A = { name: 'Ada', email: 'ada@example.com' };

function buggyHistory() {
  const r = TestRepo.init();
  repos.push(r);
  const c1 = (r.write('f.c', 'int a = 1;\nint b = 2;\n// a note\nint c = 4;\n'), r.commitAs('initial', A));
  const c2 = (r.write('f.c', 'int a = 1;\nint b = 3;\n// a note\nint c = 4;\n'), r.commitAs('change b', A));
  const c3 = (r.write('g.c', 'int g;\n'), r.commitAs('add g', A));
  // The fix restores b and, in passing, drops the comment line (which SZZ must not blame).
  const c4 = (r.write('f.c', 'int a = 1;\nint b = 2;\nint c = 4;\n'), r.commitAs('Fix wrong b value', A));
  return { r, c1, c2, c3, c4 };
}

test('SZZ: the fix blames the commit that introduced the changed line, not the comment\'s author', async () => {
  const { r, c1, c2, c3, c4 } = buggyHistory();
  const res = await szz(await openRepository(r.dir));
  assert.deepEqual(res.commits.map((c) => c.sha), [c1, c2, c3, c4]);
  assert.deepEqual([...res.fixedBy], [[c2, [c4]]]);
  assert.deepEqual(res.fixes.map((f) => f.sha), [c4]);
  // Before the fix was made, nothing was known to be buggy.
  assert.deepEqual([...labelsAt(res, res.commits[2]!.time)], []);
  assert.deepEqual([...labelsAt(res, res.commits[3]!.time)], [c2]);
});

/** Three commits write x.c a line each (and a fourth writes y.c); the fix rewrites them all. */
function blameHeavy(secondFile: boolean): TestRepo {
  const r = TestRepo.init();
  repos.push(r);
  r.write('x.c', 'a\n').commitAs('one', A);
  r.write('x.c', 'a\nb\n').commitAs('two', A);
  r.write('x.c', 'a\nb\nc\n').commitAs('three', A);
  if (secondFile) {
    r.write('y.c', 'p\n').commitAs('four', A);
    r.write('y.c', 'q\n');
  }
  r.write('x.c', 'z\n').commitAs('fix everything', A);
  return r;
}

test('SZZ: a fix that blames too many commits is dropped; blaming stops once it does (its other files cannot save it), and blame gets git\'s commit-graph', async () => {
  const one = blameHeavy(false);
  const res = await szz(await openRepository(one.dir), { maxBlamed: 2 });
  assert.equal(res.fixedBy.size, 0);
  assert.deepEqual(res.droppedFixes.map((d) => d.reason), ['blames 3 commits (more than 2)']);
  assert.equal((await szz(await openRepository(one.dir))).fixedBy.size, 3);
  const two = blameHeavy(true);
  const early = await szz(await openRepository(two.dir), { maxBlamed: 2 });
  assert.deepEqual(early.droppedFixes.map((d) => d.reason), ['blames at least 3 commits (more than 2)'], 'y.c was not blamed');
  assert.equal((await szz(await openRepository(two.dir))).fixedBy.size, 4, 'with the default limit every file is blamed');
  assert.ok(existsSync(join(two.dir, '.git', 'objects', 'info', 'commit-graph')), 'the commit-graph (with changed paths) is written');
});

test('time-ordered splits label each split with only the fixes made before its end', async () => {
  const { r, c2 } = buggyHistory();
  const res = await szz(await openRepository(r.dir));
  const s = timeOrderedSplits(res, { train: 0.5, validation: 0.25 });
  assert.deepEqual(s.train.map((c) => [c.sha === c2, c.label]), [[false, 0], [true, 0]], 'the fix (in test) is not visible to training labels');
  assert.equal(s.validation.length, 1);
  assert.equal(s.test.length, 1);
  const all = timeOrderedSplits(res, { train: 1, validation: 0 });
  assert.equal(all.train.find((c) => c.sha === c2)!.label, 1);
});

test('changeling label --json', () => {
  const { r, c2, c4 } = buggyHistory();
  const out = spawnSync(process.execPath, [resolve('dist/cli.mjs'), 'label', '--repo', r.dir, '--json', '--quiet'], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  const rows = out.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(rows.filter((x) => x.buggy), [{ sha: c2, buggy: true, fixedBy: [c4] }]);
});
