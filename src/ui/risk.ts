import * as vscode from 'vscode';
import { join } from 'node:path';
import { openRepository } from '../git/repository.js';
import { hookStatus, installHook, uninstallHook } from '../git/hooks.js';
import { assessRisk, loadRiskModel, type LoadedRiskModel, type RiskResult, type RiskTarget } from '../tasks/jitdp/risk.js';
import { ChangelingError } from '../util/errors.js';
import { gitApi, gitRepositoryFor, type GitRepositoryApi } from './gitApi.js';
import { renderRiskReport } from './riskReport.js';
import { settings } from './settings.js';
import { reasonText } from '../tasks/jitdp/reasons.js';

/**
 * Risk in VS Code: a status-bar item with the staged change's risk (probability and level; the warning
 * colour only when high), rescored when the index changes (debounced); clicking it opens the report (reasons
 * and riskiest lines) and marks those lines in the editor. Commands check the outgoing commits and install
 * or remove the pre-push hook (explained, confirmed, refused in an untrusted workspace).
 */
export class RiskController implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('changeling.risk', vscode.StatusBarAlignment.Left, 50);
  private readonly decoration = vscode.window.createTextEditorDecorationType({
    backgroundColor: new vscode.ThemeColor('diffEditor.removedLineBackground'),
    overviewRulerColor: new vscode.ThemeColor('editorWarning.foreground'),
    overviewRulerLane: vscode.OverviewRulerLane.Right,
    isWholeLine: true,
  });
  private readonly disposables: vscode.Disposable[] = [];
  private timer: NodeJS.Timeout | null = null;
  private last: { root: string; result: RiskResult | null; model: LoadedRiskModel } | null = null;
  private running: AbortController | null = null;
  private panel: vscode.WebviewPanel | null = null;
  private models = new Map<string, Promise<LoadedRiskModel>>();

  constructor(private readonly context: vscode.ExtensionContext, private readonly log: vscode.LogOutputChannel) {
    this.item.name = 'Changeling risk';
    this.item.command = 'changeling.showRisk';
    this.disposables.push(
      this.item,
      this.decoration,
      vscode.commands.registerCommand('changeling.showRisk', () => this.showReport()),
      vscode.commands.registerCommand('changeling.checkOutgoing', (arg?: unknown) => this.checkOutgoing(arg)),
      vscode.commands.registerCommand('changeling.installPrePushHook', (arg?: unknown) => this.installHook(arg)),
      vscode.commands.registerCommand('changeling.uninstallPrePushHook', (arg?: unknown) => this.uninstallHook(arg)),
      vscode.window.onDidChangeVisibleTextEditors(() => this.decorate()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('changeling.risk') || e.affectsConfiguration('changeling.provider')) {
          this.models.clear();
          this.schedule();
        }
      }),
    );
    void this.watch();
  }

  private async watch(): Promise<void> {
    const api = await gitApi();
    if (!api) return;
    const hook = (r: GitRepositoryApi) => this.disposables.push(r.state.onDidChange(() => this.schedule()));
    api.repositories.forEach(hook);
    this.disposables.push(api.onDidOpenRepository((r) => {
      hook(r);
      this.schedule();
    }));
    this.schedule();
  }

  /** Rescore after the index has been quiet for the debounce time. */
  schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.refresh(), settings().debounceMs);
  }

  private model(root: string): Promise<LoadedRiskModel> {
    const explicit = settings().riskModel;
    const key = `${root}\u0000${explicit}`;
    let m = this.models.get(key);
    if (!m) {
      m = openRepository(root).then((repo) => loadRiskModel(repo, explicit || undefined));
      this.models.set(key, m);
      m.catch(() => this.models.delete(key));
    }
    return m;
  }

  /** Scores the staged change of the repository the user is in (the only one, or the active editor's). */
  async refresh(): Promise<RiskResult | null> {
    if (!settings().riskStatusBar) {
      this.item.hide();
      return null;
    }
    const git = await gitRepositoryFor(undefined, { ask: false }).catch(() => null);
    if (!git) {
      this.item.hide();
      return null;
    }
    if (git.state.indexChanges.length === 0) {
      this.last = null;
      this.item.hide();
      this.decorate();
      return null;
    }
    this.running?.abort();
    const ac = new AbortController();
    this.running = ac;
    const root = git.rootUri.fsPath;
    try {
      this.item.text = '$(loading~spin) Risk';
      this.item.tooltip = 'Changeling: scoring the staged change';
      this.item.backgroundColor = undefined;
      this.item.show();
      const model = await this.model(root);
      const results = await assessRisk(await openRepository(root), { kind: 'staged' }, model, { signal: ac.signal, lines: 10 });
      // Concluding a merge scores the commits it brings: the riskiest of them is shown.
      const result = results.reduce<RiskResult | undefined>((a, b) => (!a || b.probability > a.probability ? b : a), undefined);
      if (ac.signal.aborted || !result) return null;
      this.last = { root, result, model };
      this.render(result, model);
      this.decorate();
      if (this.panel) this.panel.webview.html = renderRiskReport([result], model, 'the staged change', this.panel.webview.cspSource);
      return result;
    } catch (err) {
      if (err instanceof ChangelingError && (err.code === 'cancelled' || err.code === 'nothing-staged')) {
        this.item.hide();
        return null;
      }
      this.log.error(`risk: ${(err as Error).message}`);
      this.item.text = '$(shield) Risk ?';
      this.item.tooltip = `Changeling could not score the staged change: ${(err as Error).message}`;
      return null;
    }
  }

  private render(r: RiskResult, m: LoadedRiskModel): void {
    const pct = `${Math.round(r.probability * 100)}%`;
    this.item.text = `${r.level === 'high' ? '$(warning)' : '$(shield)'} Risk ${r.level} ${pct}`;
    this.item.backgroundColor = r.level === 'high' ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    const md = new vscode.MarkdownString(undefined, true);
    const what = r.mergedBy === undefined ? 'the staged change' : `the riskiest commit this merge brings (${r.sha?.slice(0, 12)} ${r.subject}; a merge is not scored as a change of its own)`;
    md.appendMarkdown(`**Changeling: ${r.level} risk (${pct})** for ${what}; threshold ${Math.round(m.threshold * 100)}%.\n\n`);
    if (r.note) md.appendMarkdown(`The change ${r.note}.\n\n`);
    for (const x of r.reasons.slice(0, 3)) md.appendMarkdown(`- ${x.contribution >= 0 ? 'raises' : 'lowers'}: ${reasonText(x.name, x.value, r.features)}\n`);
    md.appendMarkdown(`\nModel: ${m.source} (${m.kind}; ${m.kind === 'linear' ? 'computed in JavaScript, no onnxruntime needed' : 'onnxruntime on the CPU'}). Click for the report.`);
    this.item.tooltip = md;
    this.item.show();
  }

  /** Marks the riskiest added lines of the last report in the visible editors. */
  private decorate(): void {
    for (const e of vscode.window.visibleTextEditors) {
      const lines = this.last?.result?.lines.filter((l) => l.sign === '+' && e.document.uri.fsPath === join(this.last!.root, l.path)) ?? [];
      e.setDecorations(this.decoration, lines.map((l) => ({
        range: new vscode.Range(l.line - 1, 0, l.line - 1, 0),
        hoverMessage: new vscode.MarkdownString(`Changeling: one of the riskiest lines of the staged change (score ${l.score.toFixed(3)})`),
      })));
    }
  }

  private async showReport(): Promise<RiskResult | null> {
    const r = this.last?.result ?? (await this.refresh());
    if (!r || !this.last) {
      void vscode.window.showInformationMessage('Changeling: nothing is staged, so there is no risk to show.');
      return null;
    }
    this.openPanel([r], this.last.model, 'the staged change');
    return r;
  }

  private openPanel(results: RiskResult[], model: LoadedRiskModel, what: string): void {
    if (!this.panel) {
      this.panel = vscode.window.createWebviewPanel('changeling.risk', 'Changeling: risk', vscode.ViewColumn.Beside, { enableScripts: false });
      this.panel.onDidDispose(() => (this.panel = null));
    }
    this.panel.title = `Changeling: risk of ${what}`;
    this.panel.webview.html = renderRiskReport(results, model, what, this.panel.webview.cspSource);
    this.panel.reveal(vscode.ViewColumn.Beside, true);
  }

  private async checkOutgoing(arg?: unknown): Promise<RiskResult[] | undefined> {
    const git = await gitRepositoryFor(arg);
    if (!git) return undefined;
    const repo = await openRepository(git.rootUri.fsPath);
    const upstream = (await repo.git.raw(['rev-parse', '--abbrev-ref', '--symbolic-full-name', '@{u}']).catch(() => '')).trim();
    const target: RiskTarget = { kind: 'range', range: upstream ? `${upstream}..HEAD` : 'HEAD --not --remotes' };
    try {
      const results = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Changeling: scoring outgoing commits', cancellable: true }, async (_p, token) => {
        const ac = new AbortController();
        token.onCancellationRequested(() => ac.abort());
        return assessRisk(repo, target, await this.model(repo.root), { signal: ac.signal });
      });
      if (results.length === 0) {
        void vscode.window.showInformationMessage(`Changeling: no outgoing commits${upstream ? ` (ahead of ${upstream}: none)` : ''}.`);
        return results;
      }
      this.openPanel(results, await this.model(repo.root), `${results.length} outgoing commit${results.length === 1 ? '' : 's'}${upstream ? ` (not in ${upstream})` : ''}`);
      return results;
    } catch (err) {
      if (err instanceof ChangelingError && err.code === 'cancelled') return undefined;
      void vscode.window.showErrorMessage(`Changeling: ${(err as Error).message}`);
      return undefined;
    }
  }

  private async installHook(arg?: unknown): Promise<boolean> {
    if (!vscode.workspace.isTrusted) {
      void vscode.window.showWarningMessage('Changeling: git hooks are not installed in an untrusted workspace. Trust the workspace first.');
      return false;
    }
    const git = await gitRepositoryFor(arg);
    if (!git) return false;
    const repo = await openRepository(git.rootUri.fsPath);
    const status = await hookStatus(repo, 'pre-push');
    const detail = 'Before each push, the hook scores the commits going out and prints a warning for risky ones in the push output. It never blocks a push unless you set "git config changeling.risk.blockPush true". '
      + (status.installed ? 'It is installed already; installing again refreshes it.' : 'A pre-push hook you already have is kept and runs first.') + ' "Changeling: Remove pre-push risk check" puts everything back.';
    // Programmatic callers that have asked their user already pass { yes: true }.
    const ok = (arg as { yes?: boolean } | undefined)?.yes ? 'Install' : await vscode.window.showInformationMessage('Install Changeling\'s pre-push risk check in this repository?', { modal: true, detail }, 'Install');
    if (ok !== 'Install') return false;
    const cli = join(this.context.extensionPath, 'dist', 'cli.mjs');
    const s = await installHook(repo, 'pre-push', { node: process.execPath, cli, electron: !!process.versions.electron });
    this.log.info(`pre-push hook installed at ${s.path}${s.chainedNow ? ' (chaining the previous hook)' : ''}`);
    void vscode.window.showInformationMessage(`Changeling: pre-push risk check installed${s.chainedNow ? '; your previous hook still runs first' : ''}.`);
    return true;
  }

  private async uninstallHook(arg?: unknown): Promise<boolean> {
    const git = await gitRepositoryFor(arg);
    if (!git) return false;
    const r = await uninstallHook(await openRepository(git.rootUri.fsPath), 'pre-push');
    void vscode.window.showInformationMessage(r.removed ? `Changeling: pre-push risk check removed${r.restored ? '; your previous hook is back' : ''}.` : 'Changeling: no Changeling pre-push hook here; nothing changed.');
    return r.removed;
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.running?.abort();
    this.panel?.dispose();
    this.disposables.forEach((d) => d.dispose());
  }
}
