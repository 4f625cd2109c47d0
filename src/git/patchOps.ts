import { unquotePath } from './quote.js';
import { ByteLineSplitter } from './lines.js';

/**
 * A lean reader of `git log --raw -p` (and of one `git diff`) for following lines through a history: per
 * commit, the raw entries (every changed path with its blobs, including the ones whose patch `-w` leaves out)
 * and, per patched file, its hunks as a line script. Hunk lines are never decoded: only their first byte is
 * read, so a 10,000-commit history streams through at the speed git writes it (`diffParser.ts` keeps the
 * text, which the features and models need and this does not).
 */

/** Line-script opcodes: keep the old lines up to a 0-based old index, keep n, drop n, add n. */
const KEEP_TO = 0;
const KEEP = 1;
const DROP = 2;
export const ADD = 3;

export interface RawEntry {
  /** A, D, M, T, R or C. */
  status: string;
  oldPath: string;
  newPath: string;
  oldBlob: string;
  newBlob: string;
  /** A gitlink (submodule) on the new side. */
  gitlink: boolean;
  /** The path tokens as git printed them (quoted where needed), to find the entry's patch by its header. */
  header: string;
}

export interface FilePatch {
  /** Opcode, count pairs; see `applyScript`. */
  script: number[];
  adds: number;
  drops: number;
  binary: boolean;
}

export interface PatchedCommit {
  sha: string;
  parents: string[];
  raw: RawEntry[];
  /** Patches by raw entry index (entries without one changed nothing `-w` sees, or only their mode). */
  patches: Map<number, FilePatch>;
}

/** The format the walk asks for: one header line per commit, which no raw or patch line can begin with. */
export const ORIGINS_FORMAT = '--format=%x01%x01%H %P';
const NUL_BLOB = /^0{40,64}$/;

const prefixed = (p: string, token: string) => (token.startsWith('"') ? `"${p}${token.slice(1)}` : p + token);

/** Parses one raw line (`:100644 100644 <old> <new> M\tpath`, renames with two paths). */
function parseRawLine(line: string): RawEntry | null {
  const tab = line.indexOf('\t');
  if (!line.startsWith(':') || tab < 0) return null;
  const [, newMode = '', oldBlob = '', newBlob = '', status = ''] = line.slice(1, tab).split(' ');
  const paths = line.slice(tab + 1).split('\t');
  const oldTok = paths[0] ?? '';
  const newTok = paths[1] ?? oldTok;
  return {
    status: status[0] ?? 'M',
    oldPath: unquotePath(oldTok),
    newPath: unquotePath(newTok),
    oldBlob: NUL_BLOB.test(oldBlob) ? '' : oldBlob,
    newBlob: NUL_BLOB.test(newBlob) ? '' : newBlob,
    gitlink: newMode === '160000',
    header: `diff --git ${prefixed('a/', oldTok)} ${prefixed('b/', newTok)}`,
  };
}

const HUNK = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/;

/** Builds one file's line script from its hunk lines, fed a line at a time. */
class ScriptBuilder {
  readonly patch: FilePatch = { script: [], adds: 0, drops: 0, binary: false };
  /** Old and new lines the current hunk still has to show. */
  private oldLeft = 0;
  private newLeft = 0;
  private last = -1;

  get inHunk(): boolean {
    return this.oldLeft > 0 || this.newLeft > 0;
  }

  /** A hunk header; false when the line is not one. */
  hunk(line: string): boolean {
    const m = HUNK.exec(line);
    if (!m) return false;
    const oldStart = Number(m[1]);
    const oldLines = m[2] === undefined ? 1 : Number(m[2]);
    this.oldLeft = oldLines;
    this.newLeft = m[4] === undefined ? 1 : Number(m[4]);
    // "-s,0" inserts after old line s; otherwise the hunk starts at old line s.
    this.push(KEEP_TO, oldLines === 0 ? oldStart : oldStart - 1);
    return true;
  }

  /** A body line, by its first byte: 0x20 context, 0x2d removed, 0x2b added, 0x5c "\ No newline". */
  body(first: number): void {
    if (first === 0x20) {
      this.oldLeft--;
      this.newLeft--;
      this.run(KEEP);
    } else if (first === 0x2d) {
      this.oldLeft--;
      this.patch.drops++;
      this.run(DROP);
    } else if (first === 0x2b) {
      this.newLeft--;
      this.patch.adds++;
      this.run(ADD);
    }
  }

  private push(op: number, n: number): void {
    this.patch.script.push(op, n);
    this.last = op;
  }

