import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestRepo, tempDir } from '../helpers/gitRepo.js';
import { openRepository } from '../../src/git/repository.js';
import { stagedDiff } from '../../src/git/staged.js';
import { commitDiff, walkHistory } from '../../src/git/history.js';
import { currentChange } from '../../src/git/currentChange.js';
import { mineToFile } from '../../src/git/dataset.js';
import { ChangelingError } from '../../src/util/errors.js';
import type { CommitRecord } from '../../src/git/types.js';

const repos: TestRepo[] = [];
after(() => repos.forEach((r) => r.cleanup()));
function repo(opts: { bare?: boolean } = {}): TestRepo {
  const r = TestRepo.init(opts);
  repos.push(r);
  return r;
}

async function collect(path: string, o = {}): Promise<CommitRecord[]> {
  const out: CommitRecord[] = [];
  for await (const c of walkHistory(await openRepository(path), o)) out.push(c);
  return out;
}

/** git's own per-file counts, to hold our parser to. */
function numstat(r: TestRepo, ...args: string[]): Array<[string, string, string]> {
  return r
    .git('-c', 'core.quotePath=false', ...args, '--numstat', '--format=')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('\t') as [string, string, string]);
}

test('staged diff: modify, add, delete, rename, binary, unicode path, CRLF, mode change', async () => {
  const r = repo();
  r.write('src/app.js', 'a\nb\nc\n').write('old-name.txt', 'same text\n'.repeat(20)).write('gone.txt', 'bye\n');
  r.write('run.sh', '#!/bin/sh\necho hi\n').write('win.txt', 'one\r\ntwo\r\n');
  r.commit('base');
  r.write('src/app.js', 'a\nB\nc\nd\n').remove('gone.txt').remove('old-name.txt').write('new-name.txt', 'same text\n'.repeat(20));
  r.write('img.bin', Buffer.from([0, 1, 2, 3, 255, 0, 7]))
    .write('docs/naïve café.md', 'ünïcode\n')
    .write('win.txt', 'one\r\nTWO\r\n');
  r.git('add', '-A');
  r.git('update-index', '--chmod=+x', 'run.sh');
  const { files, truncated } = await stagedDiff(await openRepository(r.dir));
  assert.equal(truncated, false);
  const byPath = new Map(files.map((f) => [f.path, f]));
  assert.deepEqual([...byPath.keys()].sort(), [
    'docs/naïve café.md',
    'gone.txt',
    'img.bin',
    'new-name.txt',
    'run.sh',
    'src/app.js',
    'win.txt',
  ]);
  assert.equal(byPath.get('new-name.txt')!.status, 'renamed');
  assert.equal(byPath.get('new-name.txt')!.oldPath, 'old-name.txt');
  assert.equal(byPath.get('gone.txt')!.status, 'deleted');
  assert.equal(byPath.get('img.bin')!.binary, true);
  assert.equal(byPath.get('docs/naïve café.md')!.status, 'added');
  assert.equal(byPath.get('win.txt')!.crlf, true);
  assert.deepEqual([byPath.get('run.sh')!.oldMode, byPath.get('run.sh')!.newMode], ['100644', '100755']);
  for (const [add, del, path] of numstat(r, 'diff', '--cached', '-M')) {
    const name = path.includes(' => ') ? 'new-name.txt' : path;
    const f = byPath.get(name)!;
    assert.deepEqual([f.additions, f.deletions], add === '-' ? [0, 0] : [Number(add), Number(del)], path);
  }
});

