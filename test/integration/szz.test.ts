import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
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

test("SZZ: the fix blames the commit that introduced the changed line, not the comment's author", async () => {
  const { r, c1, c2, c3, c4 } = buggyHistory();
  const res = await szz(await openRepository(r.dir));
  assert.deepEqual(
    res.commits.map((c) => c.sha),
    [c1, c2, c3, c4],
  );
  assert.deepEqual([...res.fixedBy], [[c2, [c4]]]);
  assert.deepEqual(
    res.fixes.map((f) => f.sha),
    [c4],
  );
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

test('SZZ: a fix that blames too many commits is dropped, whatever its other files say', async () => {
  const one = blameHeavy(false);
  const res = await szz(await openRepository(one.dir), { maxBlamed: 2 });
  assert.equal(res.fixedBy.size, 0);
  assert.deepEqual(
    res.droppedFixes.map((d) => d.reason),
    ['blames 3 commits (more than 2)'],
  );
  assert.equal((await szz(await openRepository(one.dir))).fixedBy.size, 3);
  const two = blameHeavy(true);
  const dropped = await szz(await openRepository(two.dir), { maxBlamed: 2 });
  assert.deepEqual(
    dropped.droppedFixes.map((d) => d.reason),
    ['blames 4 commits (more than 2)'],
  );
  assert.equal((await szz(await openRepository(two.dir))).fixedBy.size, 4, 'with the default limit every file counts');
  assert.deepEqual(dropped.answered, { traced: 2, blamed: 0, mergeDiffs: 0 }, 'the walk answered both files');
  assert.ok(
    !existsSync(join(two.dir, '.git', 'objects', 'info', 'commit-graph')),
    'no commit-graph is written when git blame is not needed',
  );
});

test('time-ordered splits label each split with only the fixes made before its end', async () => {
  const { r, c2 } = buggyHistory();
  const res = await szz(await openRepository(r.dir));
  const s = timeOrderedSplits(res, { train: 0.5, validation: 0.25 });
  assert.deepEqual(
    s.train.map((c) => [c.sha === c2, c.label]),
    [
      [false, 0],
      [true, 0],
    ],
    'the fix (in test) is not visible to training labels',
  );
  assert.equal(s.validation.length, 1);
  assert.equal(s.test.length, 1);
  const all = timeOrderedSplits(res, { train: 1, validation: 0 });
  assert.equal(all.train.find((c) => c.sha === c2)!.label, 1);
});

test('changeling label --json', () => {
  const { r, c2, c4 } = buggyHistory();
  const out = spawnSync(process.execPath, [resolve('dist/cli.mjs'), 'label', '--repo', r.dir, '--json', '--quiet'], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  const rows = out.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    rows.filter((x) => x.buggy),
    [{ sha: c2, buggy: true, fixedBy: [c4] }],
  );
});

test('changeling label --lines writes the lines SZZ blames; eval jitdp --lines ranks scores of them', () => {
  const r = TestRepo.init();
  repos.push(r);
  r.write('f.c', 'int a = 1;\nint b = 2;\n').commitAs('initial', A);
  // The buggy commit changes b, adds d and a blank line, and writes docs (not a code file).
  const bug = r.write('f.c', 'int a = 1;\nint b = 3;\n\nint d = 5;\n').write('README.md', 'b is 3\n').commitAs('change b, add d', A);
  r.write('f.c', 'int a = 1;\nint b = 2;\n\nint d = 5;\n').commitAs('Fix wrong b value', A);
  const cli = (...args: string[]) => spawnSync(process.execPath, [resolve('dist/cli.mjs'), ...args], { cwd: r.dir, encoding: 'utf8' });
  const out = cli('label', '--lines', 'lines.jsonl', '--quiet');
  assert.equal(out.status, 0, out.stderr);
  const rows = readFileSync(join(r.dir, 'lines.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(rows, [
    { commit: bug, path: 'f.c', line: 2, label: 1 },
    { commit: bug, path: 'f.c', line: 4, label: 0 },
  ]);
  // Scores that rank the defective line first, then last.
  const scored = (first: boolean) =>
    rows.map((x) => JSON.stringify({ ...x, score: (x.label === 1) === first ? 0.9 : 0.1 })).join('\n') + '\n';
  writeFileSync(join(r.dir, 'good.jsonl'), scored(true));
  writeFileSync(join(r.dir, 'bad.jsonl'), scored(false));
  const good = JSON.parse(cli('eval', 'jitdp', '--lines', 'good.jsonl', '--json').stdout);
  assert.deepEqual(good, { buggyCommits: 1, commits: 1, lines: 2, top5: 0.5, top10: 0.5, ifa: 0, recall20Effort: 0, effort20Recall: 0.5 });
  const bad = JSON.parse(cli('eval', 'jitdp', '--lines', 'bad.jsonl', '--json').stdout);
  assert.equal(bad.ifa, 1);
  assert.equal(bad.effort20Recall, 1);
  const human = cli('eval', 'jitdp', '--lines', 'good.jsonl');
  assert.match(human.stdout, /^line buggyCommits\s+1\n[\s\S]*line top10\s+0\.5000\n/);
  // A bad --lines target is refused before anything is blamed, and nothing is left behind.
  const refused = cli('label', '--lines', '.', '--quiet');
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, /--lines .* is a folder/);
});

/** A small deterministic generator (mulberry32). */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A history with what makes blame hard: two branches merged again and again (clean merges, merges whose
 * files take both sides, -X ours resolutions), re-indented blocks (blame -w sees through them), repeated
 * "}" lines whose alignment is ambiguous, CRLF and no-final-newline files, a file deleted and re-added, and
 * a rename on one side of a merge while the other side edits the file (which the walk hands to git blame).
 */
function tangledHistory(seed: number): TestRepo {
  const r = TestRepo.init();
  repos.push(r);
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const files: Record<string, string[]> = {};
  const eol: Record<string, string> = { 'a.c': '\n', 'b.c': '\n', 'c.c': '\r\n' };
  for (const f of Object.keys(eol)) files[f] = Array.from({ length: 24 }, (_, i) => (i % 4 === 3 ? '}' : `  int ${f[0]}${i} = ${i};`));
  const save = (f: string) => r.write(f, files[f]!.join(eol[f]!) + (f === 'b.c' ? '' : eol[f]!));
  const read = (f: string) => {
    const text = r.git('show', `HEAD:${f}`);
    files[f] = text.split(eol[f]!).filter((l, i, all) => i < all.length - 1 || l !== '');
  };
  Object.keys(eol).forEach(save);
  r.commitAs('initial', A);
  let n = 0;
  let focus = 'a.c';
  const edit = () => {
    // Most edits go to the round's file, so that both sides of each merge change it.
    const f = rand() < 0.7 && files[focus] ? focus : pick(Object.keys(files));
    const lines = files[f]!;
    const at = Math.floor(rand() * lines.length);
    const op = rand();
    if (op < 0.3) lines.splice(at, 0, `  int n${n} = ${n};`, ...(rand() < 0.3 ? ['}'] : []));
    else if (op < 0.5 && lines.length > 6) lines.splice(at, 1 + Math.floor(rand() * 2));
    else if (op < 0.8) lines[at] = `  long m${n} = ${n};`;
    else
      for (let i = at; i < Math.min(lines.length, at + 4); i++)
        lines[i] = lines[i]!.startsWith('    ') ? lines[i]!.slice(2) : `  ${lines[i]}`;
    save(f);
    r.commitAs(`${rand() < 0.45 ? 'Fix' : 'Change'} ${f} (${n++})`, A);
  };
  const branch = (name: string) => {
    r.git('checkout', '-q', name);
    Object.keys(files).forEach(read);
  };
  r.git('branch', 'side');
  for (let round = 0; round < 8; round++) {
    focus = pick(Object.keys(files));
    for (let i = 0; i < 4; i++) edit();
    branch('side');
    for (let i = 0; i < 3; i++) edit();
    branch('main');
    r.git('merge', '-q', '--no-ff', '-X', 'ours', '-m', `Merge side (${round})`, 'side');
    Object.keys(files).forEach(read);
    if (round === 2) {
      r.remove('b.c').commitAs('drop b.c', A);
      delete files['b.c'];
      files['b.c'] = ['int b = 1;', '}', 'int b2 = 2;'];
      save('b.c');
      r.commitAs('re-add b.c', A);
    }
    if (round < 7) {
      r.git('checkout', '-q', 'side');
      r.git('merge', '-q', '--ff-only', 'main');
      branch('main');
    }
  }
  // A rename on main while side edits the file: the merged file's side lines are not at that path on side.
  r.git('checkout', '-q', 'side');
  Object.keys(files).forEach(read);
  files['a.c']![2] = '  int from_side = 1;';
  save('a.c');
  const sideEdit = r.commitAs('side edits a.c', A);
  r.git('checkout', '-q', 'main');
  r.git('mv', 'a.c', 'renamed.c');
  r.commitAs('rename a.c', A);
  r.git('merge', '-q', '--no-ff', '-m', 'Merge side (rename)', 'side');
  const text = r.git('show', 'HEAD:renamed.c').split('\n');
  r.write('renamed.c', text.filter((l) => !l.includes('from_side')).join('\n'));
  r.commitAs('Fix: drop from_side', A);
  return Object.assign(r, { sideEdit });
}

test("SZZ: the forward line walk gives git blame -w's answers on a tangled history (merges, re-indents, renames across a merge, CRLF)", async () => {
  for (const seed of [1, 2, 3]) {
    const r = tangledHistory(seed) as TestRepo & { sideEdit: string };
    const repo = await openRepository(r.dir);
    const traced = await szz(repo, { maxBlamed: 100 });
    const blamed = await szz(repo, { maxBlamed: 100, via: 'blame' });
    assert.ok(traced.fixes.length >= 8, `seed ${seed}: ${traced.fixes.length} fixes kept`);
    assert.deepEqual(traced.fixes, blamed.fixes, `seed ${seed}`);
    assert.deepEqual(traced.droppedFixes, blamed.droppedFixes);
    assert.ok(traced.answered.traced > 0 && traced.answered.mergeDiffs > 0, JSON.stringify(traced.answered));
    // The renamed file's side lines were left to git blame, which follows the rename on side.
    assert.ok(traced.answered.blamed >= 1, JSON.stringify(traced.answered));
    assert.ok(traced.fixedBy.get(r.sideEdit)?.length, 'the side edit removed by the last fix is blamed');
    assert.ok(existsSync(join(r.dir, '.git', 'objects', 'info', 'commit-graph')), 'blame got the commit-graph');
  }
});
