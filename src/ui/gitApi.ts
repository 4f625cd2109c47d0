import * as vscode from 'vscode';

/** The part of the built-in git extension's API (vscode.git, API version 1) that Changeling uses. */
export interface GitRepositoryApi {
  rootUri: vscode.Uri;
  inputBox: { value: string };
  state: { indexChanges: unknown[]; HEAD?: { name?: string; commit?: string }; onDidChange: vscode.Event<void> };
}

export interface GitApi {
  repositories: GitRepositoryApi[];
  onDidOpenRepository: vscode.Event<GitRepositoryApi>;
  onDidCloseRepository: vscode.Event<GitRepositoryApi>;
}

export async function gitApi(): Promise<GitApi | null> {
  const ext = vscode.extensions.getExtension<{ getAPI(v: 1): GitApi }>('vscode.git');
  if (!ext) return null;
  const exports = ext.isActive ? ext.exports : await ext.activate();
  return exports.getAPI(1);
}

/** The git extension's repository for a command's argument (a SourceControl from an SCM menu) or a path. */
/** `ask: false` (background work): never a QuickPick; the active editor's repository, else the first. */
export async function gitRepositoryFor(arg?: unknown, o: { ask?: boolean } = {}): Promise<GitRepositoryApi | null> {
  const api = await gitApi();
  if (!api) return null;
  // A SourceControl (SCM menus pass one), { repo: path } (programmatic callers), or a path.
  const root = (arg as { rootUri?: vscode.Uri } | undefined)?.rootUri?.fsPath ?? (arg as { repo?: string } | undefined)?.repo ?? (typeof arg === 'string' ? arg : undefined);
  if (root) return api.repositories.find((r) => r.rootUri.fsPath === root) ?? null;
  if (api.repositories.length === 1) return api.repositories[0]!;
  const active = vscode.window.activeTextEditor?.document.uri.fsPath;
  const owning = active ? api.repositories.filter((r) => active.startsWith(r.rootUri.fsPath)).sort((a, b) => b.rootUri.fsPath.length - a.rootUri.fsPath.length)[0] : undefined;
  if (owning) return owning;
  if (api.repositories.length === 0) return null;
  if (o.ask === false) return api.repositories[0]!;
  const pick = await vscode.window.showQuickPick(api.repositories.map((r) => ({ label: vscode.workspace.asRelativePath(r.rootUri, true) || r.rootUri.fsPath, repo: r })), { title: 'Changeling: which repository?' });
  return pick?.repo ?? null;
}
