import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { TestRepo } from '../helpers/gitRepo.js';
import { openRepository } from '../../src/git/repository.js';
import { historyFeatures, type ExpertFeatures } from '../../src/git/expertFeatures.js';
import { isFix } from '../../src/git/fixMessage.js';

const repos: TestRepo[] = [];
after(() => repos.forEach((r) => r.cleanup()));
const ADA = { name: 'Ada', email: 'ada@example.com' };
const BOB = { name: 'Bob', email: 'BOB@example.com' };

function history(): TestRepo {
  const r = TestRepo.init();
  repos.push(r);
  r.write('src/a.c', '1\n2\n3\n').write('docs/x.md', 'a\nb\n');
  r.commitAs('initial import', ADA, 1); // day 1
  r.write('src/a.c', '1\nTWO\n3\n').write('src/b.c', 'p\nq\nr\ns\n');
  r.commitAs('Fix crash in a', BOB, 1); // day 2
  r.git('checkout', '-q', '-b', 'side');
  r.write('side.txt', 'x\n').commitAs('side work', BOB, 1); // day 3
  r.git('checkout', '-q', 'main');
  r.git('merge', '-q', '--no-ff', '-m', 'merge side', 'side');
  r.write('src/a.c', '1\nTWO\n3\n4\n5\n').write('docs/x.md', 'a\n').write('vendor/dep.c', 'v\n'.repeat(10));
  r.commitAs('tweak', ADA, 1); // day 4
  return r;
}

test('expert features of each commit, computed by hand for a small history', async () => {
  const r = history();
  const got: Array<{ sha: string; features: ExpertFeatures }> = [];
  for await (const x of historyFeatures(await openRepository(r.dir))) got.push(x);
  assert.equal(got.length, 4, 'the merge is not scored');
  const [c1, c2, c3, c4] = got.map((x) => x.features);
  const H = (ps: number[]) => -ps.reduce((s, p) => s + p * Math.log2(p), 0);
  // Code files only: docs/x.md, side.txt and the vendored vendor/dep.c never count.
  assert.deepEqual(c1, { ns: 1, nd: 1, nf: 1, entropy: 0, la: 3, ld: 0, lt: 0, fix: 0, ndev: 0, age: 0, nuc: 0, exp: 0, rexp: 0, sexp: 0 });
  // Bob, day 2: a.c (+1 -1, 3 lines before, last changed a day ago by Ada), b.c new (+4).
  assert.deepEqual(c2, {
    ns: 1,
    nd: 1,
    nf: 2,
    entropy: H([2 / 6, 4 / 6]),
    la: 5,
    ld: 1,
    lt: 1.5,
    fix: 1,
    ndev: 1,
    age: 0.5,
    nuc: 1,
    exp: 0,
    rexp: 0,
    sexp: 0,
  });
  // Bob, day 3: only side.txt: no code, no experience gained.
  assert.deepEqual([c3!.nf, c3!.la, c3!.exp], [0, 0, 1]);
  // Ada, day 4: a.c (+2; 3 lines before; changed day 2 by Bob); x.md and vendor/dep.c are not code.
  const f = c4!;
  assert.equal(f.ns, 1);
  assert.equal(f.nf, 1);
  assert.equal(f.la, 2);
  assert.equal(f.ld, 0);
  assert.equal(f.lt, 3);
  assert.equal(f.fix, 0);
  assert.equal(f.ndev, 2, 'Ada and Bob changed a.c before');
  assert.equal(f.nuc, 2);
  assert.equal(f.exp, 1);
  assert.equal(f.sexp, 1, 'Ada changed code in src once before');
  assert.ok(Math.abs(f.rexp - 1 / (1 + 3 / 365)) < 1e-9, `rexp ${f.rexp}`);
  assert.ok(Math.abs(f.age - 2) < 1e-9, `age ${f.age}`);
  assert.equal(f.entropy, 0);
});

test('the fix classifier', () => {
  for (const m of [
    'Fix NPE in parser',
    'fixes #12',
    'bugfix: off by one',
    'crash when empty',
    'Tests failed on Windows',
    'Apply NullPointerFix',
    'Merge pull request #3 from a/b\n\nFix crash on empty input',
    'wrong (sic) result',
  ])
    assert.ok(isFix(m), m);
  for (const m of [
    'Add feature flag',
    'prefix handling',
    'Update docs',
    'debugging output removed',
    'Patch the leak',
    'JIRA-123 handle empty input',
    '[CODEC-125] Apply the patch https://issues.example.org/performanceAndBugs.patch',
    "Merge branch 'fix/login' into main",
    'Merge pull request #12 from someone/bugfix-crash',
    'Update docs/fixes.md',
    'Thanks to fix@example.com',
  ])
    assert.equal(isFix(m), false, m);
});

test('changeling features: JSON lines per commit, a range, and the staged change', () => {
  const r = history();
  const cli = (...a: string[]) =>
    spawnSync(process.execPath, [resolve('dist/cli.mjs'), 'features', '--repo', r.dir, ...a], { encoding: 'utf8' });
  const all = cli('--json');
  assert.equal(all.status, 0, all.stderr);
  const rows = all.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(rows.length, 4);
  assert.deepEqual(Object.keys(rows[0]), [
    'sha',
    'ns',
    'nd',
    'nf',
    'entropy',
    'la',
    'ld',
    'lt',
    'fix',
    'ndev',
    'age',
    'nuc',
    'exp',
    'rexp',
    'sexp',
  ]);
  const last = cli('--json', '--range', 'HEAD~2..HEAD');
  assert.equal(last.stdout.trim().split('\n').length, 2, 'the side commit and the last one (the merge is not scored)');
  assert.deepEqual(
    rows.map((x) => x.nf),
    [1, 2, 0, 1],
    'code files only',
  );
  r.git('config', 'user.name', 'Ada');
  r.git('config', 'user.email', 'ada@example.com');
  r.write('src/b.c', 'p\n').write('src/c.c', 'new\n');
  r.git('add', '-A');
  const staged = JSON.parse(cli('--staged', '--json').stdout);
  assert.equal(staged.sha, 'staged');
  assert.deepEqual([staged.nf, staged.la, staged.ld, staged.exp, staged.ndev], [2, 1, 3, 2, 1]);
});
