import * as vscode from 'vscode';
import { hookStatus, installHook, uninstallHook } from '../git/hooks.js';
import { writeLauncher } from '../git/hookLauncher.js';
import { openRepository } from '../git/repository.js';
import { pickRepository } from './repositories.js';

/**
 * The pre-push risk check's commands: install (explained and confirmed; refused in an untrusted workspace;
 * a hook already there is chained) and remove (the previous hook put back). The hook runs the launcher in the
 * extension's global storage (`hookLauncher.ts`), rewritten at every start, so that it survives updates;
 * hooks of this workspace that named an extension folder directly (earlier versions) are moved onto it.
 */
export function registerRiskHook(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): vscode.Disposable {
  const launcher = writeLauncher(context.globalStorageUri.fsPath, {
    extensionPath: context.extensionPath,
    node: process.execPath,
    electron: !!process.versions.electron,
  });
  launcher.catch((err: Error) => log.error(`the hook launcher could not be written: ${err.message}`));
  void launcher.then((path) => moveHooksOntoLauncher(path, log)).catch(() => undefined);
  return vscode.Disposable.from(
    vscode.commands.registerCommand('changeling.installPrePushHook', (arg?: unknown) => install(launcher, log, arg)),
    vscode.commands.registerCommand('changeling.uninstallPrePushHook', (arg?: unknown) => uninstall(arg)),
  );
}

/** Changeling's pre-push hooks in this workspace's repositories that name a CLI path of their own, rewritten to run the launcher. */
async function moveHooksOntoLauncher(launcher: string, log: vscode.LogOutputChannel): Promise<void> {
  if (!vscode.workspace.isTrusted) return;
  for (const f of vscode.workspace.workspaceFolders ?? []) {
    const repo = await openRepository(f.uri.fsPath).catch(() => null);
    if (!repo) continue;
    const s = await hookStatus(repo, 'pre-push');
    if (!s.installed || s.cli === launcher || !s.cli.endsWith('/dist/cli.mjs')) continue;
    await installHook(repo, 'pre-push', { node: '/bin/sh', cli: launcher, by: 'vscode' });
    log.info(`pre-push hook at ${s.path} now runs through the launcher (it survives extension updates)`);
  }
}

async function install(launcher: Promise<string>, log: vscode.LogOutputChannel, arg?: unknown): Promise<boolean> {
  if (!vscode.workspace.isTrusted) {
    void vscode.window.showWarningMessage('Changeling: git hooks are not installed in an untrusted workspace. Trust the workspace first.');
    return false;
  }
  const repo = await pickRepository(arg);
  if (!repo) return false;
  const status = await hookStatus(repo, 'pre-push');
  const detail =
    'Before each push, the hook scores the commits going out: one line in the push output when none is risky, \
the full report with its reasons when one is. It never blocks a push unless you set "git config changeling.risk.blockPush true". ' +
    (status.installed
      ? 'It is installed already; installing again refreshes it.'
      : 'A pre-push hook you already have is kept and runs first.') +
    ' "Changeling: Remove pre-push risk check" puts everything back.';
  // Programmatic callers that have asked their user already pass { yes: true }.
  const ok = (arg as { yes?: boolean } | undefined)?.yes
    ? 'Install'
    : await vscode.window.showInformationMessage(
        "Install Changeling's pre-push risk check in this repository?",
        { modal: true, detail },
        'Install',
      );
  if (ok !== 'Install') return false;
  const s = await installHook(repo, 'pre-push', { node: '/bin/sh', cli: await launcher, by: 'vscode' });
  log.info(`pre-push hook installed at ${s.path}${s.chainedNow ? ' (chaining the previous hook)' : ''}`);
  void vscode.window.showInformationMessage(
    `Changeling: pre-push risk check installed${s.chainedNow ? '; your previous hook still runs first' : ''}.`,
  );
  return true;
}

async function uninstall(arg?: unknown): Promise<boolean> {
  const repo = await pickRepository(arg);
  if (!repo) return false;
  const r = await uninstallHook(repo, 'pre-push');
  void vscode.window.showInformationMessage(
    r.removed
      ? `Changeling: pre-push risk check removed${r.restored ? '; your previous hook is back' : ''}.`
      : 'Changeling: no Changeling pre-push hook here; nothing changed.',
  );
  return r.removed;
}
