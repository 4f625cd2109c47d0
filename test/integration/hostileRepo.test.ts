import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TestRepo, tempDir } from '../helpers/gitRepo.js';
import { writeTinyT5 } from '../helpers/tinyModels.js';
import { openRepository } from '../../src/git/repository.js';
import { szz } from '../../src/git/szz.js';
import { stagedDiff } from '../../src/git/staged.js';
import { commitDiff } from '../../src/git/history.js';

/**
 * A repository is data: opening one must not run the programs its own configuration names. This
 * repository sets every such hook to a program that leaves a marker (fsmonitor, textconv, clean and
 * smudge filters, an external diff, a pager, gpg, ssh, credential helpers, askpass and every git hook);
 * no Changeling command may leave one.
 */
const CLI = resolve('dist/cli.mjs');
const repos: TestRepo[] = [];
after(() => repos.forEach((r) => r.cleanup()));

function hostileRepo(): { r: TestRepo; marks: string } {
  const r = TestRepo.init();
  repos.push(r);
  const marks = tempDir('changeling-marks-');
  const bin = tempDir('changeling-evil-');
  const prog = (name: string) => {
    const p = join(bin, name);
    // Leaves a marker, then behaves harmlessly (a filter passes its input through).
    writeFileSync(p, `#!/bin/sh\ntouch "${marks}/${name}"\ncat\n`);
    chmodSync(p, 0o755);
    return p;
  };
  for (let i = 0; i < 4; i++) {
    r.write('src/a.c', `int a = ${i};\nint b = ${i};\n`).write('doc.txt', `doc ${i}\n`);
    r.commit(i === 3 ? 'Fix the crash in a' : `Change ${i}`);
  }
  r.write('.gitattributes', '*.c diff=evil filter=evil\n*.txt diff=evil filter=evil\n').commit('Attributes');
  const cfg: Array<[string, string]> = [
    ['core.fsmonitor', prog('fsmonitor')],
    ['diff.evil.textconv', prog('textconv')],
    ['diff.evil.command', prog('diffcommand')],
    ['filter.evil.clean', prog('clean')],
    ['filter.evil.smudge', prog('smudge')],
    ['filter.evil.process', prog('process')],
    ['diff.external', prog('external')],
    ['core.pager', prog('pager')],
    ['pager.log', prog('pagerlog')],
    ['gpg.program', prog('gpg')],
    ['log.showSignature', 'true'],
    ['core.sshCommand', prog('ssh')],
    ['credential.helper', `!${prog('credential')}`],
    ['core.askPass', prog('askpass')],
    ['core.editor', prog('editor')],
  ];
  for (const [k, v] of cfg) r.git('config', k, v);
  const hooks = join(r.dir, '.git', 'hooks');
  mkdirSync(hooks, { recursive: true });
  for (const h of ['pre-commit', 'post-checkout', 'post-index-change', 'reference-transaction', 'pre-push', 'post-rewrite', 'pre-auto-gc'])
    writeFileSync(join(hooks, h), `#!/bin/sh\ntouch "${marks}/hook-${h}"\n`, { mode: 0o755 });
  // A staged change, and a work-tree change beside it.
  r.write('src/a.c', 'int a = 10;\nint b = 3;\nint c = 1;\n');
  r.git('add', 'src/a.c');
  r.write('doc.txt', 'unstaged\n');
  // Setting up the repository may itself have run some: start counting from here.
  for (const f of readdirSync(marks)) spawnSync('rm', ['-f', join(marks, f)]);
  return { r, marks };
}

const run = (cwd: string, ...args: string[]) =>
  spawnSync(process.execPath, [CLI, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
  });

test("no command runs a program named by the repository's own configuration", () => {
  const { r, marks } = hostileRepo();
  const out = tempDir();
  const tiny = writeTinyT5(tempDir());
  for (const args of [
    ['show'],
    ['show', '--commit', 'HEAD~1'],
    ['overview'],
    ['risk'],
    ['risk', '--staged'],
    ['risk', '--commit', 'HEAD~1'],
    ['risk', '--range', 'HEAD~3..HEAD'],
    ['suggest'],
    ['features', '--staged'],
    ['input', '--staged', '--model', tiny],
    ['suggest', '--model', tiny],
    ['mine', '--quiet', '--out', join(out, 'h.jsonl')],
    ['label', '--quiet'],
    ['hook', 'status'],
    ['export', '--task', 'jitdp', '--out', join(out, 'export'), '--quiet'],
  ]) {
    const p = run(r.dir, ...args);
    assert.ok(p.status === 0 || p.status === 1 || p.status === 3, `${args.join(' ')}: ${p.stderr}`);
    assert.deepEqual(readdirSync(marks), [], `${args.join(' ')} ran: ${readdirSync(marks).join(', ')}`);
  }
});

test('the git layer itself (staged diff, commit diff, SZZ through git blame) runs none of them', async () => {
  const { r, marks } = hostileRepo();
  const repo = await openRepository(r.dir);
  const staged = await stagedDiff(repo);
  assert.equal(staged.files[0]?.path, 'src/a.c');
  assert.ok((await commitDiff(repo, repo.head!)).files.length > 0);
  // Every fix's lines answered by git blame itself (the fallback), not by the forward walk.
  const labels = await szz(repo, { via: 'blame' });
  assert.ok(labels.fixes.length >= 1, 'the fix is found');
  assert.deepEqual(readdirSync(marks), []);
});

test('a git binary that answers unexpectedly is named as such, in one line', () => {
  const r = TestRepo.init();
  repos.push(r);
  r.write('a.txt', 'a\n').commit('First');
  const fake = join(tempDir(), 'git');
  writeFileSync(fake, '#!/bin/sh\necho "this is not git"\n');
  chmodSync(fake, 0o755);
  const p = spawnSync(process.execPath, [CLI, 'show'], { cwd: r.dir, encoding: 'utf8', env: { ...process.env, CHANGELING_GIT: fake } });
  assert.equal(p.status, 1, p.stderr);
  assert.match(
    p.stderr,
    /^changeling: unexpected answer from the git binary \(.*\/git\) to "git rev-parse": "this is not git\\n"; is git\.path \(or CHANGELING_GIT\) a real git 2\.31 or newer\?\n$/,
  );
});