test('history: merges (first-parent diff), renames, empty commits, multi-line messages; counts equal git numstat', async () => {
  const r = repo();
  r.write('a.txt', 'one\n').commit('first');
  r.git('checkout', '-q', '-b', 'topic');
  r.write('topic.txt', 'topic work\n').commit('topic: add file');
  r.write('topic.txt', 'topic work\nmore\n').commit('topic: more');
  r.git('checkout', '-q', 'main');
  r.write('a.txt', 'one\ntwo\n').commit('main: extend a\n\nA body line.\n\nSigned-off-by: Ada <ada@example.com>\n');
  r.git('merge', '-q', '--no-ff', '-m', 'Merge branch topic', 'topic');
  r.git('mv', 'a.txt', 'b.txt');
  r.commit('rename a to b');
  r.commit('nothing at all', '--allow-empty');
  const commits = await collect(r.dir);
  assert.deepEqual(
    commits.map((c) => c.message.split('\n')[0]),
    ['nothing at all', 'rename a to b', 'Merge branch topic', 'main: extend a', 'topic: more', 'topic: add file', 'first'],
  );
  const [empty, rename, merge, body] = commits;
  assert.deepEqual(empty!.files, []);
  assert.deepEqual(
    rename!.files.map((f) => [f.status, f.oldPath, f.path, f.similarity]),
    [['renamed', 'a.txt', 'b.txt', 100]],
  );
  assert.equal(merge!.merge, true);
  assert.equal(merge!.parents.length, 2);
  assert.deepEqual(
    merge!.files.map((f) => [f.path, f.additions]),
    [['topic.txt', 2]],
  );
  // A merge's diff lines are its change against the first parent (what a model's input is built from).
  assert.deepEqual(merge!.files[0]!.hunks[0]!.lines, ['+topic work', '+more']);
  assert.equal(body!.message, 'main: extend a\n\nA body line.\n\nSigned-off-by: Ada <ada@example.com>');
  assert.equal(body!.author.email, 'ada@example.com');
  assert.match(body!.authorDate, /^2024-01-\d\dT00:00:00Z$|^2024-01-\d\dT00:00:00\+00:00$/);
  for (const c of commits) {
    const ours = c.files.map((f) => [f.additions, f.deletions]);
    const theirs = numstat(r, 'log', '-1', '-M', '--diff-merges=first-parent', c.sha).map(([a, d]) => [Number(a), Number(d)]);
    assert.deepEqual(ours, theirs, c.message);
  }
  const first = await collect(r.dir, { reverse: true, max: 2, noMerges: true });
  // As in git, --max picks the newest N and --reverse then orders them oldest first.
  assert.deepEqual(
    first.map((c) => c.message),
    ['rename a to b', 'nothing at all'],
  );
  const root = await commitDiff(await openRepository(r.dir), commits.at(-1)!.sha);
  assert.deepEqual(
    root.files.map((f) => [f.status, f.path]),
    [['added', 'a.txt']],
  );
});

test('one-commit repository: show falls back to the last commit; a detached HEAD works', async () => {
  const r = repo();
  r.write('README.md', '# hi\n').write('package-lock.json', '{}\n');
  const sha = r.commit('initial import');
  let view = await currentChange(await openRepository(r.dir));
  assert.equal(view.source, 'commit');
  assert.equal(view.commit!.reason, 'nothing-staged');
  assert.equal(view.commit!.sha, sha);
  assert.deepEqual(
    view.filter.dropped.map((d) => [d.path, d.reason]),
    [['package-lock.json', 'lock']],
  );
  r.git('checkout', '-q', '--detach', 'HEAD');
  r.write('README.md', '# hello\n');
  r.git('add', 'README.md');
  const repoInfo = await openRepository(r.dir);
  assert.equal(repoInfo.branch, null);
  view = await currentChange(repoInfo);
  assert.equal(view.source, 'staged');
  assert.deepEqual(
    view.files.map((f) => [f.path, f.additions, f.deletions]),
    [['README.md', 1, 1]],
  );
});

test('empty repository: clear errors; a staged first change still works', async () => {
  const r = repo();
  const info = await openRepository(r.dir);
  assert.equal(info.head, null);
  await assert.rejects(currentChange(info), (e: ChangelingError) => e.code === 'empty-repository' && /no commits yet/.test(e.message));
  await assert.rejects(collect(r.dir), (e: ChangelingError) => e.code === 'empty-repository');
  r.write('first.txt', 'x\n');
  r.git('add', '-A');
  const view = await currentChange(await openRepository(r.dir));
  assert.deepEqual(
    view.files.map((f) => [f.status, f.path]),
    [['added', 'first.txt']],
  );
});

test('not a repository, a missing folder, an unknown revision', async () => {
  const plain = tempDir();
  await assert.rejects(openRepository(plain), (e: ChangelingError) => e.code === 'not-a-repository');
  await assert.rejects(openRepository(join(plain, 'nope')), (e: ChangelingError) => e.code === 'not-found');
  const r = repo();
  r.write('x', '1\n').commit('one');
  await assert.rejects(commitDiff(await openRepository(r.dir), 'no-such-branch'), (e: ChangelingError) => e.code === 'bad-revision');
});

