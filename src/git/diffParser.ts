import { readQuoted, unquotePath } from './quote.js';
import { splitLines } from './lines.js';
import type { DiffFile, DiffHunk, FileStatus } from './types.js';

/**
 * A streaming parser of git's unified diff output into files, hunks and lines (renames, binary files, mode
 * changes, CRLF, quoted paths).
 */

export interface DiffParserOptions {
  /**
   * Keep at most this many characters of hunk line text (counts stay exact). No one file may take more than
   * half of it: a file whose next hunk does not fit keeps the hunks before it and no more, and the files after
   * it are still read, so one huge file (a vendored bundle, a generated one) cannot leave the others empty.
   */
  maxBytes?: number;
}

const HUNK_HEADER = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)$/;

interface Pending {
  file: DiffFile;
  headerOld: string | null;
  headerNew: string | null;
  minus: string | null;
  plus: string | null;
  renameFrom: string | null;
  renameTo: string | null;
  kind: FileStatus;
  inBinaryPatch: boolean;
}

/**
 * A line-at-a-time parser for git's unified diff output (`git diff`, `git log -p`, `git show`).
 *
 * Hunk bodies are read by their line counts, never by their look, so a removed line that reads
 * "-- a/x" or "diff --git" cannot be mistaken for a header. It handles renames and copies, mode
 * changes, binary files (both "Binary files ... differ" and "GIT binary patch"), "\ No newline at end
 * of file", CRLF, C-quoted paths, submodules (gitlinks), and combined merge diffs (kept as a file
 * entry without hunks).
 */
export class DiffParser {
  readonly files: DiffFile[] = [];
  /** True once some hunk lines were left out because of `maxBytes`. */
  truncated = false;

  private readonly maxBytes: number;
  private cur: Pending | null = null;
  private hunk: DiffHunk | null = null;
  private oldLeft = 0;
  private newLeft = 0;
  private stored = 0;
  /** What the open file has kept, and whether it has stopped keeping hunks. */
  private fileStored = 0;
  private fileFull = false;
  /** What the hunk being read has kept. */
  private hunkStored = 0;
  private lastKind = '';

  constructor(options: DiffParserOptions = {}) {
    this.maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
  }

  line(text: string, nonUtf8 = false): void {
    const cur = this.cur;
    if (cur && (this.oldLeft > 0 || this.newLeft > 0)) {
      if (this.bodyLine(cur.file, text, nonUtf8)) return;
      // A hunk that ends before its counts say: the diff was cut; read this line as a header.
      this.oldLeft = this.newLeft = 0;
      this.hunk = null;
    }
    if (text.charCodeAt(0) === 92 /* \ */) {
      if (cur) this.noEol(cur.file);
      return;
    }
    if (text.startsWith('diff ')) {
      this.closeFile();
      if (text.startsWith('diff --git ')) this.openFile(text.slice(11));
      else if (text.startsWith('diff --cc ') || text.startsWith('diff --combined ')) this.openCombined(text);
      return;
    }
    if (!cur || cur.file.combined || cur.inBinaryPatch) return;
    this.headerLine(cur, text);
  }

  /** Ends the input and returns the files. */
  finish(): DiffFile[] {
    this.closeFile();
    return this.files;
  }

  private bodyLine(file: DiffFile, text: string, nonUtf8: boolean): boolean {
    const c = text.length === 0 ? ' ' : text[0];
    if (c === ' ') {
      this.oldLeft--;
      this.newLeft--;
    } else if (c === '-') {
      this.oldLeft--;
      file.deletions++;
    } else if (c === '+') {
      this.newLeft--;
      file.additions++;
    } else if (c === '\\') {
      this.noEol(file);
      return true;
    } else {
      return false;
    }
    this.lastKind = c;
    if (nonUtf8) file.nonUtf8 = true;
    if (text.charCodeAt(text.length - 1) === 13) file.crlf = true;
    const hunk = this.hunk;
    if (hunk) {
      if (this.stored + text.length > this.maxBytes || this.fileStored + text.length > this.maxBytes / 2) {
        this.dropHunk(file);
      } else {
        this.stored += text.length;
        this.fileStored += text.length;
        this.hunkStored += text.length;
        hunk.lines.push(text.length === 0 ? ' ' : text);
      }
    }
    if (this.oldLeft <= 0 && this.newLeft <= 0) this.hunk = null;
    return true;
  }

  /** The hunk being read does not fit: it goes (with what it kept), and this file keeps no further hunk. */
  private dropHunk(file: DiffFile): void {
    if (this.hunk && file.hunks[file.hunks.length - 1] === this.hunk) {
      file.hunks.pop();
      this.stored -= this.hunkStored;
      this.fileStored -= this.hunkStored;
    }
    this.hunk = null;
    file.truncated = true;
    this.truncated = true;
    this.fileFull = true;
  }

  private noEol(file: DiffFile): void {
    const h = file.hunks[file.hunks.length - 1];
    if (h) (h.noEolAt ??= []).push(h.lines.length);
    if (this.lastKind === '-' || this.lastKind === ' ') file.oldNoEol = true;
    if (this.lastKind === '+' || this.lastKind === ' ') file.newNoEol = true;
  }

