import { OriginsLogParser, ORIGINS_FORMAT, applyScript, parseSinglePatch, type PatchedCommit } from './patchOps.js';
import type { Repository } from './repository.js';
import { DIFF_ARGS, gitBytes, spawnGit } from './run.js';
import { throwIfAborted } from '../util/errors.js';

/**
 * Which commit last changed each line, for every line of every file of the history at once: what `git blame
 * -w` answers for one file at one revision, carried forward through one `git log --raw -p -w` walk in
 * topological order instead of walked back per question. SZZ asks it for the removed lines of every fix.
 *
 * Each file's state is an array of commit indexes, one per line. A commit's diff against its parent (the
 * diff blame itself makes: xdiff ignoring whitespace, same algorithm and heuristics, renames followed when a
 * path is new) keeps the lines outside its hunks and gives its added lines to the commit. A merge gets its
 * first parent's lines where it did not change them; a file it changed takes another parent's lines whole
 * when it equals that parent's file, and otherwise the second parent's unchanged lines (one `git diff` of the
 * two blobs), the rest being the merge's own, as blame passes blame through a merge. A line whose origin this
 * cannot know for sure (a binary file, a rename on the other side of a merge, an octopus) is UNKNOWN, and
 * the caller asks git blame about it instead.
 */
export const UNKNOWN = -1;
const PENDING = -2;

interface FileState {
  blob: string;
  /** Commit index per line; null when the content is not followed (binary, gitlink, a type change). */
  origins: Int32Array | null;
}
type Tree = Map<string, FileState>;

/** Removed lines to look up, per commit: [path in the parent, 1-based line numbers]. */
export type LineQueries = Map<string, Array<[string, number[]]>>;

export interface OriginAnswers {
  /** Per queried commit: the commits its lines came from. */
  found: Map<string, Set<string>>;
  /** Per queried commit: the files whose lines could not be followed for sure (ask git blame). */
  unresolved: Map<string, Array<[string, number[]]>>;
  /** Merges whose changed files needed a diff against their second parent. */
  mergeDiffs: number;
}

/** The same diff options for the walk and for the blobs of merges (and for a blame run instead). */
export const BLAME_DIFF_CONFIG = ['-c', 'diff.algorithm=myers', '-c', 'diff.indentHeuristic=true'];

