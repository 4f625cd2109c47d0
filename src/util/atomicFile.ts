import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileError } from './errors.js';
import { fileTarget, tag } from './outputTarget.js';
import { removeAtExit } from './cleanup.js';

/**
 * A file written beside its destination under a temporary name and renamed into place only when
 * complete, so a reader never sees a half-written file and a failure (cancel, full disk) leaves the old
 * file, if any, untouched. Writes are batched into large chunks. What the destination may be is decided by
 * `fileTarget`: a symlink is followed, a device or FIFO is written into (never replaced), a folder is refused.
 */
export class AtomicFile {
  private pending: string[] = [];
  private release = () => {};
  private pendingBytes = 0;
  bytes = 0;

  private constructor(
    readonly path: string,
    /** The temporary file, or null when writing straight into a device or FIFO. */
    private readonly tmp: string | null,
    private handle: FileHandle | null,
  ) {}

  static async create(path: string, what?: string): Promise<AtomicFile> {
    const target = fileTarget(path, what);
    try {
      if (target.stream) return new AtomicFile(target.path, null, await open(target.path, 'a'));
      const tmp = join(dirname(target.path), `.${basename(target.path)}.${tag()}.tmp`);
      const f = new AtomicFile(target.path, tmp, await open(tmp, 'wx'));
      f.release = removeAtExit(tmp);
      return f;
    } catch (err) {
      throw fileError(err, target.path, 'creating');
    }
  }

  async write(text: string | Uint8Array): Promise<void> {
    if (typeof text !== 'string') {
      await this.flush();
      await this.writeBuffer(text);
      return;
    }
    this.pending.push(text);
    this.pendingBytes += text.length;
    if (this.pendingBytes >= 1 << 20) await this.flush();
  }

  private async flush(): Promise<void> {
    if (!this.handle || this.pending.length === 0) return;
    const buf = Buffer.from(this.pending.join(''), 'utf8');
    this.pending = [];
    this.pendingBytes = 0;
    await this.writeBuffer(buf);
  }

  private async writeBuffer(buf: Uint8Array): Promise<void> {
    if (!this.handle) return;
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
      if (this.tmp) await h.sync();
      await h.close();
      if (this.tmp) await rename(this.tmp, this.path);
      this.release();
    } catch (err) {
      await h.close().catch(() => {});
      if (this.tmp) await unlink(this.tmp).catch(() => {});
      throw fileError(err, this.path, 'saving');
    }
  }

  /** Throws the work away; the destination is left as it was (a device or FIFO keeps what it was sent). */
  async abort(): Promise<void> {
    const h = this.handle;
    this.handle = null;
    this.pending = [];
    if (h) await h.close().catch(() => {});
    if (this.tmp) await unlink(this.tmp).catch(() => {});
    this.release();
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
  const f = await AtomicFile.create(path);
  await f.write(bytes);
  await f.commit();
}
