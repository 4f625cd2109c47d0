import { DiffParser } from './diffParser.js';
import { LineSplitter } from './lines.js';
import { DIFF_ARGS, spawnGit } from './run.js';
import { DEFAULT_MAX_DIFF_BYTES } from './history.js';
import type { Repository } from './repository.js';
import type { DiffFile } from './types.js';
import { ChangelingError } from '../util/errors.js';

/** The staged change (`git diff --cached`), parsed. */

export interface StagedDiff {
  files: DiffFile[];
  truncated: boolean;
}

/**
 * The staged change (index against HEAD; against the empty tree in a repository with no commits yet),
 * parsed as it streams so that a huge staged file costs at most `maxDiffBytes` of kept text.
 */
export async function stagedDiff(
  repo: Repository,
  o: { maxDiffBytes?: number; ignoreWhitespace?: boolean; signal?: AbortSignal; worktree?: boolean } = {},
): Promise<StagedDiff> {
  if (repo.bare) throw new ChangelingError('usage', `${repo.root} is a bare repository: it has no staging area`);
  const parser = new DiffParser({ maxBytes: o.maxDiffBytes ?? DEFAULT_MAX_DIFF_BYTES });
  const splitter = new LineSplitter((t, n) => parser.line(t, n));
  // `worktree`: every change to tracked files against HEAD, staged or not (what a commit of all changes holds).
  const which = o.worktree ? (repo.head ? ['HEAD'] : []) : ['--cached'];
  const proc = spawnGit(repo.root, ['diff', ...which, ...DIFF_ARGS, ...(o.ignoreWhitespace ? ['--ignore-all-space'] : [])], o.signal);
  for await (const chunk of proc.stdout) splitter.push(chunk);
  splitter.end();
  await proc.done;
  return { files: parser.finish(), truncated: parser.truncated };
}
