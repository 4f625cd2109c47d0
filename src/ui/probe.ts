import * as vscode from 'vscode';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { openRepository, repoDataDir } from '../git/repository.js';
import { probeHtml } from '../tasks/probe/report.js';
import type { ProbeRun } from '../tasks/probe/probe.js';
import { chooseRepository } from './repositories.js';
import { runCliChild } from './cliChild.js';
import { withCancellableProgress } from './command.js';
import { TEXT_CAP, readJsonFile } from '../util/jsonFile.js';

/**
 * "Changeling: Probe this adapter": what a tuned adapter's encoder knows about the repository's own changes,
 * layer by layer, against its base model (the study's probing, CCM and LTP built from this repository's
 * history). Offered when a fine-tuning run ends; runs `changeling probe` in a child process with its
 * progress and a Cancel, and opens the report. Refused in an untrusted workspace.
 */
export interface ProbeArgs {
  repo?: string;
  /** The base model folder. */
  model?: string;
  adapter?: string;
}

export function registerProbe(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): vscode.Disposable {
  const cli = join(context.extensionPath, 'dist', 'cli.mjs');
  return vscode.commands.registerCommand('changeling.probeAdapter', async (arg?: ProbeArgs) => {
    if (!vscode.workspace.isTrusted) {
      void vscode.window.showWarningMessage('Changeling: probing runs only in a trusted workspace.');
      return undefined;
    }
    const chosen = await chooseRepository(arg, { explain: true });
    if (!chosen) return undefined;
    let adapter = arg?.adapter;
    if (!adapter) {
      const picked = await vscode.window.showOpenDialog({
        canSelectFolders: true,
        canSelectFiles: false,
        openLabel: 'Probe this adapter',
        title: 'Changeling: the adapter folder (adapter_config.json) to probe',
      });
      adapter = picked?.[0]?.fsPath;
      if (!adapter) return undefined;
    }
    let model = arg?.model;
    if (!model) {
      try {
        const named = ((await readJsonFile(join(adapter, 'adapter_config.json'))) as { base_model_name_or_path?: string })
          .base_model_name_or_path;
        if (named && existsSync(named)) model = named;
      } catch {
        // read again by the command line, which says what is wrong
      }
    }
    if (!model) {
      const picked = await vscode.window.showOpenDialog({
        canSelectFolders: true,
        canSelectFiles: false,
        openLabel: 'Base model',
        title: 'Changeling: the base model folder the adapter was trained on',
      });
      model = picked?.[0]?.fsPath;
      if (!model) return undefined;
    }
    const report = join(await repoDataDir(await openRepository(chosen.root)), 'reports', `probe-${basename(adapter)}`);
    const args = [
      'probe',
      '--model',
      model,
      '--adapter',
      adapter,
      '--task',
      'ccm,ltp',
      '--repo',
      chosen.root,
      '--report',
      report,
      '--json',
    ];
    log.info(`probe: ${args.join(' ')}`);
    const r = await withCancellableProgress(
      "probing the adapter on this repository's changes",
      (progress) =>
        runCliChild(cli, args, {
          cwd: chosen.root,
          signal: progress.signal,
          onLine: (line) => {
            progress.report(line);
            log.info(`probe: ${line}`);
          },
        }).done,
    );
    if (r.code === 130) {
      void vscode.window.showInformationMessage('Changeling: probing cancelled.');
      return undefined;
    }
    if (r.code !== 0 || !existsSync(join(report, 'probe.json'))) {
      void vscode.window.showErrorMessage(`Changeling: probing failed (exit ${r.code}); see "Changeling: Show log".`);
      return undefined;
    }
    const groups = (await readJsonFile(join(report, 'probe.json'), { max: TEXT_CAP })) as ProbeRun[][];
    const panel = vscode.window.createWebviewPanel('changeling.probeReport', 'Changeling: probing report', vscode.ViewColumn.Beside, {
      enableScripts: false,
    });
    panel.webview.html = probeHtml(groups, panel.webview.cspSource);
    return { report, groups };
  });
}
