import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TestRepo, tempDir } from '../helpers/gitRepo.js';

const CLI = resolve('dist/cli.mjs');
const repos: TestRepo[] = [];
after(() => repos.forEach((r) => r.cleanup()));

function cli(args: string[], cwd = process.cwd()) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', maxBuffer: 1 << 26 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function sample(): TestRepo {
  const r = TestRepo.init();
  repos.push(r);
  r.write('src/main.c', 'int main() {\n  return 0;\n}\n').commit('initial');
  r.write('src/main.c', 'int main() {\n  return 1;\n}\n').write('package-lock.json', '{"lockfileVersion": 3}\n').commit('fix: exit code');
  return r;
}

test('show: the staged change with files, hunks, counts and what the filter drops', () => {
  const r = sample();
  r.write('src/util.c', 'int util;\n').write('vendor/lib/x.c', 'int x;\n').write('src/main.c', 'int main() {\n  return 2;\n}\n');
  r.git('add', '-A');
  const { code, out } = cli(['show', '--repo', r.dir]);
  assert.equal(code, 0);
  assert.match(out, /^Staged change in .* \(branch main\)/);
  assert.match(out, /M  src\/main\.c\s+1\s+1\s+1/);
  assert.match(out, /A  vendor\/lib\/x\.c\s+1\s+0\s+1  dropped: vendored \(vendor\/\*\*\)/);
  assert.match(out, /3 files, 3 hunks, \+3 -1/);
  assert.match(out, /Model input: 2 of 3 files kept; dropped 1:/);
  const j = JSON.parse(cli(['show', '--repo', r.dir, '--json']).out);
  assert.equal(j.source, 'staged');
  assert.deepEqual(j.totals, { files: 3, hunks: 3, additions: 3, deletions: 1 });
  assert.deepEqual(j.modelInput.dropped, [{ path: 'vendor/lib/x.c', reason: 'vendored', detail: 'vendor/**' }]);
});

test('show: the last commit when nothing is staged, run from inside a subfolder', () => {
  const r = sample();
  const { code, out } = cli(['show'], join(r.dir, 'src'));
  assert.equal(code, 0, out);
  assert.match(out, /^Commit [0-9a-f]{12} in .* \(branch main, nothing is staged\)\n  fix: exit code/);
  assert.match(out, /package-lock\.json: lock \(package-lock\.json\)/);
  const j = JSON.parse(cli(['show', '--repo', r.dir, '--commit', 'HEAD~1', '--json']).out);
  assert.equal(j.commit.subject, 'initial');
  assert.deepEqual(
    j.files.map((f: { status: string; path: string }) => [f.status, f.path]),
    [['added', 'src/main.c']],
  );
});

test('changeling with no command: the change, suggested messages and its risk on one screen', () => {
  const r = sample();
  // Nothing staged: the last commit.
  let res = cli([], r.dir);
  assert.equal(res.code, 0, res.err);
  assert.match(
    res.out,
    /^The last commit, [0-9a-f]{12} "fix: exit code" \(nothing is staged\)\n  2 files, \+2 -1: package-lock\.json, src\/main\.c\n/,
  );
  assert.match(res.out, /\nSuggested messages \(NNGen: the messages of the most similar changes in this history\)\n/);
  assert.match(
    res.out,
    /\nRisk: (LOW|MEDIUM|HIGH) \d+% \(the embedded default model; high from \d+%\)\n  (raises|lowers) the risk by [\d.]+ points: /,
  );
  assert.match(res.out, /changeling download JetBrains-Research\/cmg-codet5-with-history/);
  // A staged change, and the same as JSON.
  r.write('src/main.c', 'int main() {\n  return 3;\n}\n');
  r.git('add', '-A');
  res = cli(['--repo', r.dir]);
  assert.match(res.out, /^The staged change\n  1 file, \+1 -1: src\/main\.c\n/);
  assert.match(res.out, /\n  1\. .*\(nngen\)\n/, 'the earlier commit on the same file is suggested');
  const j = JSON.parse(cli(['overview', '--repo', r.dir, '--json']).out);
  assert.deepEqual(Object.keys(j), ['change', 'suggestions', 'risk']);
  assert.equal(j.change.source, 'staged');
  assert.equal(j.risk.results[0].features.la, 1);
  assert.equal(cli(['overview', '--repo', r.dir, '-n', '0']).code, 2);
  assert.match(cli(['--repo', r.dir, '--commit', 'HEAD~1']).out, /^The commit [0-9a-f]{12} "initial"\n  1 file, \+3 -0: src\/main\.c\n/);
});

