import * as vscode from 'vscode';
import pkg from '../package.json' with { type: 'json' };
import { registerExportHistory } from './ui/exportHistory.js';
import { registerDescribeChange } from './ui/describeChange.js';

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Changeling', { log: true });
  context.subscriptions.push(
    log,
    registerExportHistory(log),
    registerDescribeChange(log),
    vscode.commands.registerCommand('changeling.showLog', () => log.show()),
  );
  log.info(`Changeling ${pkg.version} activated (VS Code ${vscode.version}, Node ${process.versions.node})`);
}

export function deactivate(): void {}
