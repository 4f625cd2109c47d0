import { cpus } from 'node:os';
import { isFix } from './fixMessage.js';
import { codeFiles } from './codeFiles.js';
import { listCommits, walkHistory } from './history.js';
import { BLAME_DIFF_CONFIG, traceOrigins, type LineQueries } from './lineOrigins.js';
import type { Repository } from './repository.js';
import { gitBytes } from './run.js';
import type { CommitRecord } from './types.js';

/**
 * SZZ labels as the study describes them: a commit is buggy when a later fixing commit's removed or
 * modified lines blame back to it (`git blame -w` on the fix's parent), ignoring blank, whitespace-only
 * and comment lines, in code files only (`codeFiles.ts`, as Commit Guru's SZZ). Fixing commits are found by
 * their message (`fixMessage.ts`: fix words, not inside links, paths or merged branch names).
 * Filters: merges are neither fixes nor candidates; a candidate that postdates its fix is dropped; a fix
 * that blames more than `maxBlamed` commits is dropped (large refactors and mass changes). `labelsAt`
 * keeps only fixes made up to a time, so that labels of a time-ordered split use no later information.
 *
 * Blame's answers come from one walk that follows every line forward (`lineOrigins.ts`), with `git blame`
 * itself only for the lines that walk cannot follow for sure; `via: 'blame'` asks git blame about every
 * fix instead (the reference the walk is checked against).
 */
export interface SzzOptions {
  maxBlamed?: number;
  via?: 'trace' | 'blame';
  signal?: AbortSignal;
  onProgress?: (done: number, total: number, what: string) => void;
}

export interface SzzResult {
  /** Every non-merge commit, oldest first, with its date. */
  commits: Array<{ sha: string; time: number }>;
  /** Buggy commit -> the fixing commits that blamed it. */
  fixedBy: Map<string, string[]>;
  /** Each kept fix with its time and the commits it blamed (for labels at an earlier cutoff). */
  fixes: Array<{ sha: string; time: number; blamed: string[] }>;
  droppedFixes: Array<{ sha: string; reason: string }>;
  /** How the blame questions were answered: files the walk answered, files git blame answered, merge blob diffs. */
  answered: { traced: number; blamed: number; mergeDiffs: number };
}