  private headerLine(cur: Pending, text: string): void {
    const file = cur.file;
    if (text.startsWith('@@ ')) {
      const m = HUNK_HEADER.exec(text);
      if (!m) return;
      this.oldLeft = m[2] === undefined ? 1 : Number(m[2]);
      this.newLeft = m[4] === undefined ? 1 : Number(m[4]);
      this.lastKind = '';
      if (this.stored >= this.maxBytes || this.fileFull) {
        file.truncated = true;
        this.truncated = true;
        this.hunk = null;
        return;
      }
      this.hunkStored = 0;
      this.hunk = {
        oldStart: Number(m[1]),
        oldLines: this.oldLeft,
        newStart: Number(m[3]),
        newLines: this.newLeft,
        section: m[5] ?? '',
        lines: [],
      };
      file.hunks.push(this.hunk);
    } else if (text.startsWith('--- ')) {
      cur.minus = stripPrefix(pathField(text.slice(4)));
    } else if (text.startsWith('+++ ')) {
      cur.plus = stripPrefix(pathField(text.slice(4)));
    } else if (text.startsWith('index ')) {
      const mode = /^index [0-9a-f]+\.\.[0-9a-f]+ (\d{6})$/.exec(text);
      if (mode) {
        file.oldMode ??= mode[1]!;
        file.newMode ??= mode[1]!;
      }
    } else if (text.startsWith('new file mode ')) {
      cur.kind = 'added';
      file.newMode = text.slice(14);
    } else if (text.startsWith('deleted file mode ')) {
      cur.kind = 'deleted';
      file.oldMode = text.slice(18);
    } else if (text.startsWith('old mode ')) {
      file.oldMode = text.slice(9);
    } else if (text.startsWith('new mode ')) {
      file.newMode = text.slice(9);
    } else if (text.startsWith('rename from ') || text.startsWith('copy from ')) {
      cur.kind = text[0] === 'r' ? 'renamed' : 'copied';
      cur.renameFrom = unquotePath(text.slice(text.indexOf(' from ') + 6));
    } else if (text.startsWith('rename to ') || text.startsWith('copy to ')) {
      cur.renameTo = unquotePath(text.slice(text.indexOf(' to ') + 4));
    } else if (text.startsWith('similarity index ')) {
      file.similarity = parseInt(text.slice(17), 10);
    } else if (text.startsWith('Binary files ')) {
      file.binary = true;
    } else if (text.startsWith('GIT binary patch')) {
      file.binary = true;
      cur.inBinaryPatch = true;
    }
  }

  private openFile(rest: string): void {
    this.fileStored = 0;
    this.fileFull = false;
    const [a, b] = splitHeaderPaths(rest);
    this.cur = {
      file: {
        status: 'modified',
        path: b ?? a ?? '',
        oldPath: null,
        oldMode: null,
        newMode: null,
        similarity: null,
        binary: false,
        submodule: false,
        additions: 0,
        deletions: 0,
        hunks: [],
      },
      headerOld: a,
      headerNew: b,
      minus: null,
      plus: null,
      renameFrom: null,
      renameTo: null,
      kind: 'modified',
      inBinaryPatch: false,
    };
  }

  private openCombined(text: string): void {
    const path = unquotePath(text.slice(text.indexOf(' ', 5) + 1));
    this.openFile(`a/${path} b/${path}`);
    this.cur!.file.combined = true;
  }

  private closeFile(): void {
    const cur = this.cur;
    if (!cur) return;
    this.cur = null;
    this.hunk = null;
    this.oldLeft = this.newLeft = 0;
    const f = cur.file;
    f.status = cur.kind;
    const oldName = cur.renameFrom ?? cur.minus ?? cur.headerOld;
    const newName = cur.renameTo ?? cur.plus ?? cur.headerNew;
    f.path = (cur.kind === 'deleted' ? oldName : newName) ?? oldName ?? '';
    f.oldPath = cur.kind === 'renamed' || cur.kind === 'copied' ? oldName : null;
    if (f.oldMode === '160000' || f.newMode === '160000') f.submodule = true;
    this.files.push(f);
  }
}

/** Parses a whole diff (as git prints it) into files. */
export function parseDiff(input: Buffer | string, options: DiffParserOptions = {}): { files: DiffFile[]; truncated: boolean } {
  const p = new DiffParser(options);
  splitLines(input, (t, n) => p.line(t, n));
  return { files: p.finish(), truncated: p.truncated };
}

/** "a/x" -> "x"; "/dev/null" -> null. git adds a tab after names that contain a space. */
function pathField(s: string): string | null {
  let v = s.endsWith('\t') ? s.slice(0, -1) : s;
  v = unquotePath(v);
  return v === '/dev/null' ? null : v;
}

function stripPrefix(p: string | null): string | null {
  if (p === null) return null;
  return /^[a-z]\//.test(p) ? p.slice(2) : p;
}

/** The two paths of "diff --git a/X b/Y", where unquoted names may contain spaces. */
function splitHeaderPaths(rest: string): [string | null, string | null] {
  if (rest.startsWith('"')) {
    const a = readQuoted(rest, 0);
    const tail = rest.slice(a.end + 1);
    return [stripPrefix(a.text), stripPrefix(tail.startsWith('"') ? readQuoted(tail, 0).text : tail)];
  }
  const q = rest.indexOf(' "');
  if (q >= 0) return [stripPrefix(rest.slice(0, q)), stripPrefix(readQuoted(rest, q + 1).text)];
  // Same name on both sides: "a/P b/P" has length 2|P| + 5.
  if ((rest.length - 5) % 2 === 0) {
    const n = (rest.length - 5) / 2;
    const a = rest.slice(0, n + 2);
    const b = rest.slice(n + 3);
    if (a.slice(2) === b.slice(2)) return [stripPrefix(a), stripPrefix(b)];
  }
  // Different names (a rename): the exact names come from "rename from/to" or "---/+++" lines.
  const sp = rest.indexOf(' b/');
  if (sp >= 0) return [stripPrefix(rest.slice(0, sp)), stripPrefix(rest.slice(sp + 1))];
  const mid = rest.indexOf(' ');
  return mid < 0 ? [rest, rest] : [stripPrefix(rest.slice(0, mid)), stripPrefix(rest.slice(mid + 1))];
}
