import { InputFilter, type FilterOptions, type DropReason } from '../../git/inputFilter.js';
import type { DiffFile, DiffHunk } from '../../git/types.js';

/**
 * A staged change (or a commit) as commit-message model input, in the study's format: per file a header
 * line, then each diff line with its marker (`<add>`, `<del>`, `<keep>`), within a token budget:
 *
 *   <file> modified src/app.js
 *   <keep> function answer() {
 *   <del> return 41;
 *   <add> return 42;
 *
 * Files the input filter drops (lock, generated, vendored, minified, excluded) are scored down: they come
 * after every other file and keep only their header while the budget is short. Whole hunks are kept where
 * they fit (a hunk that does not fit is skipped for smaller ones after it); only when not even the first
 * hunk of the change fits is a hunk cut line by line. Binary files and submodules are a header only. The
 * result says what was left out and why, so that the user can be told.
 */
export interface InputFileReport {
  path: string;
  /** whole: every hunk; partial: some hunks or lines; header: only its header line; omitted: not even that. */
  kept: 'whole' | 'partial' | 'header' | 'omitted';
  hunks: { kept: number; total: number };
  /** Why it was scored down (the input filter's reason), if it was. */
  filtered: DropReason | null;
}

export interface ModelInput {
  text: string;
  tokens: number;
  budget: number;
  files: InputFileReport[];
  /** True when anything at all was left out. */
  shortened: boolean;
}

export interface InputOptions {
  /** Token budget for the whole text (the model's input length). */
  budget: number;
  /** Tokens of a piece of text as the model's tokenizer counts them. */
  countTokens: (text: string) => number;
  filter?: FilterOptions;
}

const MARK: Record<string, string> = { '+': '<add>', '-': '<del>', ' ': '<keep>' };

function header(f: DiffFile): string {
  const kind = f.binary ? 'binary ' : f.submodule ? 'submodule ' : '';
  const path = f.oldPath && f.oldPath !== f.path ? `${f.oldPath} -> ${f.path}` : f.path;
  return `<file> ${kind}${f.status} ${path}`;
}

function hunkLines(h: DiffHunk): string[] {
  return h.lines.filter((l) => MARK[l[0]!]).map((l) => `${MARK[l[0]!]} ${l.slice(1).replace(/\r$/, '').trim()}`);
}

export function modelInput(files: readonly DiffFile[], o: InputOptions): ModelInput {
  const filter = new InputFilter(o.filter);
  const reasons = new Map<DiffFile, DropReason>();
  for (const f of files) {
    const d = filter.check(f);
    if (d && d.reason !== 'binary') reasons.set(f, d.reason);
  }
  const ordered = [...files.filter((f) => !reasons.has(f)), ...files.filter((f) => reasons.has(f))];
  const reports = new Map<DiffFile, InputFileReport>();
  let used = 0;
  const out: string[][] = ordered.map(() => []);
  // Headers first: every file is named if the budget allows, before any file's lines.
  ordered.forEach((f, i) => {
    const text = header(f);
    const cost = o.countTokens(text + '\n');
    const total = f.binary || f.submodule ? 0 : f.hunks.length;
    if (used + cost <= o.budget) {
      used += cost;
      out[i]!.push(text);
      reports.set(f, { path: f.path, kept: total === 0 ? 'whole' : 'header', hunks: { kept: 0, total }, filtered: reasons.get(f) ?? null });
    } else reports.set(f, { path: f.path, kept: 'omitted', hunks: { kept: 0, total }, filtered: reasons.get(f) ?? null });
  });
  // Then whole hunks, file by file in that order.
  let cutDone = false;
  ordered.forEach((f, i) => {
    const r = reports.get(f)!;
    if (r.kept === 'omitted' || f.binary || f.submodule) return;
    for (const h of f.hunks) {
      const lines = hunkLines(h);
      const cost = o.countTokens(lines.join('\n') + '\n');
      if (used + cost <= o.budget) {
        used += cost;
        out[i]!.push(...lines);
        r.hunks.kept++;
      } else if (!cutDone && used < o.budget && out.every((x) => x.every((l) => l.startsWith('<file>')))) {
        // Nothing but headers so far and this hunk alone is too big: keep as many of its lines as fit.
        for (const l of lines) {
          const c = o.countTokens(l + '\n');
          if (used + c > o.budget) break;
          used += c;
          out[i]!.push(l);
        }
        cutDone = true;
      }
    }
    const partLines = out[i]!.length > 1;
    r.kept =
      r.hunks.kept === r.hunks.total && r.hunks.total > 0 ? 'whole' : partLines ? 'partial' : r.hunks.total === 0 ? 'whole' : 'header';
  });
  const fileReports = ordered.map((f) => reports.get(f)!);
  return {
    text: out
      .filter((x) => x.length)
      .map((x) => x.join('\n'))
      .join('\n'),
    tokens: used,
    budget: o.budget,
    files: fileReports,
    shortened: fileReports.some((r) => r.kept !== 'whole'),
  };
}

/** One line for people: what the model did not see. */
export function describeShortening(m: ModelInput): string | null {
  if (!m.shortened) return null;
  const left = m.files.filter((f) => f.kept !== 'whole');
  const parts = left
    .slice(0, 4)
    .map(
      (f) =>
        `${f.path} (${f.kept === 'omitted' ? 'left out' : f.kept === 'header' ? 'name only' : `${f.hunks.kept} of ${f.hunks.total} hunks`}${f.filtered ? `, ${f.filtered}` : ''})`,
    );
  return `the change is larger than the model's ${m.budget}-token input: ${parts.join(', ')}${left.length > 4 ? ` and ${left.length - 4} more` : ''}`;
}