const COMMENT = /^\s*(\/\/|#|\/\*|\*\/|\*|--|;)/;

/** The removed lines of a fix worth blaming, by old file: [oldPath, old line numbers]. */
function blameTargets(c: CommitRecord): Array<[string, number[]]> {
  const out: Array<[string, number[]]> = [];
  for (const f of codeFiles(c.files)) {
    if (f.status === 'added' || f.submodule) continue;
    const lines: number[] = [];
    for (const h of f.hunks) {
      let old = h.oldStart;
      for (const l of h.lines) {
        if (l[0] === '-') {
          const text = l.slice(1).replace(/\r$/, '');
          if (text.trim() && !COMMENT.test(text)) lines.push(old);
          old++;
        } else if (l[0] === ' ') old++;
      }
    }
    if (lines.length) out.push([f.oldPath ?? f.path, lines]);
  }
  return out;
}

/**
 * Where the given lines at `rev` came from (git blame -w, porcelain): per line, the commit that last touched
 * it, the file's path in that commit and the line's number there. The porcelain names a group's file once
 * per commit unless the commit has several paths, so the last name seen for a commit stands for it.
 */
async function blameOrigins(
  repo: Repository,
  rev: string,
  path: string,
  lines: number[],
  signal?: AbortSignal,
): Promise<Array<{ sha: string; path: string; line: number }>> {
  const ranges: string[] = [];
  for (let i = 0; i < lines.length;) {
    let j = i;
    while (j + 1 < lines.length && lines[j + 1] === lines[j]! + 1) j++;
    ranges.push('-L', `${lines[i]},${lines[j]}`);
    i = j + 1;
  }
  const out = await gitBytes(
    repo.root,
    [...BLAME_DIFF_CONFIG, 'blame', '--no-textconv', '-w', '--porcelain', ...ranges, rev, '--', path],
    signal,
  ).catch(() => Buffer.alloc(0));
  const found: Array<{ sha: string; path: string; line: number }> = [];
  const fileOf = new Map<string, string>();
  for (const line of out.toString('utf8').split('\n')) {
    const m = /^([0-9a-f]{40}) (\d+) \d+/.exec(line);
    if (m) found.push({ sha: m[1]!, path: fileOf.get(m[1]!) ?? '', line: Number(m[2]) });
    else if (line.startsWith('filename ') && found.length) {
      const last = found.at(-1)!;
      fileOf.set(last.sha, (last.path = line.slice(9)));
    }
  }
  return found;
}

/** Commits that last touched the given lines at `rev`. */
async function blame(repo: Repository, rev: string, path: string, lines: number[], signal?: AbortSignal): Promise<Set<string>> {
  return new Set((await blameOrigins(repo, rev, path, lines, signal)).map((o) => o.sha));
}

/**
 * The lines SZZ blames, line by line: for each kept fix, the lines of the commits it blamed (path and line
 * number in that commit's version) that its removed lines come from. Asked of git blame itself, fix by fix.
 * Paths that git quotes in its porcelain (unusual characters) are left out rather than guessed.
 */
export async function blamedLines(
  repo: Repository,
  r: SzzResult,
  o: { signal?: AbortSignal; onProgress?: (done: number, total: number, what: string) => void } = {},
): Promise<Map<string, Map<string, Set<number>>>> {
  const out = new Map<string, Map<string, Set<number>>>();
  const blamedBy = new Map(r.fixes.map((f) => [f.sha, new Set(f.blamed)]));
  let done = 0;
  for await (const c of walkHistory(repo, { commits: [...blamedBy.keys()], maxDiffBytes: 4 << 20, signal: o.signal })) {
    const wanted = blamedBy.get(c.sha)!;
    for (const [path, lines] of blameTargets(c))
      for (const x of await blameOrigins(repo, `${c.sha}^`, path, lines, o.signal)) {
        if (!wanted.has(x.sha) || !x.path || x.path.startsWith('"')) continue;
        const files = out.get(x.sha) ?? out.set(x.sha, new Map()).get(x.sha)!;
        (files.get(x.path) ?? files.set(x.path, new Set()).get(x.path)!).add(x.line);
      }
    o.onProgress?.(++done, blamedBy.size, 'blaming lines');
  }
  return out;
}

/**
 * git blame walks a file's history back from the fix; with a commit-graph carrying changed-path Bloom
 * filters it skips the commits that did not touch the file without opening their trees (several times faster
 * on a file that changes rarely). The file is git's own cache (the one `git maintenance` and `git gc` write),
 * written or brought up to date here when blame is needed; where it cannot be (a read-only or shallow
 * repository), blame simply runs without it.
 */
async function writeCommitGraph(repo: Repository, signal?: AbortSignal): Promise<void> {
  if (repo.shallowBoundary.size > 0) return;
  await gitBytes(repo.root, ['commit-graph', 'write', '--reachable', '--changed-paths', '--no-progress'], signal).catch(() => undefined);
}

/** git blame for each fix's files, a few fixes at a time (git blame is single-threaded). */
async function blameAll(
  repo: Repository,
  asked: Array<[string, Array<[string, number[]]>]>,
  o: SzzOptions,
): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  if (asked.length === 0) return out;
  await writeCommitGraph(repo, o.signal);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < asked.length; i = next++) {
      const [sha, files] = asked[i]!;
      const blamed = new Set<string>();
      for (const [path, lines] of files) for (const s of await blame(repo, `${sha}^`, path, lines, o.signal)) blamed.add(s);
      out.set(sha, blamed);
      o.onProgress?.(out.size, asked.length, 'blaming');
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(4, cpus().length * 2)) }, worker));
  return out;
}

