import * as vscode from 'vscode';
import { join } from 'node:path';
import { openRepository } from '../git/repository.js';
import { assessRisk, loadRiskModel, type LoadedRiskModel, type RiskResult } from '../tasks/jitdp/risk.js';
import { ChangelingError } from '../util/errors.js';
import { notice } from '../util/notices.js';
import { chooseRepository, gitApi, type GitRepositoryApi } from './repositories.js';
import { emptyRiskReport, renderRiskReport } from './riskReport.js';
import { settings } from './settings.js';
import { reasonLine } from '../tasks/jitdp/reasons.js';

/**
 * Risk in VS Code: a status-bar item with the staged change's risk (probability and level; the warning
 * colour only when high), rescored when the index changes (debounced); clicking it opens the report (reasons
 * and riskiest lines) and marks those lines in the editor. The outgoing-commit check (`outgoing.ts`) uses its
 * models and report; the pre-push hook's commands are in `riskHook.ts`.
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
  /** Whether the open report shows the staged change (which it then follows) or something else (outgoing commits). */
  private panelShowsStaged = false;
  private models = new Map<string, Promise<LoadedRiskModel>>();

  constructor(private readonly log: vscode.LogOutputChannel) {
    this.item.name = 'Changeling risk';
    this.item.command = 'changeling.showRisk';
    this.disposables.push(
      this.item,
      this.decoration,
      vscode.commands.registerCommand('changeling.showRisk', () => this.showReport()),
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
    this.disposables.push(
      api.onDidOpenRepository((r) => {
        hook(r);
        this.schedule();
      }),
    );
    this.schedule();
  }

  /** Rescore after the index has been quiet for the debounce time. */
  schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.refresh(), settings().debounceMs);
  }

  /** The risk model for a repository (its own, the configured one, or the embedded default), loaded once. */
  model(root: string): Promise<LoadedRiskModel> {
    const explicit = settings().riskModel;
    const key = `${root}\u0000${explicit}`;
    let m = this.models.get(key);
    if (!m) {
      m = openRepository(root).then((repo) =>
        loadRiskModel(repo, explicit || undefined).catch(async (err: Error) => {
          // A model that cannot be used never leaves the user without a score: the built-in one, and why, once.
          notice(`the risk model could not be used (${err.message}); scoring with the built-in one instead`);
          return loadRiskModel(null);
        }),
      );
      this.models.set(key, m);
      m.catch(() => this.models.delete(key));
    }
    return m;
  }

  /**
   * Scores the staged change of the repository the user is in (the only one, or the active editor's). In a
   * workspace that is not trusted no git process starts on its own: the status bar offers to score, and only
   * the user's click (`user`) does.
   */
  async refresh(o: { user?: boolean } = {}): Promise<RiskResult | null> {
    if (!settings().riskStatusBar && !o.user) {
      this.item.hide();
      return null;
    }
    const git = (await chooseRepository(undefined, { ask: false }).catch(() => null))?.scm;
    if (!git) {
      this.item.hide();
      return null;
    }
    if (git.state.indexChanges.length === 0) {
      this.last = null;
      this.item.hide();
      this.decorate();
      // The open report of the staged change follows the stage: nothing staged, nothing shown as if it were.
      if (this.panel && this.panelShowsStaged) {
        this.panel.title = 'Changeling: risk (nothing staged)';
        this.panel.webview.html = emptyRiskReport(this.panel.webview.cspSource);
      }
      return null;
    }
    if (!vscode.workspace.isTrusted && !o.user) {
      this.last = null;
      this.item.text = '$(shield) Risk';
      this.item.tooltip = 'Changeling: click to score the staged change (this workspace is not trusted, so nothing runs on its own)';
      this.item.backgroundColor = undefined;
      this.item.show();
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
      if (this.panel && this.panelShowsStaged) this.openPanel([result], model, 'the staged change', false);
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
    const what =
      r.mergedBy === undefined
        ? 'the staged change'
        : `the riskiest commit this merge brings (${r.sha?.slice(0, 12)} ${r.subject}; a merge is not scored as a change of its own)`;
    md.appendMarkdown(`**Changeling: ${r.level} risk (${pct})** for ${what}; threshold ${Math.round(m.threshold * 100)}%.\n\n`);
    if (r.note) md.appendMarkdown(`The change ${r.note}.\n\n`);
    for (const x of r.reasons.slice(0, 3)) md.appendMarkdown(`- ${reasonLine(x)}\n`);
    md.appendMarkdown(
      `\nModel: ${m.source} (${m.kind}; ${m.kind === 'linear' ? 'computed in JavaScript, no onnxruntime needed' : 'onnxruntime on the CPU'}). Click for the report.`,
    );
    this.item.tooltip = md;
    this.item.show();
  }

  /** Marks the riskiest added lines of the last report in the visible editors. */
  private decorate(): void {
    for (const e of vscode.window.visibleTextEditors) {
      const lines = this.last?.result?.lines.filter((l) => l.sign === '+' && e.document.uri.fsPath === join(this.last!.root, l.path)) ?? [];
      e.setDecorations(
        this.decoration,
        lines.map((l) => ({
          range: new vscode.Range(l.line - 1, 0, l.line - 1, 0),
          hoverMessage: new vscode.MarkdownString(
            `Changeling: one of the riskiest lines of the staged change (score ${l.score.toFixed(3)})`,
          ),
        })),
      );
    }
  }

  private async showReport(): Promise<RiskResult | null> {
    const r = this.last?.result ?? (await this.refresh({ user: true }));
    if (!r || !this.last) {
      const repo = await chooseRepository(undefined, { ask: false }).catch(() => null);
      void vscode.window.showInformationMessage(
        repo
          ? 'Changeling: nothing is staged, so there is no risk to show.'
          : 'Changeling: this folder is not a git repository, so there is no change to score.',
      );
      return null;
    }
    this.openPanel([r], this.last.model, 'the staged change');
    return r;
  }

  /** Opens (or reuses) the report beside the editor. */
  openPanel(results: RiskResult[], model: LoadedRiskModel, what: string, reveal = true): void {
    this.panelShowsStaged = what === 'the staged change';
    if (!this.panel) {
      this.panel = vscode.window.createWebviewPanel('changeling.risk', 'Changeling: risk', vscode.ViewColumn.Beside, {
        enableScripts: false,
      });
      this.panel.onDidDispose(() => (this.panel = null));
    }
    this.panel.title = `Changeling: risk of ${what}`;
    this.panel.webview.html = renderRiskReport(results, model, what, this.panel.webview.cspSource);
    if (reveal) this.panel.reveal(vscode.ViewColumn.Beside, true);
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.running?.abort();
    this.panel?.dispose();
    this.disposables.forEach((d) => d.dispose());
  }
}
