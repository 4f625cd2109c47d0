import { cpus } from 'node:os';
import { isFix } from './fixMessage.js';
import { codeFiles } from './codeFiles.js';
import { walkHistory } from './history.js';
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
 */
export interface SzzOptions {
  maxBlamed?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export interface SzzResult {
  /** Every non-merge commit, oldest first, with its date. */
  commits: Array<{ sha: string; time: number }>;
  /** Buggy commit -> the fixing commits that blamed it. */
  fixedBy: Map<string, string[]>;
  /** Each kept fix with its time and the commits it blamed (for labels at an earlier cutoff). */
  fixes: Array<{ sha: string; time: number; blamed: string[] }>;
  droppedFixes: Array<{ sha: string; reason: string }>;
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

/** Commits that last touched the given lines at `rev` (git blame -w, porcelain). */
async function blame(repo: Repository, rev: string, path: string, lines: number[], signal?: AbortSignal): Promise<Set<string>> {
  const ranges: string[] = [];
  for (let i = 0; i < lines.length; ) {
    let j = i;
    while (j + 1 < lines.length && lines[j + 1] === lines[j]! + 1) j++;
    ranges.push('-L', `${lines[i]},${lines[j]}`);
    i = j + 1;
  }
  const out = await gitBytes(repo.root, ['blame', '-w', '--porcelain', ...ranges, rev, '--', path], signal).catch(() => Buffer.alloc(0));
  const shas = new Set<string>();
  for (const line of out.toString('latin1').split('\n')) {
    const m = /^([0-9a-f]{40}) \d+ \d+/.exec(line);
    if (m) shas.add(m[1]!);
  }
  return shas;
}

/**
 * git blame walks a file's history back from the fix; with a commit-graph carrying changed-path Bloom
 * filters it skips the commits that did not touch the file without opening their trees (several times faster
 * on a file that changes rarely). The file is git's own cache (the one `git maintenance` and `git gc` write),
 * written or brought up to date here; where it cannot be (a read-only or shallow repository), blame simply
 * runs without it.
 */
async function writeCommitGraph(repo: Repository, signal?: AbortSignal): Promise<void> {
  if (repo.shallowBoundary.size > 0) return;
  await gitBytes(repo.root, ['commit-graph', 'write', '--reachable', '--changed-paths', '--no-progress'], signal).catch(() => undefined);
}

export async function szz(repo: Repository, o: SzzOptions = {}): Promise<SzzResult> {
  const maxBlamed = o.maxBlamed ?? 10;
  const commits: Array<{ sha: string; time: number }> = [];
  const fixCommits: CommitRecord[] = [];
  const merges = new Set<string>();
  for await (const c of walkHistory(repo, { reverse: true, maxDiffBytes: 4 << 20, signal: o.signal })) {
    if (c.merge) {
      merges.add(c.sha);
      continue;
    }
    const time = Date.parse(c.authorDate);
    commits.push({ sha: c.sha, time });
    if (isFix(c.message) && c.parents.length === 1) fixCommits.push(c);
  }
  const timeOf = new Map(commits.map((c) => [c.sha, c.time]));
  const fixedBy = new Map<string, string[]>();
  const droppedFixes: Array<{ sha: string; reason: string }> = [];
  const fixes: SzzResult['fixes'] = [];
  if (fixCommits.length) await writeCommitGraph(repo, o.signal);
  // Blame the fixes a few at a time (git blame is single-threaded), then merge the results in fix order.
  const blamedOf = new Array<Set<string>>(fixCommits.length);
  let next = 0;
  let done = 0;
  /** The commits a fix may blame: earlier non-merge commits of the history, not the fix itself. */
  const candidatesOf = (fix: CommitRecord, blamed: Iterable<string>) => {
    const fixTime = timeOf.get(fix.sha)!;
    return [...blamed].filter((s) => s !== fix.sha && !merges.has(s) && timeOf.has(s) && timeOf.get(s)! <= fixTime);
  };
  const stoppedEarly = new Set<number>();
  const worker = async () => {
    for (let i = next++; i < fixCommits.length; i = next++) {
      const fix = fixCommits[i]!;
      const blamed = new Set<string>();
      const targets = blameTargets(fix);
      for (const [k, [path, lines]] of targets.entries()) {
        for (const s of await blame(repo, `${fix.sha}^`, path, lines, o.signal)) blamed.add(s);
        // A fix that already blames more than maxBlamed commits is dropped whatever its other files say.
        if (k + 1 < targets.length && candidatesOf(fix, blamed).length > maxBlamed) {
          stoppedEarly.add(i);
          break;
        }
      }
      blamedOf[i] = blamed;
      o.onProgress?.(++done, fixCommits.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(4, cpus().length * 2)) }, worker));
  for (const [i, fix] of fixCommits.entries()) {
    const fixTime = timeOf.get(fix.sha)!;
    const candidates = candidatesOf(fix, blamedOf[i]!);
    if (candidates.length === 0) continue;
    if (candidates.length > maxBlamed) {
      droppedFixes.push({ sha: fix.sha, reason: `blames ${stoppedEarly.has(i) ? 'at least ' : ''}${candidates.length} commits (more than ${maxBlamed})` });
      continue;
    }
    fixes.push({ sha: fix.sha, time: fixTime, blamed: candidates });
    for (const s of candidates) fixedBy.set(s, [...(fixedBy.get(s) ?? []), fix.sha]);
  }
  o.onProgress?.(fixCommits.length, fixCommits.length);
  return { commits, fixedBy, fixes, droppedFixes };
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