export async function szz(repo: Repository, o: SzzOptions = {}): Promise<SzzResult> {
  const maxBlamed = o.maxBlamed ?? 10;
  const listed = await listCommits(repo, { reverse: true, signal: o.signal });
  const commits: Array<{ sha: string; time: number }> = [];
  const merges = new Set<string>();
  const fixShas: string[] = [];
  for (const c of listed) {
    if (c.merge) {
      merges.add(c.sha);
      continue;
    }
    commits.push({ sha: c.sha, time: Date.parse(c.authorDate) });
    if (c.parents.length === 1 && isFix(c.message)) fixShas.push(c.sha);
  }
  const timeOf = new Map(commits.map((c) => [c.sha, c.time]));
  // The lines each fix removes, from its own diff (whitespace counts here: a line whose indentation the fix
  // changed is a changed line, whose origin blame -w then finds).
  const targets: LineQueries = new Map();
  let read = 0;
  for await (const c of walkHistory(repo, { commits: fixShas, maxDiffBytes: 4 << 20, signal: o.signal })) {
    const t = blameTargets(c);
    if (t.length) targets.set(c.sha, t);
    if (++read % 64 === 0) o.onProgress?.(read, fixShas.length, 'reading fixes');
  }
  const answered = { traced: 0, blamed: 0, mergeDiffs: 0 };
  let blamedOf: Map<string, Set<string>>;
  if (o.via === 'blame') {
    blamedOf = await blameAll(repo, [...targets], o);
    for (const t of targets.values()) answered.blamed += t.length;
  } else {
    const parentsOf = new Map(listed.map((c) => [c.sha, c.parents]));
    const r = await traceOrigins(repo, parentsOf, targets, {
      signal: o.signal,
      onProgress: (d, t) => o.onProgress?.(d, t, 'tracing lines'),
    });
    const fallback = await blameAll(repo, [...r.unresolved], o);
    for (const [sha, s] of fallback) for (const x of s) r.found.get(sha)!.add(x);
    blamedOf = r.found;
    for (const t of targets.values()) answered.traced += t.length;
    for (const u of r.unresolved.values()) {
      answered.traced -= u.length;
      answered.blamed += u.length;
    }
    answered.mergeDiffs = r.mergeDiffs;
  }
  const fixedBy = new Map<string, string[]>();
  const droppedFixes: Array<{ sha: string; reason: string }> = [];
  const fixes: SzzResult['fixes'] = [];
  for (const sha of fixShas) {
    const fixTime = timeOf.get(sha)!;
    // The commits a fix may blame: earlier non-merge commits of the history, not the fix itself.
    const candidates = [...(blamedOf.get(sha) ?? [])].filter(
      (s) => s !== sha && !merges.has(s) && timeOf.has(s) && timeOf.get(s)! <= fixTime,
    );
    if (candidates.length === 0) continue;
    if (candidates.length > maxBlamed) {
      droppedFixes.push({ sha, reason: `blames ${candidates.length} commits (more than ${maxBlamed})` });
      continue;
    }
    fixes.push({ sha, time: fixTime, blamed: candidates });
    for (const s of candidates) fixedBy.set(s, [...(fixedBy.get(s) ?? []), sha]);
  }
  return { commits, fixedBy, fixes, droppedFixes, answered };
}

/** The buggy commits as known at `cutoff`: only fixes made up to then count. */
export function labelsAt(r: SzzResult, cutoff: number): Set<string> {
  const buggy = new Set<string>();
  for (const f of r.fixes) if (f.time <= cutoff) f.blamed.forEach((s) => buggy.add(s));
  return buggy;
}

/**
 * Time-ordered splits (oldest 80% train, next 10% validation, newest 10% test) whose labels use only fixes
 * made before each split's end: a training commit is buggy only if a fix before the training boundary
 * says so, and likewise for validation; the test split sees every fix.
 */
export function timeOrderedSplits(r: SzzResult, o: { train?: number; validation?: number } = {}) {
  const n = r.commits.length;
  const trainEnd = Math.floor(n * (o.train ?? 0.8));
  const valEnd = Math.floor(n * ((o.train ?? 0.8) + (o.validation ?? 0.1)));
  const boundary = (k: number) => (k > 0 ? r.commits[k - 1]!.time : -Infinity);
  const at = (cut: number) => labelsAt(r, cut);
  const [trainBuggy, valBuggy, testBuggy] = [at(boundary(trainEnd)), at(boundary(valEnd)), at(Infinity)];
  const tag = (set: Set<string>) => (c: { sha: string; time: number }) => ({ ...c, label: set.has(c.sha) ? 1 : 0 });
  return {
    train: r.commits.slice(0, trainEnd).map(tag(trainBuggy)),
    validation: r.commits.slice(trainEnd, valEnd).map(tag(valBuggy)),
    test: r.commits.slice(valEnd).map(tag(testBuggy)),
  };
}
