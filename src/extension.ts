import * as vscode from 'vscode';
import pkg from '../package.json' with { type: 'json' };
import { registerExportHistory } from './ui/exportHistory.js';
import { registerDescribeChange } from './ui/describeChange.js';
import { registerSuggestMessage } from './ui/suggestMessage.js';
import { registerDownloadMessageModel, registerSelectModel } from './ui/models.js';
import { RiskController } from './ui/risk.js';
import { registerCheckOutgoing } from './ui/outgoing.js';
import { registerRiskHook } from './ui/riskHook.js';
import { registerFinetune } from './ui/finetune.js';
import { registerProbe } from './ui/probe.js';
import { registerEditLearning } from './ui/editLearning.js';
import { setGitBinary } from './git/run.js';
import { existsSync } from 'node:fs';
import { runtimeStatus } from './runtime/platformRuntime.js';
import { onNotice } from './util/notices.js';

/** Use the git that VS Code's own Git extension is configured with (`git.path`: a path or a list). */
function applyGitPath(log: vscode.LogOutputChannel): void {
  const setting = vscode.workspace.getConfiguration('git').get<string | string[] | null>('path');
  const candidates = (Array.isArray(setting) ? setting : setting ? [setting] : []).filter((p) => existsSync(p));
  setGitBinary(candidates[0]);
  if (candidates[0]) log.info(`using git at ${candidates[0]} (git.path)`);
}

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Changeling', { log: true });
  const risk = new RiskController(log);
  context.subscriptions.push(
    log,
    registerExportHistory(log),
    registerDescribeChange(log),
    vscode.commands.registerCommand('changeling.showLog', () => log.show()),
    registerSuggestMessage(context, log),
    registerSelectModel(context, log),
    registerDownloadMessageModel(context, log),
    risk,
    registerCheckOutgoing(risk, log),
    registerRiskHook(context, log),
    registerFinetune(context, log),
    registerProbe(context, log),
    registerEditLearning(context, log),
  );
  applyGitPath(log);
  // What the engine says in passing (a read-only cache, an adopted model that is gone, a cut input): the log, and once a warning.
  const shownNotices = new Set<string>();
  context.subscriptions.push({
    dispose: onNotice((text) => {
      log.warn(text);
      if (!shownNotices.has(text)) {
        shownNotices.add(text);
        void vscode.window.showWarningMessage(`Changeling: ${text}`);
      }
    }),
  });
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('git.path')) applyGitPath(log);
    }),
  );
  log.info(`Changeling ${pkg.version} activated (VS Code ${vscode.version}, Node ${process.versions.node})`);
  const runtime = runtimeStatus(context.extensionPath);
  if (!runtime.present) {
    log.warn(runtime.message!);
    void vscode.window.showWarningMessage(`Changeling: ${runtime.message}.`);
  }
}

export function deactivate(): void {}
