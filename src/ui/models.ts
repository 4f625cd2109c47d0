import * as vscode from 'vscode';
import { reportFailure, withCancellableProgress } from './command.js';
import { settings } from './settings.js';
import { codeLlms, describeKnownModel, messageModels, modelSpec, recommendedMessageModel, KNOWN_MODELS } from '../models/manifest.js';
import { cpus } from 'node:os';
import { downloadModel } from '../models/hub.js';
import { resolveProvider } from '../runtime/providers.js';
import { modelProblem, type ModelUse } from '../tasks/modelCheck.js';

/**
 * "Changeling: Choose models": per use, the built-in choice (similar past commits / the embedded default /
 * none), a known model from the hub (downloaded with progress and cancellation into the extension's global
 * storage; the only network use, and only when chosen), or a local folder or file, checked when it is picked
 * (`modelProblem`: config, weights, tokenizer, an architecture that fits). The choice is the user's setting,
 * for every repository, unless they pick "this repository only" (the folder's .vscode/settings.json: the one
 * way Changeling writes into a repository, and only when asked). Choosing none removes the key. Uses: commit
 * messages, risk, the encoder risk fine-tuning starts from, and where models run. `arg.use` opens one list directly.
 */
type Use = 'cmg' | 'jitdp' | 'encoder' | 'provider';

export function registerSelectModel(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): vscode.Disposable {
  return vscode.commands.registerCommand('changeling.selectModel', async (arg?: { use?: Use }): Promise<string | undefined> => {
    const cfg = vscode.workspace.getConfiguration('changeling');
    const current = settings();
    const providerSetting = current.provider;
    const inUse = await resolveProvider(providerSetting).catch((e: Error) => `unavailable (${e.message})`);
    const use =
      arg?.use ??
      (
        await vscode.window.showQuickPick(
          [
            { label: 'Commit messages', use: 'cmg' as const, description: current.messageModel || 'none: similar past commits only' },
            {
              label: 'Risk',
              use: 'jitdp' as const,
              description: current.riskModel || "this repository's own model, else the built-in one",
            },
            {
              label: 'Risk fine-tuning',
              use: 'encoder' as const,
              description: current.finetuneRiskEncoder || 'the encoder to fine-tune: none chosen',
            },
            { label: 'Where models run', use: 'provider' as const, description: `${providerSetting}: on ${inUse}` },
          ],
          { title: `Changeling: choose a model for… (models run on ${inUse})` },
        )
      )?.use;
    if (!use) return undefined;
    if (use === 'provider') {
      const names = ['auto', 'cpu', 'webgpu', 'cuda', 'dml', 'coreml'];
      const p = await vscode.window.showQuickPick(
        names.map((n) => ({ label: n, description: n === providerSetting ? 'current' : undefined })),
        { title: 'Changeling: where models run' },
      );
      if (!p) return undefined;
      const resolved = await resolveProvider(p.label).catch((e: Error) => {
        void vscode.window.showWarningMessage(`Changeling: ${e.message}`);
        return null;
      });
      if (!resolved) return undefined;
      await cfg.update('provider', p.label, vscode.ConfigurationTarget.Global);
      log.info(`execution provider: ${p.label} -> ${resolved}`);
      void vscode.window.showInformationMessage(`Changeling: models run on ${resolved}.`);
      return resolved;
    }
    const key = use === 'cmg' ? 'messages.model' : use === 'jitdp' ? 'risk.model' : 'finetune.riskEncoder';
    const checkAs: ModelUse = use === 'cmg' ? 'messages' : use === 'jitdp' ? 'risk' : 'risk-encoder';
    const offered = use === 'cmg' ? await offeredMessageModel(log) : '';
    type Item = vscode.QuickPickItem & { value?: string; id?: string; local?: boolean };
    const hub = (m: (typeof KNOWN_MODELS)[number], detail: string): Item => ({
      label: m.id === offered ? `$(star-full) ${m.id}` : m.id,
      description: `${describeKnownModel(m)}; a download`,
      detail,
      id: m.id,
    });
    const items: Item[] =
      use === 'cmg'
        ? [
            { label: 'None', description: 'the messages of similar past commits, listed as what they are', value: '' },
            // The model offered for this machine first, then those trained for messages, then base checkpoints.
            ...[...codeLlms(), ...messageModels()]
              .sort((a, b) => Number(b.id === offered) - Number(a.id === offered))
              .map((m) =>
                hub(
                  m,
                  m.architecture === 'llama'
                    ? 'writes a subject and a body from your whole change; slow on a CPU today (about a minute for a large change on 2 cores)'
                    : m.trainedFor
                      ? `${m.plain} A subject line in about a second.`
                      : m.plain,
                ),
              ),
          ]
        : use === 'jitdp'
          ? [{ label: 'Automatic', description: "this repository's own model (from risk training), else the built-in one", value: '' }]
          : [
              { label: 'None', description: 'no encoder: risk fine-tuning cannot run', value: '' },
              ...KNOWN_MODELS.filter((m) => m.architecture === 'roberta' && m.tasks.includes('jitdp')).map((m) => hub(m, m.plain)),
            ];
    // A folder of the user's own, second: visible without scrolling, whatever the catalogue holds.
    items.splice(1, 0, {
      label: use === 'jitdp' ? 'Local folder or file…' : 'Local folder…',
      description: 'a model of your own, checked when you pick it',
      local: true,
    });
    const title =
      use === 'cmg'
        ? 'Changeling: the commit-message model'
        : use === 'jitdp'
          ? 'Changeling: the risk model'
          : 'Changeling: the encoder for risk fine-tuning';
    const choice = await vscode.window.showQuickPick(items, { title });
    if (!choice) return undefined;
    let value = choice.value ?? '';
    if (choice.local) {
      const uri = await vscode.window.showOpenDialog({
        canSelectFolders: true,
        canSelectFiles: use === 'jitdp',
        title: use === 'jitdp' ? 'Changeling: a risk model file or folder' : 'Changeling: a model folder (config.json, weights, tokenizer)',
      });
      if (!uri?.[0]) return undefined;
      const problem = await modelProblem(uri[0].fsPath, checkAs);
      if (problem) {
        log.warn(`not used: ${problem}`);
        void vscode.window.showWarningMessage(`Changeling: not used: ${problem}.`);
        return undefined;
      }
      value = uri[0].fsPath;
    } else if (choice.id) {
      if (!(await downloadKnownModel(context, log, choice.id))) return undefined;
      value = choice.id;
    }
    if (!(await useModel(key, value, log))) return undefined;
    return value;
  });
}

