import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestRepo } from '../helpers/gitRepo.js';
import { openRepository } from '../../src/git/repository.js';
import { HOOK_MARKER, hookStatus, installHook, isChangelingHook, prePushScript, uninstallHook } from '../../src/git/hooks.js';

/**
 * Changeling's hook is recognised by its exact text; whatever else is where it goes (a hook that mentions
 * the marker in a comment, a disabled one, a symlink, a dangling one) is chained and put back exactly.
 */
const repos: TestRepo[] = [];
after(() => repos.forEach((r) => r.cleanup()));
const O = { node: '/usr/bin/node', cli: "/opt/it's here/cli.mjs" };

async function setup() {
  const r = TestRepo.init();
  repos.push(r);
  r.write('a.txt', 'a\n').commit('First');
  return { r, repo: await openRepository(r.dir), hooks: join(r.dir, '.git', 'hooks') };
}

test("exact text, not a marker: a user's hook that mentions the marker is chained and restored byte for byte", async () => {
  const { repo, hooks } = await setup();
  assert.ok(isChangelingHook(prePushScript(O.node, O.cli), 'pre-push'));
  assert.ok(!isChangelingHook(prePushScript(O.node, O.cli) + '# my edit\n', 'pre-push'));
  mkdirSync(hooks, { recursive: true });
  const mine = `#!/bin/sh\n# copied from the docs: ${HOOK_MARKER} pre-push\necho mine\n`;
  writeFileSync(join(hooks, 'pre-push'), mine, { mode: 0o755 });
  assert.equal((await hookStatus(repo)).installed, false);
  const s = await installHook(repo, 'pre-push', O);
  assert.equal(s.chainedNow, true);
  assert.equal(readFileSync(join(hooks, 'pre-push.changeling-chained'), 'utf8'), mine);
  assert.equal((await uninstallHook(repo, 'pre-push')).restored, true);
  assert.equal(readFileSync(join(hooks, 'pre-push'), 'utf8'), mine);
  assert.equal(statSync(join(hooks, 'pre-push')).mode & 0o777, 0o755);
  // Uninstalling again touches nothing: the user's hook is not Changeling's.
  assert.deepEqual(await uninstallHook(repo, 'pre-push'), { removed: false, restored: false, path: join(hooks, 'pre-push') });
  assert.equal(readFileSync(join(hooks, 'pre-push'), 'utf8'), mine);
});

test('a disabled (non-executable) hook, a symlink and a dangling symlink are kept as they are and put back', async () => {
  const { repo, hooks } = await setup();
  mkdirSync(hooks, { recursive: true });
  writeFileSync(join(hooks, 'pre-push'), '#!/bin/sh\nexit 1\n');
  chmodSync(join(hooks, 'pre-push'), 0o644);
  await installHook(repo, 'pre-push', O);
  await uninstallHook(repo, 'pre-push');
  assert.equal(statSync(join(hooks, 'pre-push')).mode & 0o777, 0o644, 'still disabled');
  for (const target of [join(hooks, 'pre-push.real'), join(hooks, 'gone')]) {
    writeFileSync(join(hooks, 'pre-push.real'), '#!/bin/sh\n');
    const link = join(hooks, 'prepare-commit-msg');
    symlinkSync(target, link);
    if (target.endsWith('gone')) assert.throws(() => statSync(link), 'dangling');
    await installHook(repo, 'prepare-commit-msg', O);
    assert.ok(lstatSync(join(hooks, 'prepare-commit-msg.changeling-chained')).isSymbolicLink());
    assert.ok(lstatSync(link).isFile(), "Changeling's hook is a file of its own");
    assert.equal(readFileSync(join(hooks, 'pre-push.real'), 'utf8'), '#!/bin/sh\n', 'the link target is untouched');
    await uninstallHook(repo, 'prepare-commit-msg');
    assert.equal(readlinkSync(link), target);
    rmSync(link);
  }
});

test('a hooks folder tracked by git (core.hooksPath) is changed only with force', async () => {
  const { r } = await setup();
  r.write('.githooks/pre-commit', '#!/bin/sh\n').commit('Team hooks');
  r.git('config', 'core.hooksPath', '.githooks');
  const repo = await openRepository(r.dir);
  await assert.rejects(
    installHook(repo, 'pre-push', O),
    /the hooks folder .*\.githooks is tracked by git \(core\.hooksPath\).*use --force/,
  );
  assert.throws(() => statSync(join(r.dir, '.githooks', 'pre-push')));
  const s = await installHook(repo, 'pre-push', { ...O, force: true });
  assert.equal(s.installed, true);
});

test('the launcher finds the extension when the hook runs: after an update moved it, with no editor runtime, and says one line when it is gone', async () => {
  const { writeLauncher } = await import('../../src/git/hookLauncher.js');
  const { spawnSync } = await import('node:child_process');
  const { renameSync } = await import('node:fs');
  const { tempDir } = await import('../helpers/gitRepo.js');
  const exts = tempDir();
  const ext = join(exts, 'changeling.changeling-0.1.0');
  mkdirSync(join(ext, 'dist'), { recursive: true });
  // A stand-in command line that says which copy ran and with what.
  const cli = (tag: string) => `process.stdout.write(${JSON.stringify(tag)} + ' ' + process.argv.slice(2).join(' '));\n`;
  writeFileSync(join(ext, 'dist', 'cli.mjs'), cli('0.1.0'));
  const launcher = await writeLauncher(join(tempDir(), 'storage'), { extensionPath: ext, node: process.execPath, electron: false });
  const run = (env: NodeJS.ProcessEnv = process.env) => spawnSync('/bin/sh', [launcher, 'risk', '--brief'], { encoding: 'utf8', env });
  assert.equal(run().stdout, '0.1.0 risk --brief');
  // An update: the folder is now -0.10.0 (and an older -0.9.0 is left beside it): the newest runs.
  renameSync(ext, join(exts, 'changeling.changeling-0.10.0'));
  writeFileSync(join(exts, 'changeling.changeling-0.10.0', 'dist', 'cli.mjs'), cli('0.10.0'));
  mkdirSync(join(exts, 'changeling.changeling-0.9.0', 'dist'), { recursive: true });
  writeFileSync(join(exts, 'changeling.changeling-0.9.0', 'dist', 'cli.mjs'), cli('0.9.0'));
  assert.equal(run().stdout, '0.10.0 risk --brief');
  // The editor's runtime gone: node on PATH runs it.
  const moved = await writeLauncher(join(tempDir(), 'storage2'), { extensionPath: ext, node: '/nonexistent/node', electron: true });
  const viaPath = spawnSync('/bin/sh', [moved, 'x'], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${join(process.execPath, '..')}:/usr/bin:/bin` },
  });
  assert.equal(viaPath.stdout, '0.10.0 x');
  // No extension at all: one line, exit 0 (the push goes on).
  rmSync(exts, { recursive: true });
  const gone = run();
  assert.equal(gone.status, 0);
  assert.equal(gone.stderr, 'changeling: the Changeling extension is not installed any more; nothing was checked\n');
  // A hook installed from VS Code runs the launcher and is still recognised as Changeling's.
  const { repo } = await setup();
  const s = await installHook(repo, 'pre-push', { node: '/bin/sh', cli: launcher, by: 'vscode' });
  assert.ok(s.installed);
  assert.equal(s.cli, launcher);
  assert.match(readFileSync(s.path, 'utf8'), /run "Changeling: Install pre-push risk check" in VS Code/);
  assert.equal((await uninstallHook(repo, 'pre-push')).removed, true);
});
