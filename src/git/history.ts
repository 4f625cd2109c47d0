import { DiffParser } from './diffParser.js';
import { LineSplitter } from './lines.js';
import { isUtf8 } from 'node:buffer';
import { DIFF_ARGS, gitBytes, spawnGit } from './run.js';
import { requireCommits, resolveCommit, type Repository } from './repository.js';
import type { CommitRecord } from './types.js';
import { ChangelingError, throwIfAborted } from '../util/errors.js';
import { checkDate, rangeArgs } from './revisions.js';

/**
 * A repository's history: counting and listing commits, the diff of one commit, and a streaming walk over `git
 * log -p` that yields parsed commits.
 */

const firstLine = (s: string) =>
  s
    .trim()
    .split('\n')
    .find((l) => /fatal|error/i.test(l))
    ?.replace(/^(fatal|error):\s*/i, '') ??
  s.trim().split('\n')[0] ??
  '';

export interface HistoryOptions {
  /** A revision or range (default HEAD); `--all` walks every ref. */
  rev?: string;
  since?: string;
  until?: string;
  /** At most this many commits. */
  max?: number;
  /** Oldest first (git's default is newest first). */
  reverse?: boolean;
  /** Leave merge commits out (by default they are in, with their diff against the first parent). */
  noMerges?: boolean;
  /** Per-commit cap on kept diff text (characters); default 1 MiB. */
  maxDiffBytes?: number;
  /** Diffs that ignore whitespace (git's -w), as CommitChronicle's collection made them. */
  ignoreWhitespace?: boolean;
  /** These commits only, in this order (full shas, given to git on its input), instead of `rev`'s history. */
  commits?: readonly string[];
  signal?: AbortSignal;
}

export const DEFAULT_MAX_DIFF_BYTES = 1 << 20;

// Each commit starts with a line beginning "\x01\x01" (no diff line can: every diff line starts with a
// marker character) and its header ends with "\x00\x02" (commit messages cannot contain NUL).
const FORMAT = '--format=%x01%x01%H%x00%P%x00%an%x00%ae%x00%aI%x00%cI%x00%B%x00%x02';
const HEADER_START = '\x01\x01';
const HEADER_END = '\x00\x02';

function logArgs(o: HistoryOptions): string[] {
  const args = ['log', FORMAT, '-p', ...DIFF_ARGS, '--diff-merges=first-parent', '--encoding=UTF-8'];
  if (o.ignoreWhitespace) args.push('--ignore-all-space');
  if (o.since) args.push(`--since=${checkDate('since', o.since)}`);
  if (o.until) args.push(`--until=${checkDate('until', o.until)}`);
  if (o.max !== undefined) args.push(`--max-count=${o.max}`);
  if (o.noMerges) args.push('--no-merges');
  if (o.reverse) args.push('--reverse');
  if (o.commits) args.push('--no-walk=unsorted', '--stdin');
  else args.push(...rangeArgs(o.rev ?? 'HEAD'));
  args.push('--');
  return args;
}

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** How many commits a walk with these options will yield (for progress), counted by git rev-list. */
export async function countCommits(repo: Repository, o: HistoryOptions = {}): Promise<number> {
  if (repo.head === null) return 0;
  const args = ['rev-list', '--count'];
  if (o.since) args.push(`--since=${checkDate('since', o.since)}`);
  if (o.until) args.push(`--until=${checkDate('until', o.until)}`);
  if (o.max !== undefined) args.push(`--max-count=${o.max}`);
  if (o.noMerges) args.push('--no-merges');
  args.push(...rangeArgs(o.rev ?? 'HEAD'), '--');
  const out = await repo.git.raw(args).catch((err: Error) => {
    throw new ChangelingError(
      'bad-revision',
      `unknown revision or range ${JSON.stringify(o.rev ?? 'HEAD')} in ${repo.root}: ${firstLine(err.message)}`,
    );
  });
  return Number(out.trim()) || 0;
}

/**
 * Walks the history one commit at a time, parsing `git log -p` as it streams: memory holds one commit,
 * and git pauses when the consumer does (the pipe's backpressure).
 */