/**
 * Saves a model choice: the user's setting unless they pick "this repository only" (asked when a folder is
 * open); an empty choice removes the key (from the user's settings, and from the folder's when it is there).
 * False when the question was dismissed.
 */
async function useModel(key: string, value: string, log: vscode.LogOutputChannel): Promise<boolean> {
  const cfg = vscode.workspace.getConfiguration('changeling');
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!value) {
    await cfg.update(key, undefined, vscode.ConfigurationTarget.Global);
    if (folder && cfg.inspect(key)?.workspaceFolderValue !== undefined)
      await vscode.workspace.getConfiguration('changeling', folder.uri).update(key, undefined, vscode.ConfigurationTarget.WorkspaceFolder);
    log.info(`${key}: cleared`);
    return true;
  }
  let only = false;
  if (folder) {
    const where = await vscode.window.showQuickPick(
      [
        { label: 'For all my repositories', description: 'your settings', only: false },
        { label: 'For this repository only', description: `in ${folder.name}/.vscode/settings.json`, only: true },
      ],
      { title: 'Changeling: use it where?' },
    );
    if (!where) return false;
    only = where.only;
  }
  if (only)
    await vscode.workspace.getConfiguration('changeling', folder!.uri).update(key, value, vscode.ConfigurationTarget.WorkspaceFolder);
  else await cfg.update(key, value, vscode.ConfigurationTarget.Global);
  log.info(`${key} = ${value} (${only ? 'this repository' : 'all repositories'})`);
  return true;
}

/**
 * Downloads a catalogue model into the extension's storage with progress and Cancel (what was downloaded is
 * kept for a resume). True when it is complete; a failure or a cancel is reported and gives false.
 */
export async function downloadKnownModel(context: vscode.ExtensionContext, log: vscode.LogOutputChannel, id: string): Promise<boolean> {
  try {
    const r = await withCancellableProgress(`downloading ${id}`, (progress) =>
      downloadModel(modelSpec(id), {
        cacheDir: context.globalStorageUri.fsPath,
        signal: progress.signal,
        onEvent: (e) => {
          if (e.kind === 'resume') progress.report(`resuming: ${(e.have / 2 ** 20).toFixed(0)} MiB already downloaded`);
          if (e.kind === 'progress' && e.overallTotal)
            progress.report(
              `${e.file}: ${(e.overall / 2 ** 20).toFixed(0)} of ${(e.overallTotal / 2 ** 20).toFixed(0)} MiB`,
              (100 * e.overall) / e.overallTotal,
            );
        },
      }),
    );
    log.info(`downloaded ${id} to ${r.dir} (${r.commit})`);
    return true;
  } catch (err) {
    reportFailure(err, log, `download ${id}`, {
      cancelled:
        'download cancelled; what was downloaded is kept and the next download resumes it. Nothing is in use until it is complete.',
    });
    return false;
  }
}

let offered: Promise<string> | null = null;

/**
 * The message model offered for download on this machine (`recommendedMessageModel`): the code LLM where a
 * GPU runs the models or there are 8 cores or more, else the CodeT5 model. Worked out once.
 */
export function offeredMessageModel(log?: vscode.LogOutputChannel): Promise<string> {
  offered ??= resolveProvider(settings().provider)
    .then((p) => p !== 'cpu')
    .catch(() => false)
    .then((gpu) => {
      const id = recommendedMessageModel({ cores: cpus().length, gpu });
      log?.info(`message model offered: ${id} (${cpus().length} cores, ${gpu ? 'a GPU' : 'no GPU'})`);
      return id;
    });
  return offered;
}

/** How the offered message model is described: what it writes, its size and licence, and that it runs here. */
export async function messageModelOffer(): Promise<string> {
  const id = await offeredMessageModel();
  const m = KNOWN_MODELS.find((k) => k.id === id)!;
  const what = m.architecture === 'llama' ? 'a subject and a body from your whole change' : 'a subject line, in about a second';
  return `${m.id}: ${what} (about ${m.sizeMB} MB, ${m.license}; it runs on this machine, nothing is sent anywhere)`;
}

/** "Changeling: Download the commit-message model": the offered message model, downloaded and put in use. */
export function registerDownloadMessageModel(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): vscode.Disposable {
  return vscode.commands.registerCommand('changeling.downloadMessageModel', async (): Promise<boolean> => {
    const id = await offeredMessageModel(log);
    if (!(await downloadKnownModel(context, log, id))) return false;
    // The offer is for this user (their settings): nothing is written into the repository.
    await vscode.workspace.getConfiguration('changeling').update('messages.model', id, vscode.ConfigurationTarget.Global);
    log.info(`messages.model = ${id}`);
    void vscode.window.showInformationMessage(`Changeling: ${id} is downloaded and writes your messages from now on (✨).`);
    return true;
  });
}
