import * as vscode from 'vscode';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { openRepository, repoDataDir } from '../git/repository.js';
import { chooseRepository } from './repositories.js';
import { plainVerdict, reportHtml } from '../tasks/finetune/report.js';
import type { FinetuneResult } from '../tasks/finetune/types.js';
import { settings } from './settings.js';
import { runCliChild } from './cliChild.js';
import { withCancellableProgress } from './command.js';
import { cachedModel } from '../models/hub.js';
import { DEFAULT_MESSAGE_MODEL, defaultModelCache } from '../models/manifest.js';
import { TEXT_CAP, readJsonFile } from '../util/jsonFile.js';
import { finetuneArgs, parseFinetuneEvent } from '../tasks/finetune/childProtocol.js';
import { discardRun, pendingCheckpoints } from '../tasks/finetune/runState.js';
import type { FinetuneMethod, FinetuneTask } from '../tasks/finetune/types.js';
import { METHOD_NAMES, METHODS, RISK_METHODS, savesAdapter } from '../peft/methods.js';

/**
 * "Changeling: Fine-tune on this repository": `changeling finetune` in a child process (never on the
 * extension host's thread), with its progress in the status bar and in a notification whose Cancel stops it
 * (SIGINT: the run keeps its checkpoint, and the next run resumes from it, also after VS Code restarts: the
 * extension offers to resume an interrupted run). The thread budget and the execution provider come from
 * the settings. When it finishes, the report opens in a webview. Refused in an untrusted workspace.
 */
interface Choice {
  task: FinetuneTask;
  method: FinetuneMethod;
  quick: boolean;
}

const RUNS = new Map<string, { cancel: () => void }>();

/** The model folder to fine-tune for a task: a folder setting, or a hub id downloaded by "Choose models". */
async function modelFor(task: 'cmg' | 'jitdp', storage: vscode.Uri): Promise<string> {
  const s = settings();
  const v = task === 'cmg' ? s.finetuneMessageModel || s.messageModel : s.finetuneRiskEncoder;
  if (v && existsSync(v)) return v;
  // No setting for messages: the catalogue's default message model, when it is downloaded.
  const id = v || (task === 'cmg' ? DEFAULT_MESSAGE_MODEL : '');
  if (!id) return '';
  return (await cachedModel(storage.fsPath, id)) ?? (await cachedModel(defaultModelCache(), id)) ?? '';
}

