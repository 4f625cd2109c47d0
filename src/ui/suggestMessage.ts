import * as vscode from 'vscode';
import { withCancellableProgress } from './command.js';
import { existsSync } from 'node:fs';
import { openRepository } from '../git/repository.js';
import { cachedModel } from '../models/hub.js';
import { defaultModelCache } from '../models/manifest.js';
import { resolveProvider } from '../runtime/providers.js';
import { MessageModel } from '../tasks/cmg/generate.js';
import type { Precision } from '../runtime/precision.js';
import { adoptedMessageModel } from '../tasks/cmg/adopted.js';
import { suggestMessages, type Suggestion } from '../tasks/cmg/suggest.js';
import { ChangelingError } from '../util/errors.js';
import { chooseRepository } from './repositories.js';
import { reportFailure } from './command.js';
import { settings } from './settings.js';

/**
 * "Changeling: Suggest commit message" (✨ in the Source Control title bar, and in the message box where
 * VS Code allows it). An empty box gets the best candidate; pressing again while the box still holds what
 * Changeling put there gives the next candidate ("regenerate"). A box with the user's own text is never
 * overwritten: the candidates open in a QuickPick, and a candidate picked there becomes the subject line
 * with the user's text kept below it. Progress shows in the Source Control view and in a cancellable
 * notification.
 */
interface Session {
  candidates: Suggestion[];
  next: number;
  /** The text Changeling last put into the box (so a second press is a regenerate, not the user's text). */
  filled: string;
}

const sessions = new Map<string, Session>();
const models = new Map<string, Promise<MessageModel>>();

/** The configured message model: a folder, or a hub id already downloaded into the extension's storage. */
async function messageModel(root: string, storage: vscode.Uri, log: vscode.LogOutputChannel): Promise<MessageModel | null> {
  const s = settings();
  if (!s.messageModel) {
    // The model this repository adopted with "Fine-tune on this repository", if any (and trusted).
    const adopted = vscode.workspace.isTrusted ? await adoptedMessageModel(await openRepository(root)) : null;
    if (!adopted) return null;
    return cachedMessageModel(adopted.model, adopted.adapter ?? '', s.provider, s.precision, log);
  }
  let dir = s.messageModel;
  if (!existsSync(dir)) {
    const cached = (await cachedModel(storage.fsPath, dir)) ?? (await cachedModel(defaultModelCache(), dir));
    if (!cached)
      throw new ChangelingError(
        'not-found',
        `the model "${s.messageModel}" is not downloaded; choose it again with "Changeling: Choose models" to download it`,
      );
    dir = cached;
  }
  return cachedMessageModel(dir, s.messageAdapter, s.provider, s.precision, log);
}

function cachedMessageModel(
  dir: string,
  adapter: string,
  providerSetting: string,
  precision: Precision,
  log: vscode.LogOutputChannel,
): Promise<MessageModel> {
  const key = `${dir}\u0000${adapter}\u0000${providerSetting}\u0000${precision}`;
  let m = models.get(key);
  if (!m) {
    m = (async () => {
      const provider = await resolveProvider(providerSetting, (l) => log.info(l));
      const m = await MessageModel.create(dir, { adapter: adapter || undefined, provider, precision });
      log.info(`message model: ${dir}${adapter ? ` + adapter ${adapter}` : ''} on ${provider}, ${m.precision}`);
      return m;
    })();
    models.set(key, m);
    m.catch(() => models.delete(key));
  }
  return m;
}

async function generate(root: string, storage: vscode.Uri, log: vscode.LogOutputChannel, typed = ''): Promise<Suggestion[] | undefined> {
  const s = settings();
  return withCancellableProgress(
    'suggesting a commit message',
    async (progress) => {
      const repo = await openRepository(root);
      const model = await messageModel(root, storage, log);
      const r = await suggestMessages(
        repo,
        { kind: 'staged' },
        {
          model,
          n: s.count * 3,
          style: s.style,
          subjectLimit: s.subjectLimit,
          history: s.history,
          filter: s.filter,
          signal: progress.signal,
          typed,
          onProgress: (text) => progress.report(text),
        },
      );
      if (r.inputNote) {
        log.info(`suggest: ${r.inputNote}`);
        void vscode.window.showInformationMessage(`Changeling: ${r.inputNote}. The suggestions are based on the rest.`);
      }
      log.info(`suggest: ${r.candidates.length} candidates (${model ? model.label : 'NNGen only'}; NNGen over ${r.indexed} commits)`);
      return r.candidates;
    },
    { sourceControl: true },
  );
}

