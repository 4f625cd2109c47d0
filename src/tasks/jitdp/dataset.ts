import { FeatureState, changeInput, type ExpertFeatures } from '../../git/expertFeatures.js';
import { walkHistory } from '../../git/history.js';
import type { Repository } from '../../git/repository.js';
import { szz, timeOrderedSplits, type SzzResult } from '../../git/szz.js';
import type { DiffFile } from '../../git/types.js';

/**
 * A JIT-DP dataset of a repository: every non-merge commit, oldest first, with its 14 expert features,
 * the code tokens of its added and removed lines, its effort (lines added + deleted), and SZZ labels per
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
}

export interface JitdpDataset {
  train: JitdpCommit[];
  validation: JitdpCommit[];
  test: JitdpCommit[];
  szz: SzzResult;
}

const TOKEN = /[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?|[^\s\w]/g;

/** Code tokens of a change's added and removed lines (identifiers lower-cased). */
export function changeTokens(files: readonly DiffFile[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of files) {
    if (f.binary) continue;
    for (const h of f.hunks) {
      for (const l of h.lines) {
        const sign = l[0];
        if (sign !== '+' && sign !== '-') continue;
        for (const t of l.slice(1).match(TOKEN) ?? []) {
          const key = sign + t.toLowerCase();
          out.set(key, (out.get(key) ?? 0) + 1);
        }
      }
    }
  }
  return out;
}

export async function jitdpDataset(repo: Repository, o: { maxBlamed?: number; signal?: AbortSignal } = {}): Promise<JitdpDataset> {
  const labels = await szz(repo, o);
  const splits = timeOrderedSplits(labels);
  const labelOf = new Map<string, 0 | 1>();
  for (const s of [splits.train, splits.validation, splits.test]) for (const c of s) labelOf.set(c.sha, c.label as 0 | 1);
  const state = new FeatureState();
  const rows: JitdpCommit[] = [];
  for await (const c of walkHistory(repo, { reverse: true, maxDiffBytes: 256 << 10, signal: o.signal })) {
    if (c.merge) continue;
    const input = changeInput(c);
    const features = state.features(input);
    state.apply(input);
    rows.push({ sha: c.sha, time: input.time, message: c.message, features, tokens: changeTokens(c.files), effort: features.la + features.ld, label: labelOf.get(c.sha) ?? 0 });
  }
  const n = splits.train.length;
  const v = splits.validation.length;
  return { train: rows.slice(0, n), validation: rows.slice(n, n + v), test: rows.slice(n + v), szz: labels };
}