export async function* walkHistory(repo: Repository, o: HistoryOptions = {}): AsyncGenerator<CommitRecord> {
  requireCommits(repo);
  if (o.commits) {
    const bad = o.commits.find((s) => !SHA.test(s));
    if (bad !== undefined) throw new ChangelingError('bad-revision', `not a full commit sha: ${JSON.stringify(bad.slice(0, 80))}`);
    if (o.commits.length === 0) return;
  } else {
    const revTokens = rangeArgs(o.rev ?? 'HEAD');
    if (revTokens.length === 1 && !revTokens[0]!.startsWith('-') && !revTokens[0]!.includes('..') && !revTokens[0]!.startsWith('^'))
      await resolveCommit(repo, revTokens[0]!);
  }
  throwIfAborted(o.signal);
  const maxBytes = o.maxDiffBytes ?? DEFAULT_MAX_DIFF_BYTES;
  const proc = spawnGit(repo.root, logArgs(o), o.signal, o.commits ? o.commits.join('\n') + '\n' : undefined);
  const ready: CommitRecord[] = [];
  let header: string[] | null = null;
  let commit: CommitRecord | null = null;
  let parser = new DiffParser({ maxBytes });

  const finishCommit = () => {
    if (!commit) return;
    commit.files = parser.finish();
    commit.truncated = parser.truncated;
    ready.push(commit);
    commit = null;
  };

  const splitter = new LineSplitter((text, nonUtf8) => {
    if (header) {
      header.push(text);
      if (text.endsWith(HEADER_END)) {
        commit = parseHeader(header.join('\n'), repo.shallowBoundary);
        header = null;
      }
      return;
    }
    if (text.startsWith(HEADER_START)) {
      finishCommit();
      parser = new DiffParser({ maxBytes });
      header = [text];
      if (text.endsWith(HEADER_END)) {
        commit = parseHeader(text, repo.shallowBoundary);
        header = null;
      }
      return;
    }
    parser.line(text, nonUtf8);
  });

  let finished = false;
  try {
    for await (const chunk of proc.stdout) {
      splitter.push(chunk);
      while (ready.length > 0) yield ready.shift()!;
    }
    splitter.end();
    finishCommit();
    await proc.done;
    while (ready.length > 0) yield ready.shift()!;
    finished = true;
  } finally {
    if (!finished) proc.kill();
  }
}

/** Every commit of HEAD's history without its diff (sha, parents, authors, dates, message), in git's order or oldest first. */
export async function listCommits(repo: Repository, o: { reverse?: boolean; signal?: AbortSignal } = {}): Promise<CommitRecord[]> {
  if (repo.head === null) return [];
  const args = ['log', FORMAT, '--encoding=UTF-8', ...(o.reverse ? ['--reverse'] : []), repo.head, '--'];
  const out = await gitBytes(repo.root, args, o.signal);
  const commits: CommitRecord[] = [];
  let start = 0;
  for (;;) {
    const end = out.indexOf(HEADER_END, start, 'latin1');
    if (end < 0) break;
    const s = out.indexOf(HEADER_START, start, 'latin1');
    const bytes = out.subarray(s, end + HEADER_END.length);
    commits.push(parseHeader(bytes.toString(isUtf8(bytes) ? 'utf8' : 'latin1'), repo.shallowBoundary));
    start = end + HEADER_END.length;
  }
  return commits;
}

function parseHeader(raw: string, boundary: ReadonlySet<string>): CommitRecord {
  const body = raw.slice(HEADER_START.length, raw.length - HEADER_END.length);
  const [sha = '', parents = '', name = '', email = '', authorDate = '', commitDate = '', ...rest] = body.split('\x00');
  const message = rest.join('\x00').replace(/\n+$/, '');
  const c: CommitRecord = {
    sha,
    parents: parents ? parents.split(' ') : [],
    author: { name, email },
    authorDate,
    commitDate,
    message,
    files: [],
    truncated: false,
  };
  if (c.parents.length > 1) c.merge = true;
  if (boundary.has(sha)) c.shallowBoundary = true;
  return c;
}

/** One commit with its diff against its first parent (the whole tree for a root commit). */
export async function commitDiff(
  repo: Repository,
  rev: string,
  o: { maxDiffBytes?: number; ignoreWhitespace?: boolean; signal?: AbortSignal } = {},
): Promise<CommitRecord> {
  requireCommits(repo);
  const sha = await resolveCommit(repo, rev);
  for await (const c of walkHistory(repo, { ...o, rev: sha, max: 1 })) return c;
  throw new ChangelingError('bad-revision', `git printed nothing for ${rev}`);
}
