import type { FileHandle } from 'node:fs/promises';
import { openForReading } from '../util/jsonFile.js';
import { inflateRawSync } from 'node:zlib';
import { ChangelingError } from '../util/errors.js';

/**
 * A minimal reader of ZIP archives as PyTorch writes them (stored entries, ZIP64 for large files),
 * reading the central directory and then single entries by offset, never the whole file.
 */
interface Entry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

export class ZipFile {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    readonly entries: ReadonlyMap<string, Entry>,
  ) {}

  static async open(path: string): Promise<ZipFile> {
    const fh = await openForReading(path);
    try {
      const size = (await fh.stat()).size;
      const bad = (why: string) => new ChangelingError('io', `${path} is not a readable PyTorch zip archive: ${why}`);
      const tailLen = Math.min(size, 65536 + 22 + 20 + 56);
      const tail = Buffer.alloc(tailLen);
      await fh.read(tail, 0, tailLen, size - tailLen);
      let eocd = -1;
      for (let i = tailLen - 22; i >= 0; i--)
        if (tail.readUInt32LE(i) === 0x06054b50) {
          eocd = i;
          break;
        }
      if (eocd < 0) throw bad('no end-of-central-directory record (truncated download, or a legacy non-zip torch.save file)');
      let count = tail.readUInt16LE(eocd + 10);
      let cdSize = tail.readUInt32LE(eocd + 12);
      let cdOffset = tail.readUInt32LE(eocd + 16);
      if (cdOffset === 0xffffffff || count === 0xffff) {
        const loc = eocd - 20;
        if (loc < 0 || tail.readUInt32LE(loc) !== 0x07064b50) throw bad('ZIP64 locator missing');
        const recOffset = Number(tail.readBigUInt64LE(loc + 8));
        const rec = Buffer.alloc(56);
        await fh.read(rec, 0, 56, recOffset);
        if (rec.readUInt32LE(0) !== 0x06064b50) throw bad('ZIP64 record missing');
        count = Number(rec.readBigUInt64LE(32));
        cdSize = Number(rec.readBigUInt64LE(40));
        cdOffset = Number(rec.readBigUInt64LE(48));
      }
      if (!Number.isSafeInteger(cdOffset) || !Number.isSafeInteger(cdSize) || cdOffset < 0 || cdOffset + cdSize > size)
        throw bad('the central directory lies past the end of the file (truncated?)');
      const cd = Buffer.alloc(cdSize);
      await fh.read(cd, 0, cdSize, cdOffset);
      const entries = new Map<string, Entry>();
      let p = 0;
      for (let i = 0; i < count; i++) {
        if (cd.readUInt32LE(p) !== 0x02014b50) throw bad('corrupt central directory');
        const method = cd.readUInt16LE(p + 10);
        let compressedSize = cd.readUInt32LE(p + 20);
        let usize = cd.readUInt32LE(p + 24);
        const nameLen = cd.readUInt16LE(p + 28);
        const extraLen = cd.readUInt16LE(p + 30);
        const commentLen = cd.readUInt16LE(p + 32);
        let localOffset = cd.readUInt32LE(p + 42);
        const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
        // ZIP64 extra field: the 0xffffffff fields, in order, as 8-byte values.
        let e = p + 46 + nameLen;
        const end = e + extraLen;
        while (e + 4 <= end) {
          const id = cd.readUInt16LE(e);
          const len = cd.readUInt16LE(e + 2);
          if (id === 0x0001) {
            let q = e + 4;
            if (usize === 0xffffffff) {
              usize = Number(cd.readBigUInt64LE(q));
              q += 8;
            }
            if (compressedSize === 0xffffffff) {
              compressedSize = Number(cd.readBigUInt64LE(q));
              q += 8;
            }
            if (localOffset === 0xffffffff) {
              localOffset = Number(cd.readBigUInt64LE(q));
              q += 8;
            }
          }
          e += 4 + len;
        }
        // Sizes and offsets must lie inside the file (a corrupt directory could ask for terabytes).
        if (
          !Number.isSafeInteger(compressedSize) ||
          !Number.isSafeInteger(localOffset) ||
          !Number.isSafeInteger(usize) ||
          compressedSize < 0 ||
          localOffset < 0 ||
          localOffset + 30 + compressedSize > size ||
          usize < 0 ||
          usize > 8 * 2 ** 30
        ) {
          throw bad(`entry ${JSON.stringify(name.slice(0, 80))} has sizes or an offset outside the file (truncated or corrupt?)`);
        }
        entries.set(name, { name, method, compressedSize, size: usize, localOffset });
        p += 46 + nameLen + extraLen + commentLen;
      }
      return new ZipFile(path, fh, entries);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  async read(name: string): Promise<Buffer> {
    const e = this.entries.get(name);
    if (!e) throw new ChangelingError('io', `${this.path} has no entry ${name}`);
    const head = Buffer.alloc(30);
    await this.fh.read(head, 0, 30, e.localOffset);
    if (head.readUInt32LE(0) !== 0x04034b50) throw new ChangelingError('io', `${this.path}: corrupt local header for ${name}`);
    const start = e.localOffset + 30 + head.readUInt16LE(26) + head.readUInt16LE(28);
    const fileSize = (await this.fh.stat()).size;
    if (start + e.compressedSize > fileSize)
      throw new ChangelingError('io', `${this.path} is truncated (entry ${name} runs past the end of the file)`);
    const data = Buffer.alloc(e.compressedSize);
    const { bytesRead } = await this.fh.read(data, 0, e.compressedSize, start);
    if (bytesRead !== e.compressedSize) throw new ChangelingError('io', `${this.path} is truncated (entry ${name})`);
    if (e.method === 0) return data;
    if (e.method === 8) {
      try {
        return inflateRawSync(data, { maxOutputLength: Math.max(1, e.size) });
      } catch (err) {
        throw new ChangelingError('io', `${this.path}: entry ${name} does not inflate (${(err as Error).message}): corrupt archive`);
      }
    }
    throw new ChangelingError('io', `${this.path}: entry ${name} uses unsupported compression method ${e.method}`);
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}