test('shallow clone: works, says it is shallow, flags the boundary commit', async () => {
  const r = repo();
  for (let i = 0; i < 4; i++) r.write('f.txt', `v${i}\n`).commit(`c${i}`);
  const dest = join(tempDir(), 'shallow');
  r.git('clone', '-q', '--depth', '2', `file://${r.dir}`, dest);
  const info = await openRepository(dest);
  assert.equal(info.shallow, true);
  const commits = await collect(dest);
  assert.deepEqual(
    commits.map((c) => [c.message, c.shallowBoundary ?? false]),
    [
      ['c3', false],
      ['c2', true],
    ],
  );
  assert.deepEqual(commits[1]!.parents, []);
});

test('bare repository: mining works and show uses the last commit', async () => {
  const r = repo();
  r.write('x.txt', 'a\n').commit('one');
  r.write('x.txt', 'b\n').commit('two');
  const dest = join(tempDir(), 'bare.git');
  r.git('clone', '-q', '--bare', r.dir, dest);
  const info = await openRepository(dest);
  assert.equal(info.bare, true);
  assert.equal((await collect(dest)).length, 2);
  const view = await currentChange(info);
  assert.equal(view.source, 'commit');
  assert.equal(view.commit!.reason, 'bare-repository');
  await assert.rejects(stagedDiff(info), /bare repository/);
});

test('non-UTF-8 content and a submodule in real commits', async () => {
  const sub = repo();
  sub.write('lib.c', 'int x;\n').commit('lib');
  const r = repo();
  r.write('latin1.txt', Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a])).commit('latin-1 file');
  r.git('submodule', '-q', 'add', `file://${sub.dir}`, 'deps/sub');
  r.commit('add submodule');
  const [withSub, latin] = await collect(r.dir);
  const gitlink = withSub!.files.find((f) => f.path === 'deps/sub')!;
  assert.equal(gitlink.submodule, true);
  assert.match(gitlink.hunks[0]!.lines[0]!, /^\+Subproject commit [0-9a-f]{40}$/);
  const f = latin!.files[0]!;
  assert.equal(f.nonUtf8, true);
  assert.deepEqual([...Buffer.from(f.hunks[0]!.lines[0]!, 'latin1')], [0x2b, 0x63, 0x61, 0x66, 0xe9]);
});

test('a huge commit is capped and flagged; counts stay exact', async () => {
  const r = repo();
  r.write('small.txt', 'x\n').commit('small');
  r.write('huge.txt', Array.from({ length: 60000 }, (_, i) => `line ${i}`).join('\n') + '\n')
    .write('small.txt', 'y\n')
    .commit('huge');
  const [huge] = await collect(r.dir, { maxDiffBytes: 64 * 1024 });
  assert.equal(huge!.truncated, true);
  const big = huge!.files.find((f) => f.path === 'huge.txt')!;
  assert.equal(big.additions, 60000);
  assert.equal(big.truncated, true);
  assert.equal(big.hunks.length, 0);
  // The file after the huge one is still read in full (its diff lines are a model's input).
  assert.deepEqual(huge!.files.find((f) => f.path === 'small.txt')!.hunks[0]!.lines, ['-x', '+y']);
});

test('mining to a file is atomic: cancelling leaves the previous file and no temporary file', async () => {
  const r = repo();
  for (let i = 0; i < 30; i++) r.write(`f${i % 3}.txt`, `v${i}\n`).commit(`c${i}`);
  const dir = tempDir();
  const out = join(dir, 'history.jsonl');
  writeFileSync(out, 'previous\n');
  const ac = new AbortController();
  await assert.rejects(
    mineToFile(await openRepository(r.dir), out, {
      signal: ac.signal,
      progressEveryMs: 0,
      onProgress: (p) => p.commits >= 5 && ac.abort(),
    }),
    (e: ChangelingError) => e.code === 'cancelled',
  );
  assert.equal(readFileSync(out, 'utf8'), 'previous\n');
  assert.deepEqual(readdirSync(dir), ['history.jsonl']);
  const s = await mineToFile(await openRepository(r.dir), out);
  assert.equal(s.commits, 30);
  const lines = readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as CommitRecord);
  assert.equal(lines.length, 30);
  assert.equal(lines[0]!.message, 'c29');
  assert.ok(existsSync(out));
});
