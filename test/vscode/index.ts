// Tests that run inside the real VS Code extension host (code-server), loaded through the smoke-test
// driver's extensionTestsPath. The folder opened is a test repository with a staged change; the test
// harness passes its expectations through the environment.
import * as vscode from 'vscode';
import Mocha from 'mocha';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function workspaceRepo(): string {
  const f = vscode.workspace.workspaceFolders?.[0];
  assert.ok(f, 'a folder is open');
  return f.uri.fsPath;
}

function define(root: Mocha.Suite): void {
  const suite = Mocha.Suite.create(root, 'Changeling in the extension host');
  const t = (title: string, fn: () => Promise<void>) => suite.addTest(new Mocha.Test(title, fn));

  t('activates and registers its commands', async () => {
    const ext = vscode.extensions.all.find((e) => e.packageJSON?.name === 'changeling');
    assert.ok(ext, 'the extension is loaded');
    await ext.activate();
    const cmds = await vscode.commands.getCommands(true);
    for (const c of [
      'changeling.exportHistory',
      'changeling.describeChange',
      'changeling.showLog',
      'changeling.suggestMessage',
      'changeling.showRisk',
      'changeling.checkOutgoing',
      'changeling.installPrePushHook',
      'changeling.uninstallPrePushHook',
      'changeling.selectModel',
    ])
      assert.ok(cmds.includes(c), c);
  });

  t('the built-in git extension sees the repository', async () => {
    const git = vscode.extensions.getExtension<{ getAPI(v: 1): { repositories: Array<{ rootUri: vscode.Uri }> } }>('vscode.git');
    assert.ok(git);
    const api = (git.isActive ? git.exports : await git.activate()).getAPI(1);
    for (let i = 0; i < 100 && api.repositories.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(
      api.repositories.map((r) => r.rootUri.fsPath),
      [workspaceRepo()],
    );
  });

  t('Export history dataset writes one JSON line per commit', async () => {
    const out = join(process.env.CHANGELING_TEST_OUT_DIR!, 'host-history.jsonl');
    const summary = await vscode.commands.executeCommand<{ commits: number; out: string }>('changeling.exportHistory', {
      repo: workspaceRepo(),
      out,
    });
    assert.equal(summary.commits, Number(process.env.CHANGELING_TEST_COMMITS));
    const lines = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { sha: string; files: unknown[] });
    assert.equal(lines.length, summary.commits);
    assert.match(lines[0]!.sha, /^[0-9a-f]{40}$/);
  });

  t('Export history dataset reports a folder that is not a repository', async () => {
    await assert.rejects(
      Promise.resolve(
        vscode.commands.executeCommand('changeling.exportHistory', {
          repo: process.env.CHANGELING_TEST_OUT_DIR!,
          out: join(process.env.CHANGELING_TEST_OUT_DIR!, 'x.jsonl'),
        }),
      ),
      /not a git repository/,
    );
  });

  t('Describe staged change reports the staged files and the filter', async () => {
    const view = await vscode.commands.executeCommand<{
      source: string;
      files: Array<{ path: string }>;
      modelInput: { dropped: Array<{ path: string; reason: string }> };
    }>('changeling.describeChange', { repo: workspaceRepo() });
    assert.equal(view.source, 'staged');
    assert.deepEqual(view.files.map((f) => f.path).sort(), ['src/app.js', 'yarn.lock']);
    assert.deepEqual(
      view.modelInput.dropped.map((d) => [d.path, d.reason]),
      [['yarn.lock', 'lock']],
    );
  });
}

function defineMore(suite: Mocha.Suite): void {
  const t = (title: string, fn: () => Promise<void>) => suite.addTest(new Mocha.Test(title, fn));

  t('Suggest commit message without a model never fills the box by itself: it lists similar past commits', async () => {
    const git = vscode.extensions
      .getExtension<{ getAPI(v: 1): { repositories: Array<{ rootUri: vscode.Uri; inputBox: { value: string } }> } }>('vscode.git')!
      .exports.getAPI(1);
    const repo = git.repositories[0]!;
    repo.inputBox.value = '';
    const pending = vscode.commands.executeCommand<string | undefined>('changeling.suggestMessage', { repo: workspaceRepo() });
    // The list is open (the command waits on it) and the box is still empty; closing it leaves it so.
    await new Promise((r) => setTimeout(r, 4000));
    assert.equal(repo.inputBox.value, '');
    await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
    assert.equal(await pending, undefined);
    assert.equal(repo.inputBox.value, '');
  });

  t('Check outgoing commits scores the commits no remote has', async () => {
    const results = await vscode.commands.executeCommand<Array<{ sha: string; level: string; probability: number }>>(
      'changeling.checkOutgoing',
      { repo: workspaceRepo() },
    );
    assert.equal(results.length, Number(process.env.CHANGELING_TEST_COMMITS));
    assert.ok(results.every((r) => /^[0-9a-f]{40}$/.test(r.sha) && r.probability > 0 && r.probability < 1));
  });

  t("The pre-push hook is installed and removed again, the user's hook restored", async () => {
    const hooks = join(workspaceRepo(), '.git', 'hooks');
    writeFileSync(join(hooks, 'pre-push'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    assert.equal(await vscode.commands.executeCommand('changeling.installPrePushHook', { repo: workspaceRepo(), yes: true }), true);
    assert.match(readFileSync(join(hooks, 'pre-push'), 'utf8'), /changeling hook: pre-push/);
    assert.equal(readFileSync(join(hooks, 'pre-push.changeling-chained'), 'utf8'), '#!/bin/sh\nexit 0\n');
    assert.equal(await vscode.commands.executeCommand('changeling.uninstallPrePushHook', { repo: workspaceRepo() }), true);
    assert.equal(readFileSync(join(hooks, 'pre-push'), 'utf8'), '#!/bin/sh\nexit 0\n');
  });
}

/** Called by the extension host; resolves when all tests pass. */
export async function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'tdd', timeout: 30_000, color: false });
  define(mocha.suite);
  defineMore(Mocha.Suite.create(mocha.suite, 'Changeling surfaces in the extension host'));
  const results: Array<{ title: string; state: string; error?: string }> = [];
  const failures = await new Promise<number>((resolve) => {
    const runner = mocha.run(resolve);
    runner.on('pass', (t) => results.push({ title: t.title, state: 'passed' }));
    runner.on('fail', (t, err: Error) => results.push({ title: t.title, state: 'failed', error: err?.stack ?? String(err) }));
  });
  const report = process.env.CHANGELING_TEST_REPORT;
  if (report) writeFileSync(report, JSON.stringify(results, null, 2));
  if (failures > 0) throw new Error(`${failures} extension-host test(s) failed`);
}
