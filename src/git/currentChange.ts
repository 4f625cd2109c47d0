import { commitDiff } from './history.js';
import { stagedDiff } from './staged.js';
import { InputFilter, type FilterResult } from './inputFilter.js';
import type { Repository } from './repository.js';
import type { DiffFile } from './types.js';
import { ChangelingError } from '../util/errors.js';

/**
 * What a command looks at: the staged change, or a commit when nothing is staged (or one is named), with its
 * files and diff.
 */

export interface ChangeView {
  source: 'staged' | 'commit';
  repo: string;
  branch: string | null;
  /** For source "commit": which commit, and why it was shown. */
  commit: { sha: string; subject: string; reason: 'asked' | 'nothing-staged' | 'bare-repository' } | null;
  files: DiffFile[];
  truncated: boolean;
  filter: FilterResult;
}

/**
 * The change a user means "now": the staged change, or the last commit when nothing is staged (or the
 * repository is bare), or the commit they named.
 */
export async function currentChange(
  repo: Repository,
  o: { rev?: string; filter?: InputFilter; maxDiffBytes?: number; signal?: AbortSignal } = {},
): Promise<ChangeView> {
  const filter = o.filter ?? new InputFilter();
  const base = { repo: repo.root, branch: repo.branch };
  let reason: 'asked' | 'nothing-staged' | 'bare-repository' = 'asked';
  if (o.rev === undefined) {
    if (!repo.bare) {
      const staged = await stagedDiff(repo, o);
      if (staged.files.length > 0 || repo.head === null) {
        if (staged.files.length === 0) {
          throw new ChangelingError(
            'empty-repository',
            `nothing is staged and the repository at ${repo.root} has no commits yet; stage a change with "git add"`,
          );
        }
        return { ...base, source: 'staged', commit: null, ...staged, filter: filter.apply(staged.files) };
      }
      reason = 'nothing-staged';
    } else {
      reason = 'bare-repository';
    }
  }
  const c = await commitDiff(repo, o.rev ?? 'HEAD', o);
  return {
    ...base,
    source: 'commit',
    commit: { sha: c.sha, subject: c.message.split('\n')[0] ?? '', reason },
    files: c.files,
    truncated: c.truncated,
    filter: filter.apply(c.files),
  };
}
