import * as vscode from 'vscode';
import { openRepository, type Repository } from '../git/repository.js';

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

/** A repository a command works on: its root, and the git extension's repository when it has one. */
export interface ChosenRepository {
  root: string;
  /** The git extension's view of it (message box, index changes); null for a folder it does not track. */
  scm: GitRepositoryApi | null;
}

/** The workspace folders that are repositories (when the git extension is absent or knows none). */
async function workspaceRepositories(): Promise<string[]> {
  const found: string[] = [];
  for (const f of vscode.workspace.workspaceFolders ?? []) {
    if (f.uri.scheme !== 'file') continue;
    try {
      found.push((await openRepository(f.uri.fsPath)).root);
    } catch {
      // not a repository
    }
  }
  return [...new Set(found)];
}

/**
 * The one way commands find their repository. The argument is a SourceControl (SCM menus pass one),
 * `{ repo: path }` (programmatic callers) or a path; without one: the only repository, else the one that owns
 * the active editor's file, else a QuickPick (or, with `ask: false` for background work, the first one).
 * Null when there is none or the user cancelled; with `explain`, "open a repository first" is shown then.
 */
export async function chooseRepository(arg?: unknown, o: { ask?: boolean; explain?: boolean } = {}): Promise<ChosenRepository | null> {
  const api = await gitApi().catch(() => null);
  const known: ChosenRepository[] = api?.repositories.length
    ? api.repositories.map((r) => ({ root: r.rootUri.fsPath, scm: r }))
    : (await workspaceRepositories()).map((root) => ({ root, scm: null }));
  const explicit =
    (arg as { rootUri?: vscode.Uri } | undefined)?.rootUri?.fsPath ??
    (arg as { repo?: string } | undefined)?.repo ??
    (typeof arg === 'string' ? arg : undefined);
  if (explicit) return known.find((r) => r.root === explicit) ?? { root: explicit, scm: null };
  const none = () => {
    if (o.explain) void vscode.window.showInformationMessage('Changeling: open a folder that is a git repository first.');
    return null;
  };
  if (known.length === 0) return none();
  if (known.length === 1) return known[0]!;
  const active = vscode.window.activeTextEditor?.document.uri.fsPath;
  const owning = active ? known.filter((r) => active.startsWith(r.root)).sort((a, b) => b.root.length - a.root.length)[0] : undefined;
  if (owning) return owning;
  if (o.ask === false) return known[0]!;
  const pick = await vscode.window.showQuickPick(
    known.map((r) => ({ label: vscode.workspace.asRelativePath(r.root, true) || r.root, description: r.root, repo: r })),
    { title: 'Changeling: which repository?' },
  );
  return pick?.repo ?? null;
}

/** The chosen repository opened for Changeling's git layer; undefined when there is none or the user cancelled. */
export async function pickRepository(arg?: unknown): Promise<Repository | undefined> {
  const chosen = await chooseRepository(arg, { explain: true });
  return chosen ? openRepository(chosen.root) : undefined;
}
