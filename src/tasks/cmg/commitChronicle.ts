import type { DiffFile, DiffHunk } from '../../git/types.js';

/**
 * A change serialised exactly as the CommitChronicle models were trained on it (Eliseeva et al., "From
 * Commit Message Generation to History-Aware Commit Message Completion", ASE 2023; dataset
 * saridormi/commit_chronicle, models JetBrains-Research/commit_message_generation). The rules, read from
 * those repositories:
 *
 * - Collection (PyDriller 1.x over GitPython, `skip_whitespaces`): one diff per file against the first
 *   parent, computed with `git diff -w -M`, each the patch text after git's file headers (hunk headers
 *   included, "\ No newline at end of file" included). Files whose old and new blobs are equal (a mode
 *   change only) are skipped; copies are never reported (no -C).
 * - Cleaning (CommitChronicle's DiffProcessor): a file whose diff text is not pure ASCII is dropped; every
 *   line is stripped, empty lines and lines that both start and end with "@@" (a hunk header without
 *   function context) are dropped, lines are joined with "\n" plus a final "\n", and runs of whitespace
 *   other than newlines become one space.
 * - Input (the DefaultPreprocessor): per file a header line (`new file P`, `deleted file P`, `rename from
 *   A` + `rename to B`, or the path), "\n", the cleaned diff; concatenated. The CodeReviewer variant marks
 *   each cleaned line `<add>`, `<del>` or `<keep>` (the first character replaced for + and -).
 * - Tokens: the text without special tokens, cut at `maxInput - 2`, then `<s> ... </s>`.
 *
 * The caller must read the diff with `ignoreWhitespace` for the first rule to hold.
 */
export type ChronicleVariant = 'default' | 'codereviewer';

export interface ChronicleFile {
  path: string;
  /** Null when the file is left out of the text, with the reason. */
  text: string | null;
  reason: 'non-ascii' | 'mode-only' | null;
}

/** Python's str.strip()/\s whitespace for ASCII text (it includes \x1c-\x1f, which JavaScript's \s does not). */
const WS = '\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f ';
const STRIP = new RegExp(`^[${WS}]+|[${WS}]+$`, 'g');
const SQUEEZE = new RegExp(`[${WS.replace('\\n', '')}]+`, 'g');
// eslint-disable-next-line no-control-regex
const ASCII = /^[\x00-\x7f]*$/;

export const pyStrip = (s: string) => s.replace(STRIP, '');

function hunkHeader(h: DiffHunk): string {
  const range = (start: number, n: number) => (n === 1 ? `${start}` : `${start},${n}`);
  return `@@ -${range(h.oldStart, h.oldLines)} +${range(h.newStart, h.newLines)} @@${h.section ? ` ${h.section}` : ''}`;
}

/** The file's patch text as GitPython hands it to PyDriller: what follows git's headers. */
function rawFileDiff(f: DiffFile): string {
  if (f.binary)
    return `Binary files ${f.status === 'added' ? '/dev/null' : `a/${f.oldPath ?? f.path}`} and ${f.status === 'deleted' ? '/dev/null' : `b/${f.path}`} differ\n`;
  const out: string[] = [];
  for (const h of f.hunks) {
    out.push(hunkHeader(h));
    const marks = h.noEolAt ?? [];
    h.lines.forEach((l, i) => {
      for (const m of marks) if (m === i) out.push('\\ No newline at end of file');
      out.push(l);
    });
    for (const m of marks) if (m === h.lines.length) out.push('\\ No newline at end of file');
  }
  return out.length ? out.join('\n') + '\n' : '';
}

/** CommitChronicle's DiffProcessor._process_diff. */
function cleanDiff(diff: string): string {
  const kept: string[] = [];
  for (const raw of diff.split('\n')) {
    const line = pyStrip(raw);
    if (!line) continue;
    if (line.startsWith('@@') && line.endsWith('@@')) continue;
    kept.push(line);
  }
  return [...kept, ''].join('\n').replace(SQUEEZE, ' ');
}

/** The CodeReviewer preprocessor's line marks over a cleaned diff. */
function markLines(diff: string): string {
  const out: string[] = [];
  for (const raw of diff.split('\n')) {
    const line = pyStrip(raw);
    if (!line) continue;
    if (line.startsWith('+')) out.push('<add>' + line.slice(1));
    else if (line.startsWith('-')) out.push('<del>' + line.slice(1));
    else out.push('<keep>' + line);
  }
  return out.join('\n') + '\n';
}

function fileHeader(f: DiffFile): string {
  if (f.status === 'added') return `new file ${f.path}`;
  if (f.status === 'deleted') return `deleted file ${f.path}`;
  if (f.status === 'renamed') return `rename from ${f.oldPath}\nrename to ${f.path}`;
  if (f.status === 'copied') return `copy from ${f.oldPath}\ncopy to ${f.path}`;
  return f.path;
}

/** Each file's part of the model text, in git's order (or why it has none). */
export function chronicleFiles(files: readonly DiffFile[], variant: ChronicleVariant): ChronicleFile[] {
  return files.map((f) => {
    // PyDriller's UNKNOWN: same blob on both sides (a mode change with no content change). A modified file
    // without hunks in a -w diff is that (git leaves whitespace-only changes out), except for a mode change
    // together with a whitespace-only edit, which PyDriller keeps as a header: the one case not matched.
    if (f.status === 'modified' && !f.binary && f.hunks.length === 0) return { path: f.path, text: null, reason: 'mode-only' };
    const raw = rawFileDiff(f);
    if (!ASCII.test(raw) || f.nonUtf8) return { path: f.path, text: null, reason: 'non-ascii' };
    const diff = cleanDiff(raw);
    return { path: f.path, text: fileHeader(f) + '\n' + (variant === 'codereviewer' ? markLines(diff) : diff), reason: null };
  });
}
