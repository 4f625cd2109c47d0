import * as vscode from 'vscode';
import { settings } from './settings.js';
import { dirname, join } from 'node:path';
import { mineToFile, type MineSummary } from '../git/dataset.js';
import { reportFailure, withCancellableProgress } from './command.js';
import { pickRepository } from './repositories.js';
import { repositoryName } from '../git/repository.js';

/**
 * The "Export history dataset" command: a repository's history mined into a JSONL file chosen in a save dialog,
 * with progress and cancel.
 */

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export interface ExportHistoryArgs {
  /** Repository folder; asked for when there are several. */
  repo?: string;
  /** Output file; asked for with a save dialog when absent. */
  out?: string;
}

/** "Changeling: Export history dataset": the same JSONL as `changeling mine`, into a file the user picks. */
export function registerExportHistory(log: vscode.LogOutputChannel): vscode.Disposable {
  return vscode.commands.registerCommand('changeling.exportHistory', async (args?: ExportHistoryArgs): Promise<MineSummary | undefined> => {
    try {
      const repo = await pickRepository(args?.repo);
      if (!repo) return undefined;
      const name = repositoryName(repo);
      let out = args?.out;
      if (!out) {
        const uri = await vscode.window.showSaveDialog({
          title: 'Changeling: export history dataset',
          saveLabel: 'Export',
          defaultUri: vscode.Uri.file(join(dirname(repo.root), `${name}-history.jsonl`)),
          filters: { 'JSON Lines': ['jsonl'], 'All files': ['*'] },
        });
        if (!uri) return undefined;
        out = uri.fsPath;
      }
      const maxDiffBytes = settings().maxDiffBytes;
      log.info(`export history: ${repo.root} -> ${out}${repo.shallow ? ' (shallow clone)' : ''}`);
      const summary = await withCancellableProgress(`exporting the history of ${name}`, (progress) =>
        mineToFile(repo, out!, {
          maxDiffBytes,
          signal: progress.signal,
          onProgress: (p) => progress.report(`${p.commits} of ${p.total} commits`, p.total > 0 ? (100 * p.commits) / p.total : 0),
        }),
      );
      log.info(`export history: ${summary.commits} commits, ${summary.bytes} bytes in ${summary.seconds.toFixed(1)} s`);
      const text =
        `Changeling: exported ${plural(summary.commits, 'commit')} (${plural(summary.merges, 'merge')}${summary.truncated ? `, ${summary.truncated} truncated` : ''}) to ${out}` +
        (repo.shallow ? ' (shallow clone: older history is missing)' : '');
      void vscode.window.showInformationMessage(text, 'Open', 'Reveal').then((choice) => {
        if (choice === 'Open') void vscode.commands.executeCommand('vscode.open', vscode.Uri.file(out!));
        if (choice === 'Reveal') void vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(out!));
      });
      return summary;
    } catch (err) {
      const ordinary = reportFailure(err, log, 'export history', { cancelled: 'export cancelled; nothing was written.' });
      if (!ordinary && args?.out) throw err; // programmatic callers (tests, other extensions) see the failure
      return undefined;
    }
  });
}
