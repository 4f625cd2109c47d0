import * as vscode from 'vscode';
import { reportFailure, withCancellableProgress } from './command.js';
import { settings } from './settings.js';
import {
  codeLlms,
  describeKnownModel,
  messageModels,
  modelSpec,
  recommendedMessageModel,
  DEFAULT_MESSAGE_MODEL,
  KNOWN_MODELS,
} from '../models/manifest.js';
import { cpus } from 'node:os';
import { downloadModel } from '../models/hub.js';
import { resolveProvider } from '../runtime/providers.js';

/**
 * "Changeling: Choose models": per task, the built-in choice (NNGen / the embedded default), a known model
 * from the hub (downloaded with progress and cancellation into the extension's global storage; the only
 * network use, and only when chosen), or a local folder or file. Saved in the workspace's settings when a
 * folder is open, else in the user's.
 */
export function registerSelectModel(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): vscode.Disposable {
  return vscode.commands.registerCommand('changeling.selectModel', async (): Promise<string | undefined> => {
    const cfg = vscode.workspace.getConfiguration('changeling');
    const current = settings();
    const providerSetting = current.provider;
    const inUse = await resolveProvider(providerSetting).catch((e: Error) => `unavailable (${e.message})`);
    const task = await vscode.window.showQuickPick(
      [
        { label: 'Commit messages', task: 'cmg' as const, description: current.messageModel || 'NNGen only' },
        { label: 'Risk', task: 'jitdp' as const, description: current.riskModel || "this repository's model, else the embedded default" },
        { label: 'Execution provider', task: 'provider' as const, description: `${providerSetting}: models run on ${inUse}` },
      ],
      { title: `Changeling: choose a model for… (models run on ${inUse})` },
    );
    if (!task) return undefined;
    if (task.task === 'provider') {
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
    const key = task.task === 'cmg' ? 'messages.model' : 'risk.model';
    type Item = vscode.QuickPickItem & { value?: string; id?: string; local?: boolean };
    const items: Item[] =
      task.task === 'cmg'
        ? [{ label: 'NNGen only', description: "no model: the most similar changes in this repository's history", value: '' }]
        : [
            {
              label: 'Automatic',
              description: "this repository's own model (changeling risk-train), else the embedded default",
              value: '',
            },
          ];
    if (task.task === 'cmg') {
      // Models trained to write messages first (the default at the top), base checkpoints after them.
      items.push(
        ...messageModels().map((m) => ({
          label: m.id === DEFAULT_MESSAGE_MODEL ? `$(star-full) ${m.id}` : m.id,
          description: `${describeKnownModel(m)}; download from the Hugging Face hub`,
          detail: m.description,
          id: m.id,
        })),
      );
    }
    if (task.task === 'cmg')
      // Code LLMs write a subject and a body from the whole diff; they are slower than the CodeT5 models.
      items.push(
        ...codeLlms().map((m) => ({
          label: m.id,
          description: `${describeKnownModel(m)}; download from the Hugging Face hub`,
          detail:
            'code LLM: a subject and a body from the whole staged diff; slow on a CPU today (about a minute for a large change on 2 cores)',
          id: m.id,
        })),
      );
    items.push({ label: 'Local folder or file…', local: true });
    const choice = await vscode.window.showQuickPick(items, { title: `Changeling: ${task.label.toLowerCase()} model` });
    if (!choice) return undefined;
    let value = choice.value ?? '';
    if (choice.local) {
      const uri = await vscode.window.showOpenDialog({
        canSelectFolders: true,
        canSelectFiles: task.task === 'jitdp',
        title: 'Changeling: a model folder (config.json + weights) or a risk model file',
      });
      if (!uri?.[0]) return undefined;
      value = uri[0].fsPath;
    } else if (choice.id) {
      if (!(await downloadKnownModel(context, log, choice.id))) return undefined;
      value = choice.id;
    }
    await useModel(key, value, log);
    return value;
  });
}

/** Saves a model choice: in the workspace's settings when a folder is open, else in the user's. */
async function useModel(key: string, value: string, log: vscode.LogOutputChannel): Promise<void> {
  const target = vscode.workspace.workspaceFolders?.length ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
  await vscode.workspace.getConfiguration('changeling').update(key, value, target);
  log.info(`${key} = ${value || '(built-in)'}`);
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
    await useModel('messages.model', id, log);
    void vscode.window.showInformationMessage(`Changeling: ${id} is downloaded and writes your messages from now on (✨).`);
    return true;
  });
}
