import * as vscode from 'vscode';
import { openRepository, type Repository } from '../git/repository.js';

interface GitApiRepository {
  rootUri: vscode.Uri;
}
interface GitApi {
  repositories: GitApiRepository[];
}

/** The repositories VS Code's git extension knows, or the workspace folders that are repositories. */
async function knownRepositoryPaths(): Promise<string[]> {
  const ext = vscode.extensions.getExtension<{ getAPI(v: 1): GitApi }>('vscode.git');
  if (ext) {
    const exports = ext.isActive ? ext.exports : await ext.activate();
    const paths = exports.getAPI(1).repositories.map((r) => r.rootUri.fsPath);
    if (paths.length > 0) return paths;
  }
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

/** Asks which repository when there are several; undefined when the user cancels. */
export async function pickRepository(explicit?: string): Promise<Repository | undefined> {
  if (explicit) return openRepository(explicit);
  const paths = await knownRepositoryPaths();
  if (paths.length === 0) {
    void vscode.window.showErrorMessage('Changeling: open a folder that is a git repository first.');
    return undefined;
  }
  let path = paths[0]!;
  if (paths.length > 1) {
    const choice = await vscode.window.showQuickPick(
      paths.map((p) => ({ label: vscode.workspace.asRelativePath(p, true) || p, description: p, path: p })),
      { title: 'Changeling: which repository?' },
    );
    if (!choice) return undefined;
    path = choice.path;
  }
  return openRepository(path);
}
