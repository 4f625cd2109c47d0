import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync, type Stats } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, stat } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ChangelingError, fileError } from './errors.js';
import { terminalSafe } from './text.js';
import { writeBytesAtomic, writeFileAtomic } from './atomicFile.js';
import { TEXT_CAP, readBytesBounded } from './jsonFile.js';
import { removeAtExit } from './cleanup.js';

/**
 * The one policy for what a writer may do with a path it was given (`--out`, `--report`, a model or report
 * folder, a cache). Never delete or replace what Changeling did not write:
 *
 * - a file output may replace a regular file (atomically, as a shell redirection would replace it); a
 *   device or FIFO is written into, never replaced; a symlink is followed and the rules apply to its target;
 *   a folder where a file is wanted is refused;
 * - a folder output is written into only when it is new, empty, or carries the marker
 *   `.changeling-output.json` (the files Changeling wrote there), and then only those files are replaced;
 *   a file the user added beside them stays. A repository (a folder holding `.git`), the home folder, the
 *   file-system root, a non-empty folder without the marker and a file where a folder is wanted are refused.
 *
 * Every writer goes through `fileTarget` (via `AtomicFile`) or `writeOutputFolder`; a source scan in the
 * tests fails when a module outside the policy modules removes or renames a path.
 */
export const OUTPUT_MARKER = '.changeling-output.json';

const shown = (p: string) => terminalSafe(p);

/** Follows a chain of symlinks to the path they name, even when the last one dangles (as `>` would create it). */
function followLinks(path: string): string {
  let p = resolve(path);
  for (let hops = 0; hops < 40; hops++) {
    let st: Stats;
    try {
      st = lstatSync(p);
    } catch {
      return p; // missing (or a dangling link's target): the writer creates it
    }
    if (!st.isSymbolicLink()) return p;
    p = resolve(dirname(p), readlinkSync(p));
  }
  throw new ChangelingError('io', `${shown(path)}: too many levels of symbolic links`);
}

function statOrNull(p: string): Stats | null {
  try {
    return statSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fileError(err, p, 'checking');
  }
}

export interface FileTarget {
  /** The path to write (symlinks followed). */
  path: string;
  /** A device or FIFO: opened and written in place, never replaced or removed. */
  stream: boolean;
}

/** What a single-file writer may do with `path`: replace a regular file atomically, or write into a device or FIFO. */
export function fileTarget(path: string, what = 'the output'): FileTarget {
  // /dev/stdout, /proc/self/fd/N and the like name what the shell opened: written into, as `>` would.
  const direct = resolve(path);
  if (/^\/(dev|proc)\//.test(direct)) {
    const st = statOrNull(direct);
    if (st && !st.isDirectory()) return { path: direct, stream: true };
  }
  const p = followLinks(path);
  const st = statOrNull(p);
  if (!st) return { path: p, stream: false };
  if (st.isFile()) return { path: p, stream: false };
  if (st.isDirectory())
    throw new ChangelingError('usage', `${what} ${shown(p)} is a folder; a file name is needed here (nothing was written)`);
  if (st.isFIFO() || st.isCharacterDevice()) return { path: p, stream: true };
  throw new ChangelingError('usage', `${what} ${shown(p)} is not a regular file, a FIFO or a character device; nothing was written`);
}

interface Marker {
  files: string[];
}

function readMarker(dir: string): Marker | null {
  let text: string;
  try {
    const p = join(dir, OUTPUT_MARKER);
    if (!lstatSync(p).isFile()) return null;
    text = readFileSync(p, 'utf8');
  } catch {
    return null;
  }
  try {
    const v = JSON.parse(text) as Marker;
    if (!Array.isArray(v.files) || !v.files.every((f) => typeof f === 'string' && safeRelative(f))) return null;
    return { files: v.files };
  } catch {
    return null;
  }
}

/** A name inside the folder: relative, no `..`, no absolute part, not the marker itself. */
const safeRelative = (f: string) =>
  f.length > 0 && f !== OUTPUT_MARKER && !f.startsWith('/') && !f.split(/[\\/]/).some((s) => s === '..' || s === '' || s === '.');

export interface FolderTarget {
  path: string;
  /** Files Changeling wrote there before (from the marker); null for a new or empty folder. */
  owned: string[] | null;
  /** Whether the folder exists. */
  exists: boolean;
}

/**
 * Checks that `path` may be written as a folder output, before any long work starts and again when the
 * output is written. `owned`: the folder lives in Changeling's own state (a repository's `changeling/`
 * folder, the cache), so a folder written before the marker existed counts as Changeling's.
 */
export function folderTarget(path: string, what = 'the output folder', o: { owned?: boolean } = {}): FolderTarget {
  const p = followLinks(path);
  const st = statOrNull(p);
  if (!st) return { path: p, owned: null, exists: false };
  const refuse = (why: string) =>
    new ChangelingError('usage', `refusing to write ${what} into ${shown(p)}: ${why}; nothing was written or removed`);
  if (!st.isDirectory()) throw refuse('it is a file, and a folder is needed here');
  if (p === resolve('/') || p === resolve(homedir()))
    throw refuse(p === resolve('/') ? 'it is the file-system root' : 'it is your home folder');
  const names = readdirSync(p);
  if (names.includes('.git')) throw refuse('it is a git repository or work tree (it holds .git); give a new or empty folder');
  if (names.length === 0) return { path: p, owned: null, exists: true };
  const marker = readMarker(p);
  if (marker) return { path: p, owned: marker.files, exists: true };
  if (o.owned) return { path: p, owned: listFiles(p), exists: true };
  throw refuse(`it is not empty and Changeling did not write it (it has no ${OUTPUT_MARKER}); give a new or empty folder`);
}