test('mine: JSON lines to a file with a JSON summary, or to stdout; filters', () => {
  const r = sample();
  r.write('b.txt', 'b\n').commit('third');
  const out = join(tempDir(), 'h.jsonl');
  const res = cli(['mine', '--repo', r.dir, '--out', out, '--json']);
  assert.equal(res.code, 0, res.err);
  const summary = JSON.parse(res.out);
  assert.equal(summary.commits, 3);
  assert.equal(summary.out, out);
  const lines = readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    lines.map((c) => c.message),
    ['third', 'fix: exit code', 'initial'],
  );
  const keys = Object.keys(lines[1]).sort();
  assert.deepEqual(keys, ['author', 'authorDate', 'commitDate', 'files', 'message', 'parents', 'sha', 'truncated']);
  assert.deepEqual(Object.keys(lines[1].files[0]).sort(), [
    'additions',
    'binary',
    'deletions',
    'hunks',
    'newMode',
    'oldMode',
    'oldPath',
    'path',
    'similarity',
    'status',
    'submodule',
  ]);
  const piped = cli(['mine', '--repo', r.dir, '--max', '2', '--reverse', '--quiet']);
  assert.equal(piped.code, 0);
  assert.deepEqual(
    piped.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).message),
    ['fix: exit code', 'third'],
  );
  assert.equal(piped.err, '');
  const since = cli(['mine', '--repo', r.dir, '--since', '2024-01-02T12:00:00Z', '--quiet']);
  assert.deepEqual(
    since.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).message),
    ['third', 'fix: exit code'],
  );
});

test('errors: clear messages and exit codes', () => {
  const plain = tempDir();
  let res = cli(['--repo', plain]);
  assert.equal(res.code, 1);
  assert.equal(res.err, `changeling: not a git repository: ${plain}\n`);
  res = cli(['mine', '--repo', join(plain, 'missing')]);
  assert.equal(res.code, 1);
  assert.match(res.err, /no such folder/);
  res = cli(['mine', '--repo', plain, '--max', 'lots']);
  assert.equal(res.code, 2);
  assert.match(res.err, /--max needs a whole number/);
  res = cli(['show', '--bogus']);
  assert.equal(res.code, 2);
  assert.match(res.err, /Unknown option '--bogus'/);
  res = cli(['frobnicate']);
  assert.equal(res.code, 2);
  assert.match(res.err, /unknown command "frobnicate"/);
  const empty = TestRepo.init();
  repos.push(empty);
  res = cli(['--repo', empty.dir]);
  assert.equal(res.code, 1);
  assert.match(res.err, /nothing is staged and the repository .* has no commits yet/);
  res = cli(['mine', '--repo', empty.dir, '--json']);
  assert.equal(res.code, 0);
  assert.match(res.err, /has no commits yet; the dataset is empty/);
  res = cli(['--repo', sample().dir, '--commit', 'nope']);
  assert.equal(res.code, 1);
  assert.match(res.err, /unknown revision 'nope'/);
});

test('help and version', () => {
  assert.match(cli(['--help']).out, /changeling \[show\]/);
  assert.match(cli(['help', 'mine']).out, /--max-diff-bytes N/);
  assert.match(cli(['mine', '--help']).out, /--since DATE/);
  assert.match(cli(['--version']).out, /^\d+\.\d+\.\d+\n$/);
});
