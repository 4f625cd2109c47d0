import * as vscode from 'vscode';
import { withCancellableProgress } from './command.js';
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { openRepository } from '../git/repository.js';
import { cachedModel } from '../models/hub.js';
import { defaultModelCache } from '../models/manifest.js';
import { resolveProvider } from '../runtime/providers.js';
import { MessageModel } from '../tasks/cmg/generate.js';
import { isChatLlmFolder } from '../tasks/cmg/llmInput.js';
import { noteFilled } from './editLearning.js';
import { LlmMessageWriter, type ChatWriter } from '../tasks/cmg/llmWriter.js';
import { ServerMessageWriter } from '../tasks/cmg/serverWriter.js';
import type { Precision } from '../runtime/precision.js';
import { adoptedMessageModel } from '../tasks/cmg/adopted.js';
import { suggestMessages, type Suggestion } from '../tasks/cmg/suggest.js';
import { ChangelingError } from '../util/errors.js';
import { notice } from '../util/notices.js';
import { chooseRepository } from './repositories.js';
import { reportFailure } from './command.js';
import { messageModelOffer } from './models.js';
import { settings } from './settings.js';

/**
 * "Changeling: Suggest commit message" (✨ in the Source Control title bar, and in the message box where
 * VS Code allows it). With a message model, an empty box gets the best candidate; pressing again while the
 * box still holds what Changeling put there gives the next candidate ("regenerate"). Without one, the only
 * candidates are the messages of similar earlier commits (NNGen): those are never written into the box by
 * themselves; they open in a list titled as what they are, each with its commit and date, under an offer to
 * download the commit-message model (also made once as a prompt). A box with the user's own text is never
 * overwritten unasked, and the text is never moved: a one-line start is completed (every candidate keeps it
 * as typed); otherwise the candidates open in a QuickPick, and a pick replaces the text only once the user
 * confirms it. With nothing staged, the suggestions describe every change to tracked
 * files (what VS Code commits then), and say so. Progress shows in the Source Control view and in a
 * cancellable notification. A code LLM (a model folder, or a server the user runs on this machine) writes for
 * a while: its first candidate shows in a QuickPick as it is written (Esc stops it), which then lists every
 * candidate to pick from.
 */
interface Session {
  candidates: Suggestion[];
  next: number;
  /** The text Changeling last put into the box (so a second press is a regenerate, not the user's text). */
  filled: string;
}

const sessions = new Map<string, Session>();
const models = new Map<string, Promise<MessageModel>>();

/**
 * The configured message model: a local server when one is set, else a folder, or a hub id already
 * downloaded into the extension's storage; a code LLM folder (a chat template, no changeling.json) comes back
 * as an LLM writer.
 */