/** Every file below `dir`, as relative paths with '/' separators (symlinks are listed, not followed). */
function listFiles(dir: string, under = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(dir, under), { withFileTypes: true })) {
    const rel = under ? `${under}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFiles(dir, rel));
    else if (rel !== OUTPUT_MARKER) out.push(rel);
  }
  return out.sort();
}

/** A name part no other writer (process or call) uses at the same time: the temporaries beside an output. */
export const tag = () => `${process.pid}-${randomBytes(4).toString('hex')}`;

/**
 * Writes a folder output: `write` fills a fresh temporary sibling; then, if the destination is new or holds
 * only what Changeling wrote, the new folder takes its place by rename (readers see the old one or the new
 * one); otherwise (the user added files beside ours) each file is moved into place and the files of the
 * earlier output that this one no longer has are removed. The marker, listing what was written, comes last.
 * If `write` fails, the destination is left as it was. Returns the folder written (symlinks followed).
 */
export async function writeOutputFolder(
  path: string,
  write: (dir: string) => Promise<void>,
  o: { what?: string; owned?: boolean } = {},
): Promise<string> {
  const target = folderTarget(path, o.what, o);
  const dest = target.path;
  await mkdir(dirname(dest), { recursive: true }).catch((err) => {
    throw fileError(err, dirname(dest), 'creating');
  });
  const tmp = join(dirname(dest), `.${basename(dest)}.changeling-${tag()}`);
  let files: string[];
  const release = removeAtExit(tmp);
  try {
    await mkdir(tmp);
    await write(tmp);
    files = listFiles(tmp);
    await writeFileAtomic(join(tmp, OUTPUT_MARKER), JSON.stringify({ writer: 'changeling', files }, null, 1) + '\n');
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw fileError(err, dest, 'writing');
  }
  // Checked again: the folder may have changed while the output was being made.
  const now = folderTarget(dest, o.what, o);
  const ours = now.exists ? new Set(now.owned ?? []) : new Set<string>();
  const onlyOurs = !now.exists || (now.owned !== null && (await onlyListed(dest, ours)));
  try {
    if (onlyOurs && now.exists && now.owned !== null) {
      const old = join(dirname(dest), `.${basename(dest)}.changeling-old-${tag()}`);
      await rename(dest, old);
      try {
        await rename(tmp, dest);
      } catch (err) {
        await rename(old, dest).catch(() => {});
        throw err;
      }
      await rm(old, { recursive: true, force: true });
    } else if (!now.exists) {
      await rename(tmp, dest);
    } else {
      for (const f of files) {
        await mkdir(dirname(join(dest, f)), { recursive: true });
        await refuseFolderAt(join(dest, f), dest);
        await rename(join(tmp, f), join(dest, f));
      }
      for (const f of ours) if (!files.includes(f)) await rm(join(dest, f), { force: true });
      await rename(join(tmp, OUTPUT_MARKER), join(dest, OUTPUT_MARKER));
      await rm(tmp, { recursive: true, force: true });
    }
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw fileError(err, dest, 'saving');
  } finally {
    release();
  }
  return dest;
}

/** Whether the folder holds nothing but the listed files (and the marker, and the folders they are in). */
async function onlyListed(dir: string, listed: ReadonlySet<string>): Promise<boolean> {
  const walk = async (under: string): Promise<boolean> => {
    for (const e of await readdir(join(dir, under), { withFileTypes: true })) {
      const rel = under ? `${under}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (!(await walk(rel))) return false;
      } else if (rel !== OUTPUT_MARKER && !listed.has(rel)) return false;
    }
    return true;
  };
  return walk('');
}

/** A folder of the user's where one of our files would go is never replaced. */
async function refuseFolderAt(p: string, dest: string): Promise<void> {
  const st = await stat(p).catch(() => null);
  if (st?.isDirectory())
    throw new ChangelingError(
      'usage',
      `refusing to replace the folder ${shown(relative(dest, p).split(sep).join('/'))} in ${shown(dest)} with a file`,
    );
}

/** Whether `path` is strictly inside `root` (both resolved, no symlinks followed). */
export function isInside(path: string, root: string): boolean {
  const rel = relative(resolve(root), resolve(path));
  return rel !== '' && !rel.startsWith('..') && !rel.startsWith(sep) && !/^[a-zA-Z]:/.test(rel);
}

/**
 * Removes a file or folder of Changeling's own state (an earlier model the new one replaces, a stale
 * checkpoint): only a path strictly inside `stateRoot` (a repository's `changeling/` folder, the cache).
 */
export async function removeOwned(path: string, stateRoot: string): Promise<void> {
  if (!isInside(path, stateRoot))
    throw new ChangelingError('io', `internal error: refusing to remove ${shown(path)}, which is outside ${shown(stateRoot)}`);
  await rm(path, { recursive: true, force: true });
}

/** Runs `fn` with a fresh private temporary folder, removed afterwards whatever happens. */
export async function withTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const release = removeAtExit(dir);
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
    release();
  }
}

/**
 * Copies files of `from` into `to` (a folder output being filled): the `names` that exist, or every regular file
 * at its top (not hidden), each read within the bounded-read policy and written atomically.
 */
export async function copyFiles(from: string, to: string, names?: readonly string[]): Promise<void> {
  const list =
    names ?? (await readdir(from, { withFileTypes: true })).filter((e) => e.isFile() && !e.name.startsWith('.')).map((e) => e.name);
  for (const name of list)
    if (!names || existsSync(join(from, name))) await writeBytesAtomic(join(to, name), await readBytesBounded(join(from, name), TEXT_CAP));
}
