import * as vscode from 'vscode';
import { join } from 'node:path';
import { hookStatus, installHook, uninstallHook } from '../git/hooks.js';
import { pickRepository } from './repositories.js';

/**
 * The pre-push risk check's commands: install (explained and confirmed; refused in an untrusted workspace;
 * a hook already there is chained) and remove (the previous hook put back).
 */
export function registerRiskHook(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): vscode.Disposable {
  return vscode.Disposable.from(
    vscode.commands.registerCommand('changeling.installPrePushHook', (arg?: unknown) => install(context, log, arg)),
    vscode.commands.registerCommand('changeling.uninstallPrePushHook', (arg?: unknown) => uninstall(arg)),
  );
}

async function install(context: vscode.ExtensionContext, log: vscode.LogOutputChannel, arg?: unknown): Promise<boolean> {
  if (!vscode.workspace.isTrusted) {
    void vscode.window.showWarningMessage('Changeling: git hooks are not installed in an untrusted workspace. Trust the workspace first.');
    return false;
  }
  const repo = await pickRepository(arg);
  if (!repo) return false;
  const status = await hookStatus(repo, 'pre-push');
  const detail =
    'Before each push, the hook scores the commits going out and prints a warning for risky ones in the push output. \
It never blocks a push unless you set "git config changeling.risk.blockPush true". ' +
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
  const cli = join(context.extensionPath, 'dist', 'cli.mjs');
  const s = await installHook(repo, 'pre-push', { node: process.execPath, cli, electron: !!process.versions.electron });
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
