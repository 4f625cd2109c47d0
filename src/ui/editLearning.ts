import * as vscode from 'vscode';
import { openRepository, repoDataDir } from '../git/repository.js';
import { clearEdits, editPairs, hasPendingSuggestion, noteSuggestion, recordCommit } from '../tasks/cmg/editPairs.js';
import { chooseRepository, gitApi, type GitRepositoryApi } from './repositories.js';

/**
 * Learning from the user's edits in VS Code (`tasks/cmg/editPairs.ts` keeps the pairs): a message ✨ put in the
 * box is noted; when the repository's HEAD moves to a new commit on top of it (the git extension's state), the
 * note is paired with the committed message. After OFFER_EVERY new pairs since the last offer, "Tune on my recent
 * commits" is offered (the fine-tuning command, which learns from them). The setting
 * `changeling.messages.learnFromEdits` turns it off; "Changeling: Forget my message edits" clears them.
 */
const OFFER_EVERY = 20;
const OFFERED_AT = 'changeling.editsOfferedAt';

const learning = () => vscode.workspace.getConfiguration('changeling').get<boolean>('messages.learnFromEdits') ?? true;

/** Notes a message ✨ just put in the box of the repository at `root` (never fails ✨: a problem goes to the log). */
export async function noteFilled(root: string, message: string, writer: string, log: vscode.LogOutputChannel): Promise<void> {
  try {
    await noteSuggestion(await openRepository(root), { suggested: message, via: 'vscode', writer, setting: learning() });
  } catch (err) {
    log.warn(`could not note the suggestion for learning from edits: ${(err as Error).message}`);
  }
}

export function registerEditLearning(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): vscode.Disposable {
  const subscriptions: vscode.Disposable[] = [];
  const heads = new Map<string, string | undefined>();
  const check = async (r: GitRepositoryApi) => {
    const root = r.rootUri.fsPath;
    const head = r.state.HEAD?.commit;
    const before = heads.get(root);
    heads.set(root, head);
    if (!head || head === before) return;
    const repo = await openRepository(root);
    if (!(await hasPendingSuggestion(repo))) return;
    const pair = await recordCommit(repo, { setting: learning() });
    if (!pair) return;
    log.info(
      `learning from edits: ${pair.sha.slice(0, 10)} paired with the suggestion ${pair.suggested === pair.committed ? '(kept as it was)' : '(edited)'}`,
    );
    const n = (await editPairs(await repoDataDir(repo))).length;
    const offered = context.workspaceState.get<Record<string, number>>(OFFERED_AT) ?? {};
    if (n - (offered[root] ?? 0) < OFFER_EVERY) return;
    await context.workspaceState.update(OFFERED_AT, { ...offered, [root]: n });
    const a = await vscode.window.showInformationMessage(
      `Changeling: ${n} of your commits started from a suggested message. Tune the message model on your recent commits and your edits (in the background)?`,
      'Tune on my recent commits',
      'Not now',
    );
    if (a === 'Tune on my recent commits')
      void vscode.commands.executeCommand('changeling.finetune', { repo: root, task: 'cmg', method: 'lora' });
  };
  const watch = (r: GitRepositoryApi) => {
    heads.set(r.rootUri.fsPath, r.state.HEAD?.commit);
    subscriptions.push(
      r.state.onDidChange(() => void check(r).catch((err: unknown) => log.warn(`learning from edits: ${(err as Error).message}`))),
    );
  };
  void gitApi()
    .then((api) => {
      if (!api) return;
      api.repositories.forEach(watch);
      subscriptions.push(api.onDidOpenRepository(watch));
    })
    .catch(() => undefined);
  subscriptions.push(
    vscode.commands.registerCommand('changeling.clearEdits', async (arg?: unknown) => {
      const chosen = await chooseRepository(arg, { explain: true });
      if (!chosen) return undefined;
      const n = await clearEdits(await openRepository(chosen.root));
      void vscode.window.showInformationMessage(`Changeling: forgot ${n} recorded edit${n === 1 ? '' : 's'} of suggested messages.`);
      return n;
    }),
  );
  return { dispose: () => subscriptions.forEach((s) => s.dispose()) };
}
