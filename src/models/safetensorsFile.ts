import { readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { openForReading } from '../util/jsonFile.js';
import { ChangelingError } from '../util/errors.js';

/**
 * A safetensors file read tensor by tensor (never the whole file at once): the header is bounds-checked
 * against the file size, every tensor's offsets against its dtype and shape, and F16 / BF16 / F64
 * values are widened or narrowed to float32 on the way in.
 */
const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, U8: 1, BOOL: 1 };

export interface TensorInfo {
  dtype: string;
  shape: number[];
  start: number;
  end: number;
}

export class SafetensorsFile {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    readonly tensors: ReadonlyMap<string, TensorInfo>,
    readonly metadata: Record<string, string>,
    private readonly base: number,
  ) {}

  static async open(path: string): Promise<SafetensorsFile> {
    const fh = await openForReading(path);
    try {
      const size = (await fh.stat()).size;
      const bad = (why: string) => new ChangelingError('io', `${path} is not a valid safetensors file: ${why}`);
      if (size < 8) throw bad(`only ${size} bytes`);
      const lenBuf = Buffer.alloc(8);
      await fh.read(lenBuf, 0, 8, 0);
      const n = lenBuf.readBigUInt64LE(0);
      if (n > BigInt(size - 8) || n > 100n << 20n) throw bad(`header length ${n} exceeds the file (${size} bytes)`);
      const head = Buffer.alloc(Number(n));
      await fh.read(head, 0, head.length, 8);
      let header: Record<string, unknown>;
      try {
        header = JSON.parse(head.toString('utf8'));
      } catch {
        throw bad('the header is not JSON (truncated or corrupt download?)');
      }
      if (!header || typeof header !== 'object' || Array.isArray(header)) throw bad('the header is not a JSON object');
      const base = 8 + Number(n);
      const tensors = new Map<string, TensorInfo>();
      let metadata: Record<string, string> = {};
      for (const [name, v] of Object.entries(header)) {
        if (name === '__metadata__') {
          metadata = (v ?? {}) as Record<string, string>;
          continue;
        }
        if (!v || typeof v !== 'object' || Array.isArray(v)) throw bad(`${name} is not a tensor entry`);
        const e = v as { dtype?: string; shape?: number[]; data_offsets?: number[] };
        const width = typeof e.dtype === 'string' && Object.hasOwn(DTYPE_BYTES, e.dtype) ? DTYPE_BYTES[e.dtype] : undefined;
        if (!width) throw bad(`${name} has unsupported dtype ${e.dtype}`);
        if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) throw bad(`${name} has a bad shape`);
        const [start, end] = Array.isArray(e.data_offsets) ? e.data_offsets : [];
        const count = e.shape.reduce((a, b) => a * b, 1);
        if (!Number.isInteger(start) || !Number.isInteger(end) || start! < 0 || end! < start! || end! - start! !== count * width)
          throw bad(`${name} has offsets [${start}, ${end}] that do not fit ${e.dtype}[${e.shape}]`);
        if (base + end! > size) throw bad(`${name} ends at byte ${base + end!} but the file has ${size} (truncated?)`);
        tensors.set(name, { dtype: e.dtype!, shape: e.shape, start: start!, end: end! });
      }
      return new SafetensorsFile(path, fh, tensors, metadata, base);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /** One tensor as float32 (floating dtypes only). */
  async float32(name: string): Promise<{ shape: number[]; data: Float32Array }> {
    const t = this.info(name);
    const raw = Buffer.alloc(t.end - t.start);
    await this.fh.read(raw, 0, raw.length, this.base + t.start);
    return { shape: t.shape, data: this.widen(name, t, raw) };
  }

  /**
   * One tensor as float32, read synchronously (a weight read only when a graph being built asks for it:
   * models/weights.ts, DeferredWeight). The file stays open until `close`.
   */
  float32Sync(name: string, rows?: { start: number; count: number }): Float32Array {
    // A closed handle's number may be another file's by now: never read through it.
    if (this.closed) throw new ChangelingError('io', `${this.path} was closed before ${name} was read`);
    const t = this.info(name);
    // `rows`: only rows start..start+count-1 of the first axis.
    const rowBytes = t.shape.length ? (t.end - t.start) / Math.max(1, t.shape[0]!) : t.end - t.start;
    const from = rows ? t.start + rows.start * rowBytes : t.start;
    const to = rows ? Math.min(t.end, from + rows.count * rowBytes) : t.end;
    if (rows && (rows.start < 0 || rows.count < 0 || from > t.end))
      throw new ChangelingError('io', `rows ${rows.start}+${rows.count} are outside ${name}`);
    const raw = Buffer.alloc(to - from);
    let done = 0;
    while (done < raw.length) {
      const n = readSync(this.fh.fd, raw, done, raw.length - done, this.base + from + done);
      if (n === 0) throw new ChangelingError('io', `${this.path} ended inside ${name} (truncated since it was opened?)`);
      done += n;
    }
    return this.widen(name, t, raw);
  }

  private info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new ChangelingError('io', `${this.path} has no tensor ${name}`);
    return t;
  }

  private widen(name: string, t: TensorInfo, raw: Buffer): Float32Array {
    const n = raw.length / DTYPE_BYTES[t.dtype]!;
    const out = new Float32Array(n);
    switch (t.dtype) {
      case 'F32':
        Buffer.from(out.buffer).set(raw);
        break;
      case 'F64':
        for (let i = 0; i < n; i++) out[i] = raw.readDoubleLE(i * 8);
        break;
      case 'BF16': {
        const u = new Uint32Array(out.buffer);
        for (let i = 0; i < n; i++) u[i] = raw.readUInt16LE(i * 2) << 16;
        break;
      }
      case 'F16':
        for (let i = 0; i < n; i++) out[i] = halfToFloat(raw.readUInt16LE(i * 2));
        break;
      default:
        throw new ChangelingError('io', `${name} in ${this.path} is ${t.dtype}, not a floating-point tensor`);
    }
    return out;
  }

  private closed = false;

  async close(): Promise<void> {
    this.closed = true;
    await this.fh.close();
  }
}

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}
