import { FeatureState, changeInput, type ExpertFeatures } from '../../git/expertFeatures.js';
import { walkHistory } from '../../git/history.js';
import type { Repository } from '../../git/repository.js';
import { szz, timeOrderedSplits, type SzzResult } from '../../git/szz.js';
import type { DiffFile } from '../../git/types.js';
import { changedLines } from '../../git/changedLines.js';

/**
 * A JIT-DP dataset of a repository: every non-merge commit that changes code, oldest first, with its 14 expert features,
 * the code tokens of its added and removed lines (code files only), its effort (lines added + deleted), and SZZ labels per
 * time-ordered split (each split's labels use only fixes made before its end).
 */
export interface JitdpCommit {
  sha: string;
  time: number;
  message: string;
  features: ExpertFeatures;
  /** Tokens of added lines ("+tok") and removed lines ("-tok"), with counts. */
  tokens: Map<string, number>;
  effort: number;
  label: 0 | 1;
  /** The added and removed lines' text (without the sign), each side capped at `TEXT_CAP` characters: the neural model's input. */
  added: string;
  removed: string;
  /** How the kept lines fall into hunks: lines per hunk, in order, for each side (absent in datasets cached before it). */
  hunks?: { added: number[]; removed: number[] };
}

/** Per-side cap on the kept changed-line text: more than a 512-token model input ever reads. */
export const TEXT_CAP = 6000;

export interface JitdpDataset {
  train: JitdpCommit[];
  validation: JitdpCommit[];
  test: JitdpCommit[];
  szz: SzzResult;
}

const TOKEN = /[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?|[^\s\w]/g;

/** The added and removed lines of a change as text, one line each, capped at `cap` characters per side. */
function changeText(
  files: readonly DiffFile[],
  cap = TEXT_CAP,
): { added: string; removed: string; hunks: { added: number[]; removed: number[] } } {
  const side = { '+': [] as string[], '-': [] as string[] };
  const used = { '+': 0, '-': 0 };
  const hunks = { '+': [] as number[], '-': [] as number[] };
  const lastHunk = { '+': -1, '-': -1 };
  for (const l of changedLines(files)) {
    const text = l.text.trim();
    if (!text || used[l.sign] >= cap) continue;
    side[l.sign].push(text);
    used[l.sign] += text.length + 1;
    if (l.hunk !== lastHunk[l.sign]) hunks[l.sign].push(0);
    hunks[l.sign][hunks[l.sign].length - 1]!++;
    lastHunk[l.sign] = l.hunk;
  }
  return {
    added: side['+'].join('\n').slice(0, cap),
    removed: side['-'].join('\n').slice(0, cap),
    hunks: { added: hunks['+'], removed: hunks['-'] },
  };
}

/** The code tokens of one changed line, each with the line's sign ("+foo", "-foo"; identifiers lower-cased). */
export function tokensOfLine(sign: '+' | '-', text: string): string[] {
  return (text.match(TOKEN) ?? []).map((t) => sign + t.toLowerCase());
}

/**
 * The tokens of each changed line, and what one occurrence of a token is worth on a line: the change's
 * log count of the token, log(1 + n), shared among its n occurrences. What the linear model's line scores
 * and the line model's token inputs both value a line's tokens by.
 */
export function lineTokens(lines: ReadonlyArray<{ sign: '+' | '-'; text: string }>): {
  tokens: string[][];
  occurrence: (token: string) => number;
} {
  const tokens = lines.map((l) => tokensOfLine(l.sign, l.text));
  const counts = new Map<string, number>();
  for (const ts of tokens) for (const t of ts) counts.set(t, (counts.get(t) ?? 0) + 1);
  return {
    tokens,
    occurrence: (t) => {
      const n = counts.get(t) ?? 0;
      return n ? Math.log1p(n) / n : 0;
    },
  };
}

/** Code tokens of a change's added and removed lines, with counts. */
export function changeTokens(files: readonly DiffFile[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const l of changedLines(files)) for (const key of tokensOfLine(l.sign, l.text)) out.set(key, (out.get(key) ?? 0) + 1);
  return out;
}

export async function jitdpDataset(repo: Repository, o: { maxBlamed?: number; signal?: AbortSignal } = {}): Promise<JitdpDataset> {
  const labels = await szz(repo, o);
  const state = new FeatureState();
  const rows: JitdpCommit[] = [];
  for await (const c of walkHistory(repo, { reverse: true, maxDiffBytes: 256 << 10, signal: o.signal })) {
    if (c.merge) continue;
    const input = changeInput(c);
    const features = state.features(input);
    state.apply(input);
    // Commits that change no code file are not changes a defect model can judge (nothing of theirs is ever
    // blamed): they are in no split, as JIT-Defects4J has only commits that change code.
    if (input.files.length === 0) continue;
    // input.files: the code files, whose tokens and lines the models read (as the features count them).
    rows.push({
      sha: c.sha,
      time: input.time,
      message: c.message,
      features,
      tokens: changeTokens(input.files),
      effort: features.la + features.ld,
      label: 0,
      ...changeText(input.files),
    });
  }
  // Time-ordered splits of the commits that change code (the walks list them in the same order).
  const kept = new Set(rows.map((r) => r.sha));
  const splits = timeOrderedSplits({ ...labels, commits: labels.commits.filter((c) => kept.has(c.sha)) });
  const labelOf = new Map<string, 0 | 1>();
  for (const s of [splits.train, splits.validation, splits.test]) for (const c of s) labelOf.set(c.sha, c.label as 0 | 1);
  for (const r of rows) r.label = labelOf.get(r.sha) ?? 0;
  const n = splits.train.length;
  const v = splits.validation.length;
  return { train: rows.slice(0, n), validation: rows.slice(n, n + v), test: rows.slice(n + v), szz: labels };
}
