import { changedLines, type ChangedLineAt } from '../../git/changedLines.js';
import { isTestPath } from '../../git/codeFiles.js';
import type { DiffFile } from '../../git/types.js';
import { ChangelingError } from '../../util/errors.js';
import { checkNumber } from '../../util/numbers.js';
import { lineTokens } from './dataset.js';
import { sigmoid } from './logistic.js';
import { isReasonToken } from './reasons.js';

/**
 * A line model: how likely a later fix is to blame each line a change adds, from what any repository's lines
 * have (the embedded default's, trained on the lines SZZ blames in public histories). Its inputs per added
 * line: the line's code tokens ("+foo", valued as `lineScoresBaseline` values them: occurrences in the line
 * times log(1 + n) / n, n the token's occurrences in the whole change) and the line's context ("@" names:
 * a test file, a new file, how much the file and the hunk add, how much the hunk removes, the line's length
 * and indentation). The weights are learnt to rank a commit's lines (a softmax over each buggy commit's
 * lines), the bias to make the score a probability at the training lines' base rate. Removed lines are not scored (a fix cannot blame them).
 */
export interface LineModel {
  bias: number;
  weights: Map<string, number>;
}

/** The inputs of every changed line of code files (null for removed and blank lines, which are not scored). */
export function lineInputs(files: readonly DiffFile[]): { lines: ChangedLineAt[]; inputs: Array<Map<string, number> | null> } {
  const lines = [...changedLines(files)];
  const { tokens, occurrence } = lineTokens(lines);
  const addedIn = new Map<string, number>();
  const hunkAdds = new Map<number, number>();
  const hunkRemoves = new Map<number, number>();
  for (const l of lines)
    if (l.sign === '+') {
      addedIn.set(l.path, (addedIn.get(l.path) ?? 0) + 1);
      hunkAdds.set(l.hunk, (hunkAdds.get(l.hunk) ?? 0) + 1);
    } else hunkRemoves.set(l.hunk, (hunkRemoves.get(l.hunk) ?? 0) + 1);
  const added = new Set(files.filter((f) => f.status === 'added').map((f) => f.path));
  const inputs = lines.map((l, i) => {
    if (l.sign !== '+' || !l.text.trim()) return null;
    const x = new Map<string, number>();
    for (const t of tokens[i]!) x.set(t, (x.get(t) ?? 0) + occurrence(t));
    if (isTestPath(l.path)) x.set('@test', 1);
    if (added.has(l.path)) x.set('@new file', 1);
    x.set('@file adds', Math.log1p(addedIn.get(l.path) ?? 0));
    x.set('@hunk adds', Math.log1p(hunkAdds.get(l.hunk) ?? 0));
    // A line that replaces old ones (the hunk removes lines too) edits existing logic.
    x.set('@hunk removes', Math.log1p(hunkRemoves.get(l.hunk) ?? 0));
    x.set('@tokens', Math.log1p(tokens[i]!.length));
    x.set('@indent', Math.min(16, /^\s*/.exec(l.text.replace(/\t/g, '    '))![0].length / 4) / 4);
    return x;
  });
  return { lines, inputs };
}

/** Each changed line's probability of being blamed by a later fix (null: not scored), and the tokens that raise it most. */
export function scoreLines(
  m: LineModel,
  files: readonly DiffFile[],
  top = 3,
): { lines: ChangedLineAt[]; scores: Array<number | null>; why: string[][] } {
  const { lines, inputs } = lineInputs(files);
  const why: string[][] = [];
  const scores = inputs.map((x) => {
    if (!x) {
      why.push([]);
      return null;
    }
    let z = m.bias;
    const parts: Array<[string, number]> = [];
    for (const [name, v] of x) {
      const w = m.weights.get(name);
      if (w === undefined) continue;
      z += w * v;
      // One-letter names (i, q, $) say nothing to a reader.
      if (w * v > 0 && name.length > 2 && isReasonToken(name)) parts.push([name, w * v]);
    }
    why.push(
      parts
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(([t]) => `token ${t}`),
    );
    return sigmoid(z);
  });
  return { lines, scores, why };
}

/** A line model from its file section `{"bias", "weights": {name: weight}}`, every number checked. */
export function parseLineModel(raw: unknown, where: string): LineModel {
  const o = raw as { bias?: unknown; weights?: unknown };
  if (typeof o?.weights !== 'object' || o.weights === null || Array.isArray(o.weights))
    throw new ChangelingError('io', `${where}: lines.weights must map code tokens and line features to weights`);
  return {
    bias: checkNumber(`${where}: lines.bias`, o.bias),
    weights: new Map(
      Object.entries(o.weights).map(([k, w]) => [k, checkNumber(`${where}: lines.weights ${JSON.stringify(k.slice(0, 40))}`, w)]),
    ),
  };
}
