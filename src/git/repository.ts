import { readFile, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { ChangelingError } from '../util/errors.js';
import { Git, gitBinaryPath } from './run.js';

/**
 * Opening a repository (work tree, bare, shallow, detached HEAD), naming and resolving revisions, and where
 * Changeling keeps its state in it.
 */

export interface Repository {
  /** Where git commands run: the work-tree root, or the git folder of a bare repository. */
  root: string;
  gitDir: string;
  bare: boolean;
  shallow: boolean;
  /** Commits whose parents a shallow clone lacks. */
  shallowBoundary: ReadonlySet<string>;
  /** The commit HEAD points at; null in a repository with no commits yet. */
  head: string | null;
  /** The current branch; null when HEAD is detached. */
  branch: string | null;
  /** Its git (every call through `git/run.ts`: the repository's own programs never run). */
  git: Git;
}

/** Opens the repository that contains `path`, with clear errors for what is not one. */
export async function openRepository(path: string): Promise<Repository> {
  const abs = resolve(path);
  let st;
  try {
    st = await stat(abs);
  } catch {
    throw new ChangelingError('not-found', `no such folder: ${abs}`);
  }
  if (!st.isDirectory()) throw new ChangelingError('not-a-repository', `not a folder: ${abs}`);
  const probe = new Git(abs);
  let facts: string;
  try {
    facts = await probe.raw(['rev-parse', '--is-bare-repository', '--is-shallow-repository', '--absolute-git-dir']);
  } catch (err) {
    const msg = (err as Error).message;
    if (/not a git repository/i.test(msg)) throw new ChangelingError('not-a-repository', `not a git repository: ${abs}`);
    if (err instanceof ChangelingError && /was not found/.test(msg)) throw err;
    throw new ChangelingError('git-failed', `git could not read ${abs}: ${msg.trim()}`);
  }
  const [bareS, shallowS, gitDir] = facts.trim().split('\n');
  // Anything but the three answers asked for is not git as we know it (a wrapper, a wrong git.path).
  if (!/^(true|false)$/.test(bareS ?? '') || !/^(true|false)$/.test(shallowS ?? '') || !gitDir || !isAbsolute(gitDir))
    throw new ChangelingError(
      'git-failed',
      `unexpected answer from the git binary (${gitBinaryPath()}) to "git rev-parse": ${JSON.stringify(facts.slice(0, 120))}; is git.path (or CHANGELING_GIT) a real git 2.31 or newer?`,
    );
  const bare = bareS === 'true';
  const shallow = shallowS === 'true';
  let root = gitDir!;
  if (!bare) {
    const top = (await probe.raw(['rev-parse', '--show-toplevel']).catch(() => '')).trim();
    root = top || abs;
  }
  const git = new Git(root);
  const head = (await git.raw(['rev-parse', '--verify', '-q', 'HEAD^{commit}']).catch(() => '')).trim() || null;
  const branch = (await git.raw(['symbolic-ref', '-q', '--short', 'HEAD']).catch(() => '')).trim() || null;
  let shallowBoundary = new Set<string>();
  if (shallow) {
    const text = await readFile(join(gitDir!, 'shallow'), 'utf8').catch(() => '');
    shallowBoundary = new Set(text.split('\n').filter(Boolean));
  }
  return { root, gitDir: gitDir!, bare, shallow, shallowBoundary, head, branch, git };
}

/** A repository's name for people: its folder's name (a bare repository's without ".git"). */
export function repositoryName(repo: Pick<Repository, 'root' | 'bare'>): string {
  return basename(repo.bare ? repo.root.replace(/\.git$/, '') : repo.root);
}

/** Fails with a clear message when the repository has no commits. */
export function requireCommits(repo: Repository): string {
  if (repo.head === null) {
    throw new ChangelingError('empty-repository', `the repository at ${repo.root} has no commits yet`);
  }
  return repo.head;
}

/** Resolves a revision to a commit sha, with a clear error for a name git does not know. */
export async function resolveCommit(repo: Repository, rev: string): Promise<string> {
  if (rev.startsWith('-') || /[\x00-\x1f\x7f]/.test(rev))
    throw new ChangelingError('bad-revision', `not a revision: ${JSON.stringify(rev.slice(0, 80))}`);
  if (rev.includes('..'))
    throw new ChangelingError(
      'bad-revision',
      `one commit is needed here, not the range ${JSON.stringify(rev.slice(0, 80))}${' (for a range use --range)'}`,
    );
  const sha = (await repo.git.raw(['rev-parse', '--verify', '-q', `${rev}^{commit}`]).catch(() => '')).trim();
  if (!sha) throw new ChangelingError('bad-revision', `unknown revision '${rev}' in ${repo.root}`);
  return sha;
}

/** Where Changeling keeps a repository's own models and adapters: `changeling/` in its (common) git folder, never the work tree. */
export async function repoDataDir(repo: Repository): Promise<string> {
  const common = (await repo.git.raw(['rev-parse', '--git-common-dir']).catch(() => repo.gitDir)).trim() || repo.gitDir;
  return join(isAbsolute(common) ? common : resolve(repo.root, common), 'changeling');
}
