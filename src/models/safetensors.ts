import { ChangelingError } from '../util/errors.js';

/**
 * The safetensors format (8-byte little-endian header length, a JSON header, then raw little-endian
 * data), for float32 tensors: what checkpoints and adapters are stored in. Offsets are bounds-checked.
 */
export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

export function encodeSafetensors(tensors: Record<string, NamedTensor>, metadata: Record<string, string> = {}): Buffer {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const names = Object.keys(tensors).sort();
  for (const name of names) {
    const t = tensors[name]!;
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new ChangelingError('io', `safetensors: ${name} has ${t.data.length} values for shape [${t.shape}]`);
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const head = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + head.length + offset);
  out.writeBigUInt64LE(BigInt(head.length), 0);
  head.copy(out, 8);
  let pos = 8 + head.length;
  for (const name of names) {
    const d = tensors[name]!.data;
    Buffer.from(d.buffer, d.byteOffset, d.byteLength).copy(out, pos);
    pos += d.byteLength;
  }
  return out;
}

export function decodeSafetensors(
  buf: Buffer,
  what = 'safetensors file',
): { tensors: Record<string, NamedTensor>; metadata: Record<string, string> } {
  if (buf.length < 8) throw new ChangelingError('io', `${what} is truncated (${buf.length} bytes)`);
  const n = Number(buf.readBigUInt64LE(0));
  if (n > buf.length - 8 || n > 100 << 20) throw new ChangelingError('io', `${what}: header length ${n} exceeds the file`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(buf.toString('utf8', 8, 8 + n));
  } catch {
    throw new ChangelingError('io', `${what}: the header is not valid JSON`);
  }
  const base = 8 + n;
  const tensors: Record<string, NamedTensor> = {};
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = v as Record<string, string>;
      continue;
    }
    const e = v as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (e.dtype !== 'F32') throw new ChangelingError('io', `${what}: ${name} has dtype ${e.dtype}; only F32 is supported here`);
    const [s, t] = e.data_offsets;
    const count = e.shape.reduce((a, b) => a * b, 1);
    if (!(s >= 0 && t >= s && base + t <= buf.length && t - s === count * 4))
      throw new ChangelingError('io', `${what}: ${name} has bad offsets [${s}, ${t}]`);
    const data = new Float32Array(count);
    Buffer.from(data.buffer).set(buf.subarray(base + s, base + t));
    tensors[name] = { shape: e.shape, data };
  }
  return { tensors, metadata };
}
