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
