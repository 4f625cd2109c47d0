import { ChangelingError } from '../util/errors.js';
import { checkNumber } from '../util/numbers.js';

/**
 * Line-level defect localisation metrics as JITLine (Pornprasit and Tantithamthavorn, MSR 2021), JIT-Fine
 * (Ni et al., TSE 2022) and JIT-Smart (Chen et al., FSE 2024) compute them (`get_line_level_metrics` in
 * their my_util.py): per buggy commit, its changed lines ranked by score, highest first,
 * - Top-k accuracy: the share of defective lines among the k highest-ranked (all of them when fewer than k);
 * - IFA: how many clean lines are ranked above the first defective one;
 * - Recall@20%Effort: the share of the commit's defective lines found in its first floor(20%) lines;
 * - Effort@20%Recall: the share of the commit's lines inspected to reach ceil(20%) of its defective lines;
 * then each averaged over the buggy commits. A commit is buggy here when at least one of its lines is
 * labelled defective (the references evaluate the buggy commits their commit model also flagged; the scores
 * file decides which commits are in). Equal scores keep the file's order (the references' pandas sort leaves
 * it unspecified); their min-max scaling of the scores changes no order and is not needed.
 */
export interface ScoredLine {
  commit: string;
  path: string;
  line: number;
  score: number;
  label: 0 | 1;
}

export interface CommitLineMetrics {
  top5: number;
  top10: number;
  ifa: number;
  recall20Effort: number;
  effort20Recall: number;
}

export interface LineMetrics extends CommitLineMetrics {
  /** Buggy commits the averages are over, and every commit in the file. */
  buggyCommits: number;
  commits: number;
  lines: number;
}

/** One commit's metrics, or null when none of its lines is defective. */
export function commitLineMetrics(lines: ReadonlyArray<Pick<ScoredLine, 'score' | 'label'>>): CommitLineMetrics | null {
  const labels = lines
    .map((l, i) => ({ ...l, i }))
    .sort((a, b) => b.score - a.score || a.i - b.i)
    .map((l) => l.label);
  const buggy = labels.reduce<number>((s, y) => s + y, 0);
  if (buggy === 0) return null;
  const n = labels.length;
  const top = (k: number) => labels.slice(0, Math.min(k, n)).reduce<number>((s, y) => s + y, 0) / Math.min(k, n);
  const rows = labels.flatMap((y, i) => (y === 1 ? [i + 1] : []));
  return {
    top5: top(5),
    top10: top(10),
    ifa: rows[0]! - 1,
    recall20Effort: labels.slice(0, Math.floor(0.2 * n)).reduce<number>((s, y) => s + y, 0) / buggy,
    effort20Recall: rows[Math.ceil(0.2 * buggy) - 1]! / n,
  };
}

/** The metrics averaged over the buggy commits of a scored-lines file. */
export function lineMetrics(lines: readonly ScoredLine[]): LineMetrics {
  const byCommit = new Map<string, ScoredLine[]>();
  for (const l of lines) {
    const list = byCommit.get(l.commit);
    if (list) list.push(l);
    else byCommit.set(l.commit, [l]);
  }
  const per = [...byCommit.values()].map(commitLineMetrics).filter((m): m is CommitLineMetrics => m !== null);
  if (!per.length) throw new ChangelingError('usage', 'no commit has a defective line (label 1): line-level metrics need at least one');
  const mean = (k: keyof CommitLineMetrics) => per.reduce((s, m) => s + m[k], 0) / per.length;
  return {
    buggyCommits: per.length,
    commits: byCommit.size,
    lines: lines.length,
    top5: mean('top5'),
    top10: mean('top10'),
    ifa: mean('ifa'),
    recall20Effort: mean('recall20Effort'),
    effort20Recall: mean('effort20Recall'),
  };
}

/** A scored-lines file: JSON Lines {"commit", "path", "line", "score", "label"}, checked value by value. */
export function parseScoredLines(text: string, where: string): ScoredLine[] {
  const out: ScoredLine[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const s = raw.trim();
    if (!s || s.startsWith('#')) continue;
    const at = `${where}:${i + 1}`;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(s);
    } catch {
      throw new ChangelingError('usage', `${at}: not valid JSON (one {"commit", "path", "line", "score", "label"} per line)`);
    }
    if (typeof o?.commit !== 'string' || !o.commit) throw new ChangelingError('usage', `${at}: "commit" must be a non-empty string`);
    if (typeof o.path !== 'string') throw new ChangelingError('usage', `${at}: "path" must be a string`);
    if (o.label !== 0 && o.label !== 1) throw new ChangelingError('usage', `${at}: "label" must be 0 or 1`);
    out.push({
      commit: o.commit,
      path: o.path,
      line: checkNumber(`${at}: "line"`, o.line, { min: 1, integer: true }, 'usage'),
      score: checkNumber(`${at}: "score"`, o.score, {}, 'usage'),
      label: o.label,
    });
  }
  if (!out.length) throw new ChangelingError('usage', `${where} has no scored lines`);
  return out;
}