async function messageModel(root: string, storage: vscode.Uri, log: vscode.LogOutputChannel): Promise<MessageModel | ChatWriter | null> {
  const s = settings();
  if (s.messageServer) {
    const w = new ServerMessageWriter({ url: s.messageServer, model: s.messageServerModel });
    log.info(`message model: ${w.name} (a server on this machine)`);
    return w;
  }
  if (!s.messageModel) {
    // The model this repository adopted with "Fine-tune on this repository", if any (and trusted).
    const adopted = vscode.workspace.isTrusted ? await adoptedMessageModel(await openRepository(root)) : null;
    if (!adopted) return null;
    if (await isChatLlmFolder(adopted.model)) return cachedLlm(adopted.model, adopted.adapter ?? '', s.provider, s.precision, log);
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
  if (await isChatLlmFolder(dir)) return cachedLlm(dir, s.messageAdapter, s.provider, s.precision, log);
  return cachedMessageModel(dir, s.messageAdapter, s.provider, s.precision, log);
}

/** One load per folder, adapter, provider and precision, kept for the next ✨ (a failed load is forgotten). */
function once<T>(cache: Map<string, Promise<T>>, key: string, load: () => Promise<T>): Promise<T> {
  let m = cache.get(key);
  if (!m) {
    m = load();
    cache.set(key, m);
    m.catch(() => cache.delete(key));
  }
  return m;
}

const llms = new Map<string, Promise<LlmMessageWriter>>();

function cachedLlm(
  dir: string,
  adapter: string,
  providerSetting: string,
  precision: Precision,
  log: vscode.LogOutputChannel,
): Promise<LlmMessageWriter> {
  return once(llms, `${dir}\u0000${adapter}\u0000${providerSetting}\u0000${precision}`, async () => {
    const provider = await resolveProvider(providerSetting, (l) => log.info(l));
    const w = await LlmMessageWriter.create(dir, { provider, precision, adapter: adapter || undefined });
    log.info(`message model: code LLM ${w.name} on ${provider}`);
    return w;
  });
}

function cachedMessageModel(
  dir: string,
  adapter: string,
  providerSetting: string,
  precision: Precision,
  log: vscode.LogOutputChannel,
): Promise<MessageModel> {
  return once(models, `${dir}\u0000${adapter}\u0000${providerSetting}\u0000${precision}`, async () => {
    const provider = await resolveProvider(providerSetting, (l) => log.info(l));
    const m = await MessageModel.create(dir, { adapter: adapter || undefined, provider, precision });
    log.info(`message model: ${dir}${adapter ? ` + adapter ${adapter}` : ''} on ${provider}, ${m.precision}`);
    return m;
  });
}

/**
 * The first candidate of a code LLM as it is written, in a QuickPick shown at its first token; Esc there stops
 * the writing. The pick of all candidates then takes the same QuickPick over (`take`).
 */
class LivePick {
  private qp: vscode.QuickPick<vscode.QuickPickItem & { message: string }> | undefined;
  private readonly ac = new AbortController();
  private handed = false;
  readonly signal = this.ac.signal;
  /** What writes: the model folder's name, or the server and its model. */
  writer = 'the code LLM';

  update(message: string): void {
    if (this.handed || this.signal.aborted) return;
    if (!this.qp) {
      this.qp = vscode.window.createQuickPick();
      this.qp.title = `Changeling: writing a commit message with ${this.writer}`;
      this.qp.placeholder = 'The first candidate, as it is written; the others follow. Esc stops.';
      this.qp.busy = true;
      this.qp.onDidHide(() => {
        if (!this.handed) this.ac.abort();
      });
      this.qp.show();
    }
    const [subject, ...body] = message.split('\n');
    this.qp.items = [{ label: subject || '…', detail: body.join(' ').trim() || undefined, message, alwaysShow: true }];
  }

  /** The QuickPick, for the list of candidates (undefined when no candidate was streamed). */
  take(): vscode.QuickPick<vscode.QuickPickItem & { message: string }> | undefined {
    this.handed = true;
    if (this.qp) this.qp.busy = false;
    return this.qp;
  }

  dispose(): void {
    this.handed = true;
    this.qp?.dispose();
    this.qp = undefined;
  }
}

/** The candidates for the staged change (all changes to tracked files when nothing is staged), and whether a model wrote any. */
async function generate(
  root: string,
  storage: vscode.Uri,
  log: vscode.LogOutputChannel,
  typed = '',
  live?: LivePick,
): Promise<{ candidates: Suggestion[]; model: boolean } | undefined> {
  const s = settings();
  return withCancellableProgress(
    'suggesting a commit message',
    async (progress) => {
      const repo = await openRepository(root);
      // A model that cannot be used never leaves the user empty-handed: the similar past commits, and why, once.
      let chosen = await messageModel(root, storage, log).catch(fallBack);
      const optionsFor = (c: typeof chosen) => {
        const llm = c && !(c instanceof MessageModel) ? c : null;
        if (live && llm) live.writer = llm instanceof LlmMessageWriter ? basename(llm.name) : llm.name;
        return {
          model: llm ? null : (c as MessageModel | null),
          llm,
          n: llm ? Math.min(s.count, 3) : s.count * 3,
          body: s.body,
          style: s.style,
          subjectLimit: s.subjectLimit,
          history: s.history,
          filter: s.filter,
          signal: live ? AbortSignal.any([progress.signal, live.signal]) : progress.signal,
          typed,
          onProgress: (text: string) => progress.report(text),
          onPartial: live && llm ? (m: string) => live.update(m) : undefined,
        };
      };
      const suggest = async (kind: 'staged' | 'worktree') => {
        try {
          return await suggestMessages(repo, { kind }, optionsFor(chosen));
        } catch (err) {
          if (!chosen) throw err;
          chosen = fallBack(err);
          live?.dispose();
          return suggestMessages(repo, { kind }, optionsFor(null));
        }
      };
      let r;
      try {
        r = await suggest('staged');
      } catch (err) {
        if (!(err instanceof ChangelingError && err.code === 'nothing-staged')) throw err;
        // As VS Code commits every change when nothing is staged, the message describes every change.
        r = await suggest('worktree');
        void vscode.window.showInformationMessage(
          'Changeling: nothing is staged, so the suggestions describe all your changes to tracked files (what VS Code commits when nothing is staged).',
        );
      }
      if (r.inputNote) {
        log.info(`suggest: ${r.inputNote}`);
        void vscode.window.showInformationMessage(`Changeling: ${r.inputNote}. The suggestions are based on the rest.`);
      }
      const label = chosen ? (chosen instanceof MessageModel ? chosen.label : chosen.name) : 'no model';
      log.info(`suggest: ${r.candidates.length} candidates (${label}; similar past commits from ${r.indexed})`);
      return { candidates: r.candidates, model: chosen !== null };
    },
    { sourceControl: true },
  );
}

/**
 * A message model that failed (not downloaded, a broken folder, a server that does not answer): the
 * suggestions fall back to the similar past commits, and the reason is said in one line, once per reason
 * (a notice: the extension logs it and shows it once). A cancel or an empty stage is not a failure: those go
 * on as they are.
 */
function fallBack(err: unknown): null {
  if (err instanceof ChangelingError && (err.code === 'cancelled' || err.code === 'nothing-staged')) throw err;
  notice(`the message model could not be used (${(err as Error)?.message ?? String(err)}); showing similar past commits instead`);
  return null;
}

const OFFERED = 'changeling.messageModelOffered';

/** Once per installation: the offer to download the commit-message model, as a prompt. */
function offerModelOnce(context: vscode.ExtensionContext, offer: string): void {
  if (context.globalState.get<boolean>(OFFERED)) return;
  void context.globalState.update(OFFERED, true);
  void vscode.window
    .showInformationMessage(
      `Changeling: without a model, "Suggest commit message" can only show the messages of similar earlier commits. Download the commit-message model, ${offer}?`,
      'Download',
      'Not now',
    )
    .then((a) => a === 'Download' && vscode.commands.executeCommand('changeling.downloadMessageModel'));
}

export function registerSuggestMessage(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): vscode.Disposable {
  return vscode.commands.registerCommand('changeling.suggestMessage', async (arg?: unknown): Promise<string | undefined> => {
    try {
      const target = await chooseRepository(arg, { explain: true });
      if (!target) return undefined;
      const git = target.scm;
      if (!git) {
        void vscode.window.showInformationMessage(
          `Changeling: ${target.root} is not open in VS Code's Source Control view, so there is no message box to fill.`,
        );
        return undefined;
      }
      const root = git.rootUri.fsPath;
      const typed = git.inputBox.value;
      /** A picked message into the box, unless the box changed while the user chose (then it is left as it is). */
      const fill = (chosen: string): string | undefined => {
        if (git.inputBox.value !== typed) {
          void vscode.window.showInformationMessage('Changeling: the message box changed while you chose; it was left as it is.');
          return undefined;
        }
        git.inputBox.value = chosen;
        sessions.delete(root);
        void noteFilled(root, chosen, 'vscode', log);
        return chosen;
      };
      const session = sessions.get(root);
      const ours = session !== undefined && typed === session.filled;
      if (!typed.trim() || ours) {
        // An empty box, or our own suggestion still there: the next candidate.
        let s = ours && session!.next < session!.candidates.length ? session! : undefined;
        if (!s) {
          const live = new LivePick();
          const r = await generate(root, context.globalStorageUri, log, '', live).catch((err: unknown) => {
            live.dispose();
            throw err;
          });
          const streamed = live.take();
          if (!r) return (live.dispose(), undefined);
          const candidates = r.candidates;
          if (streamed) {
            // A code LLM wrote them: the list it streamed into, to pick from (Esc leaves the box as it was).
            const chosen = await pick(candidates, '', false, null, streamed);
            if (chosen === undefined || chosen === DOWNLOAD) return undefined;
            return fill(chosen);
          }
          if (!r.model) {
            // Another commit's message is never put in the box unasked: a list of what they are, under the offer.
            const offer = await messageModelOffer();
            offerModelOnce(context, offer);
            const chosen = await pick(candidates, '', false, offer);
            if (chosen === DOWNLOAD) return (void vscode.commands.executeCommand('changeling.downloadMessageModel'), undefined);
            if (chosen === undefined) return undefined;
            return fill(chosen);
          }
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
        void noteFilled(root, c.message, c.source, log);
        return c.message;
      }
      // The user's own text: never replaced without a pick. A one-line start is completed (every candidate
      // begins with it as typed); otherwise, or when nothing completes it, the picked message becomes the
      // subject and the typed text stays below it.
      const live = new LivePick();
      const completions = typed.includes('\n')
        ? { candidates: [], model: true }
        : await generate(root, context.globalStorageUri, log, typed, live).catch((err: unknown) => {
            live.dispose();
            throw err;
          });
      if (completions === undefined) return (live.dispose(), undefined);
      const completing = completions.candidates.length > 0;
      const r = completing ? completions : await generate(root, context.globalStorageUri, log);
      if (!r) return (live.dispose(), undefined);
      const offer = r.model ? null : await messageModelOffer();
      if (offer) offerModelOnce(context, offer);
      if (!r.candidates.length && r.model) return (live.dispose(), undefined);
      const chosen = await pick(r.candidates, typed, completing, offer, completing ? live.take() : (live.dispose(), undefined));
      if (chosen === DOWNLOAD) return (void vscode.commands.executeCommand('changeling.downloadMessageModel'), undefined);
      if (chosen === undefined) return undefined;
      // A completion keeps the typed text as typed; anything else would replace it, so that is asked first.
      if (!completing) {
        const ok = await vscode.window.showWarningMessage(
          'Changeling: replace the text you typed with the chosen message?',
          { modal: true, detail: `Your text:\n${typed.trim().slice(0, 400)}\n\nThe chosen message:\n${chosen.slice(0, 400)}` },
          'Replace',
        );
        if (ok !== 'Replace') return undefined;
      }
      return fill(chosen);
    } catch (err) {
      reportFailure(err, log, 'suggest', {
        expected: { 'nothing-staged': 'nothing is staged yet: stage the changes the message is for, then ask again.' },
      });
      return undefined;
    }
  });
}

/** What picking the download offer resolves to. */
const DOWNLOAD = '\u0000download';

/**
 * The candidates, a page at a time ("Regenerate" shows the next page); resolves the chosen message, DOWNLOAD,
 * or undefined. `past`: they are earlier commits' messages (no model), listed as such under the offer to
 * download the commit-message model (`past` describes it). `shown`: the QuickPick a code LLM's first candidate was streamed into
 * (a hide then, before this took it over, stopped the writing instead).
 */
function pick(
  candidates: Suggestion[],
  typed: string,
  completing: boolean,
  past: string | null = null,
  shown?: vscode.QuickPick<vscode.QuickPickItem & { message: string }>,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const qp = shown ?? vscode.window.createQuickPick<vscode.QuickPickItem & { message: string }>();
    const regenerate: vscode.QuickInputButton = { iconPath: new vscode.ThemeIcon('refresh'), tooltip: 'Regenerate: the next candidates' };
    const page = settings().count;
    let offset = 0;
    const offer = {
      label: '$(cloud-download) Download the commit-message model',
      description: 'for messages written for your change',
      detail: past ?? '',
      message: DOWNLOAD,
      alwaysShow: true,
    };
    const show = () => {
      const slice = candidates.slice(offset, offset + page);
      const items = slice.map((c) => {
        const [subject, ...rest] = c.message.split('\n');
        const body = rest.join(' ').replace(/\s+/g, ' ').trim();
        const invents = !!c.unfaithful?.length;
        return {
          label: subject!,
          description: c.commit
            ? `commit ${c.commit.sha.slice(0, 10)}, ${c.commit.date.slice(0, 10)}`
            : invents
              ? '$(warning) names something the change does not have'
              : c.source === 'llm'
                ? body
                  ? 'subject and body'
                  : ''
                : c.source,
          detail: c.commit
            ? `the message of an earlier commit of this repository with a similar change (${c.detail})`
            : invents || !body
              ? c.detail
              : body,
          message: c.message,
        };
      });
      qp.items = past ? [offer, { label: 'similar past commits', kind: vscode.QuickPickItemKind.Separator, message: '' }, ...items] : items;
    };
    const doing = completing ? 'complete your commit message' : 'commit message suggestions';
    qp.title = past
      ? `Changeling: similar past commits${completing ? ' that begin as you typed' : ''} (their messages, not a description of your change)`
      : `Changeling: ${doing}`;
    qp.placeholder = !typed.trim()
      ? 'Pick one to put it in the message box, or download the model. Esc leaves the box empty.'
      : completing
        ? `Completions of "${typed.trim().slice(0, 40)}": each keeps what you typed. Esc keeps the box as it is.`
        : `Your text stays unless you pick one and confirm that it replaces "${typed.trim().split('\n')[0]!.slice(0, 40)}". Esc keeps the box as it is.`;
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
