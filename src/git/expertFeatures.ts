import { posix } from 'node:path';
import type { CommitRecord, DiffFile } from './types.js';
import { walkHistory } from './history.js';
import type { Repository } from './repository.js';
import { codeFiles } from './codeFiles.js';
import { isFix } from './fixMessage.js';

/**
 * The 14 expert features of Kamei et al. (TSE 2013) as Commit Guru computes them for JIT-Defects4J,
 * kept up to date in one pass over the history, oldest first: the features of a commit are read from the
 * state before it, then the commit is applied. Subsystem = top-level directory; directory = parent folder.
 *   NS, ND, NF, Entropy (-sum p log2 p over files, p = churn share; not normalised), LA, LD,
 *   LT (lines of the touched files before the change, mean over files), FIX (message classifier),
 *   NDEV (distinct earlier authors of the touched files), AGE (mean days since each touched file's last
 *   change; 0 for new files), NUC (sum of the touched files' earlier change counts), EXP (the author's
 *   earlier commits), REXP (each weighted 1 / (1 + age in years)), SEXP (the author's earlier commits to the
 *   touched subsystems, summed over subsystems).
 * Merge commits are neither scored nor applied (their changes are counted in the commits they merge).
 * Only code files count (`codeFiles.ts`: source extensions, never lock, generated, vendored or minified
 * files), for the change's own features and for the history ones alike; a commit that changes no code file
 * adds no experience (EXP, REXP, SEXP count earlier commits that changed code). Authors are people by name
 * (lower-cased; the email when there is no name), as Commit Guru tells them apart. Renames are followed
 * (the renamed file keeps its history), a deliberate difference from Commit Guru, whose tracker starts a
 * renamed file afresh.
 */
export const FEATURE_NAMES = ['ns', 'nd', 'nf', 'entropy', 'la', 'ld', 'lt', 'fix', 'ndev', 'age', 'nuc', 'exp', 'rexp', 'sexp'] as const;
/** How many expert features there are (the JIT-Fine head's input width). */
export const FEATURE_COUNT = FEATURE_NAMES.length;
export type FeatureName = (typeof FEATURE_NAMES)[number];
export type ExpertFeatures = Record<FeatureName, number>;

const DAY = 86_400_000;
const YEAR = 365 * DAY;

interface FileState {
  lines: number;
  authors: Set<string>;
  last: number;
  changes: number;
}

interface AuthorState {
  times: number[];
  subsystems: Map<string, number>;
}

export interface ChangeInput {
  author: string;
  time: number;
  message: string;
  files: readonly DiffFile[];
}

const subsystemOf = (p: string) => (p.includes('/') ? p.slice(0, p.indexOf('/')) : '');
const dirOf = (p: string) => posix.dirname(p);

/** A commit as the features see it: its code files only (`codeFiles.ts`), as Commit Guru counts them. */
export function changeInput(c: CommitRecord): ChangeInput {
  return {
    author: (c.author.name || c.author.email).toLowerCase(),
    time: Date.parse(c.authorDate),
    message: c.message,
    files: codeFiles(c.files),
  };
}

/** The configured git user as the features tell authors apart (name, else email, lower-cased); '' when there is none. */
export async function configuredAuthor(repo: Repository): Promise<string> {
  const get = async (key: string) => (await repo.git.raw(['config', key]).catch(() => '')).trim();
  return ((await get('user.name')) || (await get('user.email'))).toLowerCase();
}

/** The staged change as a would-be commit by the configured git user, now; code files only. */
export async function stagedChangeInput(repo: Repository, files: readonly DiffFile[], message = ''): Promise<ChangeInput> {
  return { author: await configuredAuthor(repo), time: Date.now(), message, files: codeFiles(files) };
}

/** A FeatureState as plain JSON (for the on-disk cache of a repository's feature history). */
export interface FeatureStateJson {
  files: Array<[string, { lines: number; authors: string[]; last: number; changes: number }]>;
  authors: Array<[string, { times: number[]; subsystems: Array<[string, number]> }]>;
}

export class FeatureState {
  private readonly files = new Map<string, FileState>();
  private readonly authors = new Map<string, AuthorState>();

  toJSON(): FeatureStateJson {
    return {
      files: [...this.files].map(([p, f]) => [p, { lines: f.lines, authors: [...f.authors], last: f.last, changes: f.changes }]),
      authors: [...this.authors].map(([a, st]) => [a, { times: st.times, subsystems: [...st.subsystems] }]),
    };
  }

