import { ChangelingError } from '../util/errors.js';

/**
 * GGUF, llama.cpp's file format (version 3), written by hand because no JavaScript library writes it: the magic "GGUF",
 * the version, the tensor and key-value counts (u64), the key-values (a u64-length UTF-8 key, a u32 type, the value),
 * the tensor infos (name, dimension count, dimensions innermost first, type, offset in the data section), padding to
 * `general.alignment` (32), then each tensor's bytes at its offset, itself a multiple of the alignment. Little-endian.
 * Only what Changeling writes is supported: f32 tensors and string, u32, f32 and string-array values.
 */
export type GgufValue =
  | { type: 'string'; value: string }
  | { type: 'u32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'strings'; value: readonly string[] };

export interface GgufTensor {
  name: string;
  /** Dimensions as numpy (and PyTorch) give them, outermost first; the file stores them innermost first. */
  shape: readonly number[];
  data: Float32Array;
}

const ALIGNMENT = 32;
const TYPE = { u32: 4, f32: 6, string: 8, array: 9 } as const;
const GGML_F32 = 0;

class Out {
  private chunks: Buffer[] = [];
  length = 0;
  private push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  u64(v: number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  f32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.push(b);
  }
  string(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.push(b);
  }
  bytes(b: Uint8Array): void {
    this.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }
  padTo(alignment: number): void {
    const pad = (alignment - (this.length % alignment)) % alignment;
    if (pad) this.push(Buffer.alloc(pad));
  }
  buffer(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }
}

/** A GGUF file's bytes: the key-values in the order given, the tensors in the order given, f32. */
export function encodeGguf(kv: ReadonlyArray<[string, GgufValue]>, tensors: readonly GgufTensor[]): Buffer {
  const o = new Out();
  o.bytes(Buffer.from('GGUF', 'latin1'));
  o.u32(3);
  o.u64(tensors.length);
  o.u64(kv.length);
  for (const [key, v] of kv) {
    o.string(key);
    if (v.type === 'string') (o.u32(TYPE.string), o.string(v.value));
    else if (v.type === 'u32') (o.u32(TYPE.u32), o.u32(v.value));
    else if (v.type === 'f32') (o.u32(TYPE.f32), o.f32(v.value));
    else {
      o.u32(TYPE.array);
      o.u32(TYPE.string);
      o.u64(v.value.length);
      for (const s of v.value) o.string(s);
    }
  }
  let offset = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length)
      throw new ChangelingError('usage', `GGUF tensor ${t.name}: shape [${t.shape.join(', ')}] holds ${n} values, not ${t.data.length}`);
    o.string(t.name);
    o.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) o.u64(d);
    o.u32(GGML_F32);
    o.u64(offset);
    offset += Math.ceil(t.data.byteLength / ALIGNMENT) * ALIGNMENT;
  }
  o.padTo(ALIGNMENT);
  for (const t of tensors) {
    o.bytes(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    o.padTo(ALIGNMENT);
  }
  return o.buffer();
}