export function registerFinetune(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): vscode.Disposable {
  const item = vscode.window.createStatusBarItem('changeling.finetune', vscode.StatusBarAlignment.Left, 49);
  item.name = 'Changeling fine-tuning';
  const cli = join(context.extensionPath, 'dist', 'cli.mjs');

  const openReport = async (dir: string): Promise<FinetuneResult | undefined> => {
    const json = join(dir, 'report.json');
    if (!existsSync(json)) return undefined;
    const result = (await readJsonFile(json, { max: TEXT_CAP })) as FinetuneResult;
    const panel = vscode.window.createWebviewPanel(
      'changeling.finetuneReport',
      'Changeling: fine-tuning report',
      vscode.ViewColumn.Beside,
      { enableScripts: false },
    );
    panel.webview.html = reportHtml(result, panel.webview.cspSource);
    return result;
  };

  const run = async (root: string, choice: Choice): Promise<{ code: number; report: string }> => {
    const model = await modelFor(choice.task, context.globalStorageUri);
    const report = join(await repoDataDir(await openRepository(root)), 'reports', `${choice.task}-${choice.method}`);
    const args = finetuneArgs({
      ...choice,
      model,
      repo: root,
      report,
      threads: settings().finetuneThreads,
      provider: settings().provider,
    });
    log.info(`finetune: ${args.join(' ')}`);
    return withCancellableProgress(
      `fine-tuning ${choice.task === 'cmg' ? 'commit messages' : 'risk'} (${choice.method}${choice.quick ? ', quick' : ''})`,
      (progress) =>
        new Promise((resolve) => {
          const child = runCliChild(cli, args, {
            cwd: root,
            signal: progress.signal,
            onLine: (line) => {
              const e = parseFinetuneEvent(line);
              if (!e) log.info(`finetune: ${line}`);
              else if (e.kind === 'stage') {
                progress.report(`${e.stage}: ${e.message}`);
                item.text = `$(sync~spin) Fine-tuning: ${e.stage}`;
                log.info(`finetune: ${e.stage}: ${e.message}`);
              } else if (e.kind === 'step' && e.steps) {
                const pct = (100 * e.step) / e.steps;
                progress.report(`training: step ${e.step} of ${e.steps}, loss ${e.loss.toFixed(3)}`, pct);
                item.text = `$(sync~spin) Fine-tuning ${Math.round(pct)}%`;
              } else if (e.kind === 'eval') log.info(`finetune: validation ${e.metric.toFixed(3)} at step ${e.step}`);
            },
          });
          RUNS.set(root, { cancel: child.cancel });
          item.text = '$(sync~spin) Fine-tuning';
          item.tooltip = `Changeling is fine-tuning on ${root}`;
          item.show();
          void child.done.then(({ code, stdout }) => {
            if (stdout.trim()) log.info(stdout.trimEnd());
            RUNS.delete(root);
            item.hide();
            resolve({ code, report });
          });
        }),
    );
  };

  const command = vscode.commands.registerCommand(
    'changeling.finetune',
    async (arg?: { repo?: string; task?: 'cmg' | 'jitdp'; method?: Choice['method']; quick?: boolean }) => {
      if (!vscode.workspace.isTrusted) {
        void vscode.window.showWarningMessage('Changeling: fine-tuning runs only in a trusted workspace.');
        return undefined;
      }
      const chosen = await chooseRepository(arg, { explain: true });
      if (!chosen) return undefined;
      const root = chosen.root;
      if (RUNS.has(root)) {
        void vscode.window.showInformationMessage('Changeling: a fine-tuning run is already under way for this repository.');
        return undefined;
      }
      let choice: Choice | undefined = arg?.task ? { task: arg.task, method: arg.method ?? 'lora', quick: arg.quick ?? false } : undefined;
      if (!choice) {
        const picked = await vscode.window.showQuickPick(
          [
            ...METHOD_NAMES.map((method) => ({ label: `Commit messages: ${METHODS[method].label}`, choice: { task: 'cmg', method } })),
            ...RISK_METHODS.map((method) => ({ label: `Risk: ${METHODS[method].label}`, choice: { task: 'jitdp', method } })),
          ] as Array<vscode.QuickPickItem & { choice: Omit<Choice, 'quick'> }>,
          { title: 'Changeling: fine-tune on this repository: what?' },
        );
        if (!picked) return undefined;
        const size = await vscode.window.showQuickPick(
          [
            { label: 'Quick', description: 'a slice of the history and a few steps: minutes', quick: true },
            { label: 'Full', description: "the whole history with the study's settings: can take hours on a CPU", quick: false },
          ],
          { title: 'Changeling: how long?' },
        );
        if (!size) return undefined;
        choice = { ...picked.choice, quick: size.quick };
      }
      if (!(await modelFor(choice.task, context.globalStorageUri))) {
        const go = await vscode.window.showInformationMessage(
          choice.task === 'cmg'
            ? 'Changeling: fine-tuning commit messages starts from a model trained for them (a CodeT5 model, a download of about 900 MB). Choose one first.'
            : 'Changeling: fine-tuning the risk model starts from a code encoder such as CodeBERT (a download of about 500 MB). Choose one first.',
          choice.task === 'cmg' ? 'Choose the message model' : 'Choose the encoder',
        );
        if (go) void vscode.commands.executeCommand('changeling.selectModel', { use: choice.task === 'cmg' ? 'cmg' : 'encoder' });
        return undefined;
      }
      const r = await run(root, choice);
      if (r.code === 0) {
        const result = await openReport(r.report);
        const probe =
          result && savesAdapter(result.method) && result.model && existsSync(join(result.out, 'adapter_config.json'))
            ? 'Probe this adapter'
            : undefined;
        const verdict = !result
          ? 'fine-tuning finished.'
          : result.adopted
            ? `fine-tuning finished: the tuned model is in use from now on (${plainVerdict(result)}).`
            : `fine-tuning finished: not adopted (${plainVerdict(result)}).`;
        void vscode.window.showInformationMessage(`Changeling: ${verdict} The report is open.`, ...(probe ? [probe] : [])).then((go) => {
          if (go && result)
            void vscode.commands.executeCommand('changeling.probeAdapter', { repo: root, model: result.model, adapter: result.out });
        });
      } else if (r.code === 130) await afterCancel(root, choice);
      else void vscode.window.showErrorMessage(`Changeling: fine-tuning failed (exit ${r.code}); see "Changeling: Show log".`);
      return r;
    },
  );

  /** The work folder of a task's runs, in the repository's git folder. */
  const workOf = async (root: string, task: FinetuneTask) => join(await repoDataDir(await openRepository(root)), `finetune-${task}`);

  /** A cancelled run: Resume or Discard when it kept a checkpoint; otherwise it says nothing was kept. */
  const afterCancel = async (root: string, choice: Choice) => {
    const work = await workOf(root, choice.task);
    if (!pendingCheckpoints(work).length) {
      void vscode.window.showInformationMessage('Changeling: fine-tuning cancelled before its first checkpoint; nothing was kept.');
      return;
    }
    const go = await vscode.window.showInformationMessage(
      'Changeling: fine-tuning cancelled; its last checkpoint is kept. Resume it later, or discard it?',
      'Resume',
      'Discard',
    );
    await resumeOrDiscard(go, root, work, choice);
  };

  const resumeOrDiscard = async (go: string | undefined, root: string, work: string, choice: Choice) => {
    if (go === 'Resume') void vscode.commands.executeCommand('changeling.finetune', { repo: root, ...choice });
    else if (go === 'Discard') {
      await discardRun(work);
      log.info(`finetune: the interrupted ${choice.task} run in ${root} was discarded`);
      void vscode.window.showInformationMessage('Changeling: the interrupted run was discarded.');
    }
  };

  // A run interrupted by a restart (or cancelled and kept): offer to resume or discard it, once per start.
  void (async () => {
    for (const f of vscode.workspace.workspaceFolders ?? []) {
      try {
        for (const task of ['cmg', 'jitdp'] as const) {
          const work = await workOf(f.uri.fsPath, task);
          const ckpt = pendingCheckpoints(work)[0];
          if (!ckpt || !vscode.workspace.isTrusted) continue;
          const runInfo = existsSync(join(work, 'run.json'))
            ? ((await readJsonFile(join(work, 'run.json'))) as { method: Choice['method']; quick: boolean })
            : { method: basename(ckpt).split('.')[0] as Choice['method'], quick: false };
          const go = await vscode.window.showInformationMessage(
            `Changeling: a fine-tuning run (${task === 'cmg' ? 'commit messages' : 'risk'}, ${runInfo.method}${runInfo.quick ? ', quick' : ''}) ` +
              'was stopped before it finished. Resume it, or discard it?',
            'Resume',
            'Discard',
          );
          await resumeOrDiscard(go, f.uri.fsPath, work, { task, method: runInfo.method, quick: runInfo.quick });
        }
      } catch {
        // not a repository
      }
    }
  })();

  return vscode.Disposable.from(item, command);
}
