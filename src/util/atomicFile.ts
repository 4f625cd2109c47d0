import { mkdir, open, rename, rm, unlink, type FileHandle } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileError } from './errors.js';

/**
 * A file written beside its destination under a temporary name and renamed into place only when
 * complete, so a reader never sees a half-written file and a failure (cancel, full disk) leaves the old
 * file, if any, untouched. Writes are batched into large chunks.
 */
export class AtomicFile {
  private pending: string[] = [];
  private pendingBytes = 0;
  bytes = 0;

  private constructor(
    readonly path: string,
    private readonly tmp: string,
    private handle: FileHandle | null,
  ) {}

  static async create(path: string): Promise<AtomicFile> {
    const tmp = join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
    try {
      return new AtomicFile(path, tmp, await open(tmp, 'wx'));
    } catch (err) {
      throw fileError(err, path, 'creating');
    }
  }

  async write(text: string): Promise<void> {
    this.pending.push(text);
    this.pendingBytes += text.length;
    if (this.pendingBytes >= 1 << 20) await this.flush();
  }

  private async flush(): Promise<void> {
    if (!this.handle || this.pending.length === 0) return;
    const buf = Buffer.from(this.pending.join(''), 'utf8');
    this.pending = [];
    this.pendingBytes = 0;
    try {
      let off = 0;
      while (off < buf.length) off += (await this.handle.write(buf, off)).bytesWritten;
      this.bytes += buf.length;
    } catch (err) {
      await this.abort();
      throw fileError(err, this.path, 'writing');
    }
  }

  /** Makes the file durable and moves it into place. */
  async commit(): Promise<void> {
    await this.flush();
    const h = this.handle;
    if (!h) return;
    this.handle = null;
    try {
      await h.sync();
      await h.close();
      await rename(this.tmp, this.path);
    } catch (err) {
      await h.close().catch(() => {});
      await unlink(this.tmp).catch(() => {});
      throw fileError(err, this.path, 'saving');
    }
  }

  /** Throws the work away; the destination is left as it was. */
  async abort(): Promise<void> {
    const h = this.handle;
    this.handle = null;
    this.pending = [];
    if (h) await h.close().catch(() => {});
    await unlink(this.tmp).catch(() => {});
  }
}

/** Writes a whole file atomically. */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const f = await AtomicFile.create(path);
  await f.write(text);
  await f.commit();
}

/** Writes bytes atomically (temporary file, fsync, rename). */
export async function writeBytesAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  let h: FileHandle | null = null;
  try {
    h = await open(tmp, 'wx');
    await h.writeFile(bytes);
    await h.sync();
    await h.close();
    h = null;
    await rename(tmp, path);
  } catch (err) {
    await h?.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw fileError(err, path, 'writing');
  }
}

/**
 * Replaces a whole folder: `write` fills a temporary sibling, which then takes the folder's place by
 * rename (the old one is moved aside first and removed after), so that readers see the old folder or the
 * new one, never a half-written one. If `write` fails, the folder is left as it was.
 */
export async function replaceDirectory(dest: string, write: (tmp: string) => Promise<void>): Promise<void> {
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmp = `${dest}.new-${tag}`;
  const old = `${dest}.old-${tag}`;
  try {
    await mkdir(tmp, { recursive: true });
    await write(tmp);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw fileError(err, dest, 'writing');
  }
  const had = existsSync(dest);
  if (had) await rename(dest, old);
  try {
    await rename(tmp, dest);
  } catch (err) {
    if (had) await rename(old, dest).catch(() => {});
    await rm(tmp, { recursive: true, force: true });
    throw fileError(err, dest, 'saving');
  }
  if (had) await rm(old, { recursive: true, force: true });
}
