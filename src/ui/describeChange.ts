import * as vscode from 'vscode';
import { settings } from './settings.js';
import { currentChange } from '../git/currentChange.js';
import { InputFilter } from '../git/inputFilter.js';
import { renderView, viewJson } from '../git/changeReport.js';
import { pickRepository } from './repositories.js';
import { reportFailure } from './command.js';

/** "Changeling: Describe staged change": what `changeling show` prints, in the output channel. */
export function registerDescribeChange(log: vscode.LogOutputChannel): vscode.Disposable {
  return vscode.commands.registerCommand('changeling.describeChange', async (args?: { repo?: string }) => {
    try {
      const repo = await pickRepository(args?.repo);
      if (!repo) return undefined;
      const filter = new InputFilter(settings().filter);
      const view = await currentChange(repo, { filter });
      log.info('\n' + renderView(view));
      log.show(true);
      return viewJson(view);
    } catch (err) {
      reportFailure(err, log, 'describe change');
      return undefined;
    }
  });
}