export function registerSuggestMessage(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): vscode.Disposable {
  return vscode.commands.registerCommand('changeling.suggestMessage', async (arg?: unknown): Promise<string | undefined> => {
    try {
      const target = await chooseRepository(arg, { explain: true });
      if (!target) return undefined;
      const git = target.scm;
      if (!git) {
        void vscode.window.showErrorMessage(
          `Changeling: ${target.root} is not open in VS Code's Source Control view, so there is no message box to fill.`,
        );
        return undefined;
      }
      const root = git.rootUri.fsPath;
      const typed = git.inputBox.value;
      const session = sessions.get(root);
      const ours = session !== undefined && typed === session.filled;
      if (!typed.trim() || ours) {
        // An empty box, or our own suggestion still there: the next candidate.
        let s = ours && session!.next < session!.candidates.length ? session! : undefined;
        if (!s) {
          const candidates = await generate(root, context.globalStorageUri, log);
          if (!candidates) return undefined;
          if (candidates.length === 0) {
            void vscode.window.showInformationMessage(
              'Changeling: no suggestion: this repository has no similar change yet, and no model is chosen ("Changeling: Choose models").',
            );
            return undefined;
          }
          s = { candidates, next: 0, filled: '' };
          sessions.set(root, s);
        }
        const c = s.candidates[s.next++]!;
        if (s.next >= s.candidates.length) sessions.delete(root); // the next press generates afresh
        git.inputBox.value = c.message;
        s.filled = c.message;
        return c.message;
      }
      // The user's own text: never replaced without a pick. A one-line start is completed (every candidate
      // begins with it as typed); otherwise, or when nothing completes it, the picked message becomes the
      // subject and the typed text stays below it.
      const completions = typed.includes('\n') ? [] : await generate(root, context.globalStorageUri, log, typed);
      if (completions === undefined) return undefined;
      const completing = completions.length > 0;
      const candidates = completing ? completions : await generate(root, context.globalStorageUri, log);
      if (!candidates?.length) return undefined;
      const chosen = await pick(candidates, typed, completing);
      if (chosen === undefined) return undefined;
      if (git.inputBox.value !== typed) {
        void vscode.window.showInformationMessage('Changeling: the message box changed while you chose; it was left as it is.');
        return undefined;
      }
      git.inputBox.value = completing ? chosen : `${chosen}\n\n${typed.trim()}`;
      sessions.delete(root);
      return git.inputBox.value;
    } catch (err) {
      reportFailure(err, log, 'suggest', {
        expected: { 'nothing-staged': 'nothing is staged yet: stage the changes the message is for, then ask again.' },
      });
      return undefined;
    }
  });
}

/** The candidates, a page at a time ("Regenerate" shows the next page); resolves the chosen message or undefined. */
function pick(candidates: Suggestion[], typed: string, completing: boolean): Promise<string | undefined> {
  return new Promise((resolve) => {
    const qp = vscode.window.createQuickPick<vscode.QuickPickItem & { message: string }>();
    const regenerate: vscode.QuickInputButton = { iconPath: new vscode.ThemeIcon('refresh'), tooltip: 'Regenerate: the next candidates' };
    const page = settings().count;
    let offset = 0;
    const show = () => {
      const slice = candidates.slice(offset, offset + page);
      qp.items = slice.map((c) => ({ label: c.message.split('\n')[0]!, description: c.source, detail: c.detail, message: c.message }));
    };
    qp.title = completing ? 'Changeling: complete your commit message' : 'Changeling: commit message suggestions';
    qp.placeholder = completing
      ? `Completions of "${typed.trim().slice(0, 40)}": each keeps what you typed. Esc keeps the box as it is.`
      : `Your message stays: the one you pick becomes the subject, "${typed.trim().split('\n')[0]!.slice(0, 40)}" goes below it. Esc keeps the box as it is.`;
    qp.buttons = candidates.length > page ? [regenerate] : [];
    qp.matchOnDetail = true;
    show();
    qp.onDidTriggerButton(() => {
      offset = offset + page < candidates.length ? offset + page : 0;
      show();
    });
    let done = false;
    qp.onDidAccept(() => {
      done = true;
      resolve(qp.selectedItems[0]?.message);
      qp.hide();
    });
    qp.onDidHide(() => {
      if (!done) resolve(undefined);
      qp.dispose();
    });
    qp.show();
  });
}