  static fromJSON(j: FeatureStateJson): FeatureState {
    const s = new FeatureState();
    for (const [p, f] of j.files) s.files.set(p, { lines: f.lines, authors: new Set(f.authors), last: f.last, changes: f.changes });
    for (const [a, st] of j.authors) s.authors.set(a, { times: st.times, subsystems: new Map(st.subsystems) });
    return s;
  }

  /** The features of a change against the history applied so far. */
  features(c: ChangeInput): ExpertFeatures {
    const files = c.files;
    const la = files.reduce((s, f) => s + f.additions, 0);
    const ld = files.reduce((s, f) => s + f.deletions, 0);
    const churn = la + ld;
    let entropy = 0;
    if (churn > 0) {
      for (const f of files) {
        const p = (f.additions + f.deletions) / churn;
        if (p > 0) entropy -= p * Math.log2(p);
      }
    }
    const before = files.map((f) => (f.status === 'added' ? undefined : this.files.get(f.oldPath ?? f.path)));
    const nf = files.length;
    const devs = new Set<string>();
    let lt = 0,
      age = 0,
      nuc = 0;
    before.forEach((s) => {
      if (!s) return;
      lt += s.lines;
      age += (c.time - s.last) / DAY;
      nuc += s.changes;
      s.authors.forEach((a) => devs.add(a));
    });
    const subsystems = new Set(files.map((f) => subsystemOf(f.path)));
    const a = this.authors.get(c.author);
    let rexp = 0;
    let sexp = 0;
    if (a) {
      for (const t of a.times) rexp += 1 / (1 + Math.max(0, c.time - t) / YEAR);
      for (const s of subsystems) sexp += a.subsystems.get(s) ?? 0;
    }
    return {
      ns: subsystems.size,
      nd: new Set(files.map((f) => dirOf(f.path))).size,
      nf,
      entropy,
      la,
      ld,
      lt: nf ? lt / nf : 0,
      fix: isFix(c.message) ? 1 : 0,
      ndev: devs.size,
      age: nf ? age / nf : 0,
      nuc,
      exp: a?.times.length ?? 0,
      rexp,
      sexp,
    };
  }

  /** Makes a change part of the history. */
  apply(c: ChangeInput): void {
    for (const f of c.files) {
      const prev = f.status === 'added' ? undefined : this.files.get(f.oldPath ?? f.path);
      if (f.oldPath && f.status === 'renamed') this.files.delete(f.oldPath);
      if (f.status === 'deleted') {
        this.files.delete(f.path);
        continue;
      }
      const s: FileState = prev ? { ...prev, authors: new Set(prev.authors) } : { lines: 0, authors: new Set(), last: c.time, changes: 0 };
      s.lines = Math.max(0, s.lines + f.additions - f.deletions);
      s.authors.add(c.author);
      s.last = c.time;
      s.changes++;
      this.files.set(f.path, s);
    }
    // Experience is in changes to code: a commit without a code file adds none (as JIT-Defects4J counts it).
    if (c.files.length === 0) return;
    const a: AuthorState = this.authors.get(c.author) ?? { times: [], subsystems: new Map() };
    a.times.push(c.time);
    for (const s of new Set(c.files.map((f) => subsystemOf(f.path)))) a.subsystems.set(s, (a.subsystems.get(s) ?? 0) + 1);
    this.authors.set(c.author, a);
  }
}

/**
 * Features of every (non-merge) commit, oldest first, in one pass over the history. Only counts are
 * needed, so no diff text is kept.
 */
export async function* historyFeatures(
  repo: Repository,
  o: { signal?: AbortSignal; rev?: string; from?: FeatureState } = {},
): AsyncGenerator<{ sha: string; features: ExpertFeatures }, FeatureState> {
  const state = o.from ?? new FeatureState();
  for await (const c of walkHistory(repo, { reverse: true, maxDiffBytes: 0, signal: o.signal, rev: o.rev })) {
    if (c.merge) continue;
    const input = changeInput(c);
    yield { sha: c.sha, features: state.features(input) };
    state.apply(input);
  }
  return state;
}

/**
 * Walks the whole history once, handing each commit's features to `each`, and returns the state after the
 * newest commit (for scoring the staged change). An empty repository gives an empty state.
 */
export async function walkFeatures(
  repo: Repository,
  each: (sha: string, f: ExpertFeatures) => unknown,
  o: { signal?: AbortSignal; rev?: string; from?: FeatureState } = {},
): Promise<FeatureState> {
  if (repo.head === null) return o.from ?? new FeatureState();
  const gen = historyFeatures(repo, o);
  for (;;) {
    const r = await gen.next();
    if (r.done) return r.value;
    await each(r.value.sha, r.value.features);
  }
}
