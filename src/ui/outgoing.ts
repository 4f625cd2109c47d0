import * as vscode from 'vscode';
import { assessRisk, type RiskResult, type RiskTarget } from '../tasks/jitdp/risk.js';
import { pickRepository } from './repositories.js';
import { reportFailure, withCancellableProgress } from './command.js';
import type { RiskController } from './risk.js';

/** "Changeling: Check outgoing commits for risk": the commits not yet in the upstream, scored and shown in the risk report. */
export function registerCheckOutgoing(risk: RiskController, log: vscode.LogOutputChannel): vscode.Disposable {
  return vscode.commands.registerCommand('changeling.checkOutgoing', (arg?: unknown) => checkOutgoing(risk, log, arg));
}

async function checkOutgoing(risk: RiskController, log: vscode.LogOutputChannel, arg?: unknown): Promise<RiskResult[] | undefined> {
  const repo = await pickRepository(arg);
  if (!repo) return undefined;
  const upstream = (await repo.git.raw(['rev-parse', '--abbrev-ref', '--symbolic-full-name', '@{u}']).catch(() => '')).trim();
  const target: RiskTarget = { kind: 'range', range: upstream ? `${upstream}..HEAD` : 'HEAD --not --remotes' };
  try {
    const results = await withCancellableProgress('scoring outgoing commits', async (p) =>
      assessRisk(repo, target, await risk.model(repo.root), { signal: p.signal }),
    );
    if (results.length === 0) {
      void vscode.window.showInformationMessage(`Changeling: no outgoing commits${upstream ? ` (ahead of ${upstream}: none)` : ''}.`);
      return results;
    }
    risk.openPanel(
      results,
      await risk.model(repo.root),
      `${results.length} outgoing commit${results.length === 1 ? '' : 's'}${upstream ? ` (not in ${upstream})` : ''}`,
    );
    return results;
  } catch (err) {
    reportFailure(err, log, 'outgoing commits');
    return undefined;
  }
}