  private run(op: number): void {
    const s = this.patch.script;
    if (this.last === op) s[s.length - 1]!++;
    else this.push(op, 1);
  }
}

/**
 * The new file's per-line values from the old one's and a script: kept lines carry their old value, added
 * lines get `added`. Null when the script does not fit the old file (it was not the file git diffed).
 */
export function applyScript(old: Int32Array, p: FilePatch, added: number): Int32Array | null {
  const n = old.length + p.adds - p.drops;
  if (n < 0) return null;
  const out = new Int32Array(n);
  let o = 0;
  let w = 0;
  const s = p.script;
  for (let i = 0; i < s.length; i += 2) {
    const op = s[i]!;
    const k = s[i + 1]!;
    if (w + (op === KEEP_TO ? k - o : op === DROP ? 0 : k) > n) return null;
    if (op === KEEP_TO) {
      if (k < o || k > old.length) return null;
      out.set(old.subarray(o, k), w);
      w += k - o;
      o = k;
    } else if (op === KEEP) {
      if (o + k > old.length) return null;
      out.set(old.subarray(o, o + k), w);
      w += k;
      o += k;
    } else if (op === DROP) {
      if (o + k > old.length) return null;
      o += k;
    } else {
      out.fill(added, w, w + k);
      w += k;
    }
  }
  if (w + (old.length - o) !== n) return null;
  out.set(old.subarray(o), w);
  return out;
}

/**
 * Streams `git log --raw -p` output (with `ORIGINS_FORMAT`) into commits. Lines arrive as byte ranges;
 * only headers, raw lines and file headers are decoded.
 */
export class OriginsLogParser {
  private commit: PatchedCommit | null = null;
  private file: ScriptBuilder | null = null;
  /** The next raw entry a patch may belong to (patches come in raw order, some left out). */
  private nextRaw = 0;
  private readonly lines = new ByteLineSplitter((buf, start, end) => this.line(buf, start, end));

  constructor(private readonly onCommit: (c: PatchedCommit) => void) {}

  push(chunk: Buffer): void {
    this.lines.push(chunk);
  }

  end(): void {
    this.lines.end();
    this.finishCommit();
  }

  private line(buf: Buffer, start: number, end: number): void {
    const first = start < end ? buf[start]! : 0x0a;
    if (this.file?.inHunk) {
      this.file.body(first);
      return;
    }
    if (first === 0x5c) return; // "\ No newline at end of file" after a hunk's last line
    if (first === 0x01 && buf[start + 1] === 0x01) {
      this.finishCommit();
      const [sha = '', ...parents] = buf
        .toString('latin1', start + 2, end)
        .split(' ')
        .filter(Boolean);
      this.commit = { sha, parents, raw: [], patches: new Map() };
      return;
    }
    const c = this.commit;
    if (!c || first === 0x0a) return;
    if (first === 0x3a && !this.file) {
      const e = parseRawLine(buf.toString('utf8', start, end));
      if (e) c.raw.push(e);
      return;
    }
    if (first === 0x40 && this.file) {
      this.file.hunk(buf.toString('latin1', start, Math.min(end, start + 80)));
      return;
    }
    const text = buf.toString('utf8', start, end);
    if (text.startsWith('diff --git ')) {
      this.file = null;
      for (let i = this.nextRaw; i < c.raw.length; i++) {
        if (c.raw[i]!.header !== text) continue;
        this.file = new ScriptBuilder();
        c.patches.set(i, this.file.patch);
        this.nextRaw = i + 1;
        break;
      }
    } else if (this.file && text.startsWith('Binary files ')) this.file.patch.binary = true;
  }

  private finishCommit(): void {
    if (this.commit) this.onCommit(this.commit);
    this.commit = null;
    this.file = null;
    this.nextRaw = 0;
  }
}

/** The line script of a single-file `git diff` (two blobs); null when it printed no patch. */
export function parseSinglePatch(out: Buffer): FilePatch | null {
  let b: ScriptBuilder | null = null;
  let start = 0;
  while (start < out.length) {
    let nl = out.indexOf(0x0a, start);
    if (nl < 0) nl = out.length;
    const first = out[start];
    if (b?.inHunk) b.body(first ?? 0x0a);
    else if (first === 0x40) (b ??= new ScriptBuilder()).hunk(out.toString('latin1', start, Math.min(nl, start + 80)));
    else if (out.toString('latin1', start, Math.min(nl, start + 13)) === 'Binary files ') (b ??= new ScriptBuilder()).patch.binary = true;
    start = nl + 1;
  }
  return b?.patch ?? null;
}
