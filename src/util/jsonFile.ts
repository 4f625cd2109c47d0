import { readFileSync, statSync } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { ChangelingError, fileError } from './errors.js';
import { terminalSafe } from './text.js';

/**
 * The one policy for reading files Changeling is given: every file is checked to be a regular file first (a
 * FIFO would hang the read, a device like /dev/zero would never end), and what is read whole is capped: JSON
 * (configs, profiles, model records, hub answers) at 8 MiB, text and data at 512 MiB (the most a string can
 * hold). Weights are not capped but must be regular files too (they are read by offset, never whole).
 */
export const JSON_CAP = 8 * 2 ** 20;
export const TEXT_CAP = 512 * 2 ** 20;

const mib = (n: number) => `${(n / 2 ** 20).toFixed(n < 2 ** 20 ? 2 : 0)} MiB`;

/** Fails with one clear line unless `path` (symlinks followed) is a regular file; returns its size. */
export async function regularFile(path: string, what = 'the file'): Promise<number> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    throw fileError(err, terminalSafe(path), 'reading');
  }
  if (st.isFile()) return st.size;
  const kind = st.isDirectory()
    ? 'a folder'
    : st.isFIFO()
      ? 'a FIFO (named pipe)'
      : st.isCharacterDevice() || st.isBlockDevice()
        ? 'a device'
        : st.isSocket()
          ? 'a socket'
          : 'not a regular file';
  throw new ChangelingError('io', `${what} ${terminalSafe(path)} is ${kind}; a regular file is needed here`);
}

/** A regular file's bytes, at most `max` of them (a clear error past that, even when the file grows while read). */
export async function readBytesBounded(path: string, max: number, what = 'the file'): Promise<Buffer> {
  const size = await regularFile(path, what);
  if (size > max) throw tooBig(path, what, size, max);
  let h: FileHandle | null = null;
  try {
    h = await open(path, 'r');
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(Math.max(size - total, 64 * 1024), max + 1 - total, 16 * 2 ** 20));
      if (buf.length === 0) throw tooBig(path, what, total + 1, max);
      const { bytesRead } = await h.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      chunks.push(buf.subarray(0, bytesRead));
      total += bytesRead;
      if (total > max) throw tooBig(path, what, total, max);
    }
    return Buffer.concat(chunks, total);
  } catch (err) {
    throw fileError(err, terminalSafe(path), 'reading');
  } finally {
    await h?.close().catch(() => {});
  }
}

const tooBig = (path: string, what: string, size: number, max: number) =>
  new ChangelingError(
    'io',
    `${what} ${terminalSafe(path)} is ${size > max + 1 ? mib(size) : `over ${mib(max)}`}; the most read here is ${mib(max)}`,
  );

/** A text file's content (UTF-8), bounded, with an error that names the file when it is missing, unreadable or too big. */
export async function readTextFile(path: string, o: { max?: number; what?: string } = {}): Promise<string> {
  return (await readBytesBounded(path, o.max ?? TEXT_CAP, o.what)).toString('utf8');
}

/** A JSON file's value (at most 8 MiB unless said), with errors that name the file (missing, unreadable, too big, not JSON). */
export async function readJsonFile(path: string, o: { max?: number; what?: string } = {}): Promise<unknown> {
  const text = await readTextFile(path, { max: o.max ?? JSON_CAP, what: o.what });
  try {
    return JSON.parse(text);
  } catch {
    throw new ChangelingError('io', `${terminalSafe(path)} is not valid JSON`);
  }
}

/** Opens a regular file for reading by offset (weights, archives), with an error that names it. */
export async function openForReading(path: string, what = 'the file'): Promise<FileHandle> {
  await regularFile(path, what);
  try {
    return await open(path, 'r');
  } catch (err) {
    throw fileError(err, path, 'opening');
  }
}

/** `readBytesBounded` for the few synchronous callers (a fingerprint of a small config file). */
export function readBytesBoundedSync(path: string, max: number, what = 'the file'): Buffer {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    throw fileError(err, terminalSafe(path), 'reading');
  }
  if (!st.isFile()) throw new ChangelingError('io', `${what} ${terminalSafe(path)} is not a regular file`);
  if (st.size > max) throw tooBig(path, what, st.size, max);
  const buf = readFileSync(path);
  if (buf.length > max) throw tooBig(path, what, buf.length, max);
  return buf;
}

/**
 * A network response's body as text, read (decompressed) up to `max` bytes, so that an answer that never ends
 * or inflates (a gzip bomb) stops there: past it `over()` is thrown, or, with `over` null, the text is cut
 * there (an error page quoted in a message).
 */
export async function boundedBody(response: Response, max: number, over: (() => Error) | null): Promise<string> {
  if (!response.body) return '';
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    if (total + chunk.length > max) {
      if (over) {
        await response.body.cancel().catch(() => {});
        throw over();
      }
      parts.push(chunk.subarray(0, max - total));
      break;
    }
    total += chunk.length;
    parts.push(chunk);
  }
  return Buffer.concat(parts).toString('utf8');
}