export async function traceOrigins(
  repo: Repository,
  /** Every commit of the walk with its parents (to know when a state is no longer needed). */
  parentsOf: ReadonlyMap<string, readonly string[]>,
  queries: LineQueries,
  o: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
): Promise<OriginAnswers> {
  const childrenLeft = new Map<string, number>();
  for (const ps of parentsOf.values()) for (const p of ps) childrenLeft.set(p, (childrenLeft.get(p) ?? 0) + 1);
  const shas: string[] = [];
  const states = new Map<string, Tree>();
  const answers: OriginAnswers = { found: new Map(), unresolved: new Map(), mergeDiffs: 0 };

  const answer = (c: PatchedCommit, tree: Tree) => {
    const asked = queries.get(c.sha);
    if (!asked) return;
    const found = new Set<string>();
    const unresolved: Array<[string, number[]]> = [];
    for (const [path, lines] of asked) {
      const origins = tree.get(path)?.origins;
      const known = origins ? lines.map((n) => origins[n - 1]) : [];
      if (!origins || known.some((v) => v === undefined || v < 0)) unresolved.push([path, lines]);
      else for (const v of known) found.add(shas[v!]!);
    }
    answers.found.set(c.sha, found);
    if (unresolved.length) answers.unresolved.set(c.sha, unresolved);
  };

  /** The merged file's lines that its first parent did not have (PENDING), from the other parents. */
  const mergeLines = async (
    c: PatchedCommit,
    path: string,
    blob: string,
    fromFirst: Int32Array | null,
    idx: number,
  ): Promise<Int32Array | null> => {
    const others = c.parents.slice(1).map((p) => states.get(p)?.get(path));
    const same = others.find((s) => s !== undefined && s.blob === blob);
    if (same) return same.origins;
    if (!fromFirst) return null;
    if (!fromFirst.includes(PENDING)) return fromFirst;
    const second = others[0];
    if (c.parents.length !== 2 || !second?.origins) return fromFirst.map((v) => (v === PENDING ? UNKNOWN : v));
    answers.mergeDiffs++;
    const out = await gitBytes(
      repo.root,
      [...BLAME_DIFF_CONFIG, 'diff', '--ignore-all-space', '-U0', '--no-color', '--no-ext-diff', '--no-textconv', second.blob, blob],
      o.signal,
    );
    const patch = parseSinglePatch(out);
    const fromSecond = patch ? (patch.binary ? null : applyScript(second.origins, patch, PENDING)) : second.origins;
    if (!fromSecond || fromSecond.length !== fromFirst.length) return fromFirst.map((v) => (v === PENDING ? UNKNOWN : v));
    return fromFirst.map((v, i) => (v !== PENDING ? v : fromSecond[i] !== PENDING ? fromSecond[i]! : idx));
  };

  const apply = async (c: PatchedCommit) => {
    const idx = shas.push(c.sha) - 1;
    for (const p of c.parents) childrenLeft.set(p, (childrenLeft.get(p) ?? 1) - 1);
    const first = c.parents[0];
    const parentTree = first !== undefined ? states.get(first) : undefined;
    answer(c, parentTree ?? new Map());
    const merge = c.parents.length > 1;
    const updates: Array<[string, FileState]> = [];
    const removed: string[] = [];
    for (const [i, e] of c.raw.entries()) {
      if (e.status === 'D' || e.status === 'R') removed.push(e.oldPath);
      if (e.status === 'D') continue;
      if (e.gitlink || e.status === 'T') {
        updates.push([e.newPath, { blob: e.newBlob, origins: null }]);
        continue;
      }
      const patch = c.patches.get(i);
      const before = e.status === 'A' ? new Int32Array(0) : (parentTree?.get(e.oldPath)?.origins ?? null);
      let origins: Int32Array | null;
      if (patch?.binary) origins = null;
      else if (patch) origins = before && applyScript(before, patch, merge ? PENDING : idx);
      // No patch: a change -w does not see (whitespace, mode) or a pure rename keeps every line; an added
      // file without one is empty, or binary.
      else origins = e.status === 'A' && !EMPTY_BLOBS.has(e.newBlob) ? null : before;
      if (merge) origins = await mergeLines(c, e.newPath, e.newBlob, origins, idx);
      updates.push([e.newPath, { blob: e.newBlob, origins }]);
    }
    for (const p of c.parents) if (childrenLeft.get(p) === 0) states.delete(p);
    if ((childrenLeft.get(c.sha) ?? 0) === 0) return;
    // The parent's own state is reused when this is its last child; otherwise it is copied (the arrays are
    // never written after they are made, so they are shared).
    const tree: Tree = parentTree && first !== undefined && !states.has(first) ? parentTree : new Map(parentTree);
    for (const p of removed) tree.delete(p);
    for (const [p, s] of updates) tree.set(p, s);
    states.set(c.sha, tree);
  };

  const args = [
    ...BLAME_DIFF_CONFIG,
    'log',
    '--topo-order',
    '--reverse',
    ORIGINS_FORMAT,
    '--raw',
    '--no-abbrev',
    '-p',
    '-U0',
    '--ignore-all-space',
    ...DIFF_ARGS,
    '--diff-merges=first-parent',
    repo.head ?? 'HEAD',
    '--',
  ];
  const proc = spawnGit(repo.root, args, o.signal);
  const ready: PatchedCommit[] = [];
  const parser = new OriginsLogParser((c) => ready.push(c));
  let done = 0;
  const drain = async () => {
    while (ready.length) {
      await apply(ready.shift()!);
      if (++done % 256 === 0) {
        throwIfAborted(o.signal);
        o.onProgress?.(done, parentsOf.size);
      }
    }
  };
  let finished = false;
  try {
    for await (const chunk of proc.stdout) {
      parser.push(chunk as Buffer);
      await drain();
    }
    parser.end();
    await drain();
    await proc.done;
    finished = true;
  } finally {
    if (!finished) proc.kill();
  }
  o.onProgress?.(parentsOf.size, parentsOf.size);
  return answers;
}

/** The empty file's blob id (SHA-1 and SHA-256 repositories). */
const EMPTY_BLOBS = new Set([
  'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391',
  '473a0f4c3be8a93681a267e3b1e9a7dcda1185436fe141f7749120a303721813',
]);
