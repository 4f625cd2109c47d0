import { ChangelingError } from '../util/errors.js';
import { halfToFloat } from './safetensorsFile.js';
import { unpickle } from './pickle.js';
import type { WeightMap } from './weights.js';
import { ZipFile } from './zipFile.js';

/**
 * pytorch_model.bin (torch.save's zip format): the pickled state dict is read by a pickle reader that
 * executes nothing and accepts only the globals that rebuild tensors and ordered dicts; storages are read
 * from the archive and strided views materialised as float32.
 */
const STORAGE: Record<string, { dtype: string; bytes: number }> = {
  FloatStorage: { dtype: 'float32', bytes: 4 },
  HalfStorage: { dtype: 'float16', bytes: 2 },
  BFloat16Storage: { dtype: 'bfloat16', bytes: 2 },
  DoubleStorage: { dtype: 'float64', bytes: 8 },
  LongStorage: { dtype: 'int64', bytes: 8 },
  IntStorage: { dtype: 'int32', bytes: 4 },
  ShortStorage: { dtype: 'int16', bytes: 2 },
  CharStorage: { dtype: 'int8', bytes: 1 },
  ByteStorage: { dtype: 'uint8', bytes: 1 },
  BoolStorage: { dtype: 'bool', bytes: 1 },
};

interface StorageRef {
  kind: 'storage';
  key: string;
  dtype: string;
  bytes: number;
}
interface TensorRef {
  kind: 'tensor';
  storage: StorageRef;
  offset: number;
  size: number[];
  stride: number[];
}

export interface TorchTensor {
  dtype: string;
  shape: number[];
  /** Values as numbers (float32 for floating dtypes). */
  data: Float32Array;
}

function rebuild(args: unknown[]): TensorRef {
  const [storage, offset, size, stride] = args as [StorageRef, number, number[], number[]];
  if (!storage || storage.kind !== 'storage') throw new ChangelingError('io', 'a tensor without a storage');
  return { kind: 'tensor', storage, offset, size: [...size], stride: [...stride] };
}

function readValue(buf: Buffer, dtype: string, k: number): number {
  switch (dtype) {
    case 'float32':
      return buf.readFloatLE(k * 4);
    case 'float16':
      return halfToFloat(buf.readUInt16LE(k * 2));
    case 'bfloat16': {
      const b = Buffer.alloc(4);
      b.writeUInt16LE(buf.readUInt16LE(k * 2), 2);
      return b.readFloatLE(0);
    }
    case 'float64':
      return buf.readDoubleLE(k * 8);
    case 'int64':
      return Number(buf.readBigInt64LE(k * 8));
    case 'int32':
      return buf.readInt32LE(k * 4);
    case 'int16':
      return buf.readInt16LE(k * 2);
    case 'int8':
      return buf.readInt8(k);
    default:
      return buf[k]!;
  }
}

export async function readTorchBin(path: string): Promise<Map<string, TorchTensor>> {
  try {
    return await readTorchBinUnchecked(path);
  } catch (err) {
    // Whatever a corrupt archive or pickle trips over, the user sees one clear line naming the file.
    if (err instanceof ChangelingError) throw err;
    throw new ChangelingError(
      'io',
      `${path} is not a readable pytorch_model.bin (truncated or corrupt?): ${(err as Error)?.message?.split('\n')[0] ?? String(err)}`,
    );
  }
}

function checkRef(t: TensorRef, name: string, path: string): void {
  const ok =
    Number.isInteger(t.offset) &&
    t.offset >= 0 &&
    Array.isArray(t.size) &&
    Array.isArray(t.stride) &&
    t.size.length === t.stride.length &&
    t.size.every((d) => Number.isInteger(d) && d >= 0) &&
    t.stride.every((d) => Number.isInteger(d) && d >= 0);
  if (!ok)
    throw new ChangelingError(
      'io',
      `${path}: tensor ${name} has an impossible layout (offset ${String(t.offset)}, size ${JSON.stringify(t.size)}, stride ${JSON.stringify(t.stride)})`,
    );
}

async function readTorchBinUnchecked(path: string): Promise<Map<string, TorchTensor>> {
  const zip = await ZipFile.open(path);
  try {
    const pkl = [...zip.entries.keys()].find((n) => n.endsWith('/data.pkl') || n === 'data.pkl');
    if (!pkl) throw new ChangelingError('io', `${path} has no data.pkl: not a torch.save archive`);
    const prefix = pkl.slice(0, pkl.length - 'data.pkl'.length);
    const allow: Record<string, (a: unknown[]) => unknown> = {
      'collections.OrderedDict': () => new Map(),
      'torch._utils._rebuild_tensor_v2': rebuild,
      'torch._utils._rebuild_tensor': rebuild,
      'torch._utils._rebuild_parameter': (a) => a[0],
      'torch._utils._rebuild_parameter_with_state': (a) => a[0],
    };
    const constants: Record<string, unknown> = {};
    for (const name of Object.keys(STORAGE)) constants[`torch.${name}`] = STORAGE[name];
    const state = unpickle(await zip.read(pkl), {
      what: path,
      allow,
      constants,
      persistentLoad: (pid) => {
        const [tag, type, key] = pid as [string, { dtype: string; bytes: number }, string];
        if (tag !== 'storage' || !type?.dtype) throw new ChangelingError('io', `${path}: unexpected persistent id ${JSON.stringify(pid)}`);
        return { kind: 'storage', key, dtype: type.dtype, bytes: type.bytes } satisfies StorageRef;
      },
    });
    if (!(state instanceof Map)) throw new ChangelingError('io', `${path} does not hold a state dict`);
    const storages = new Map<string, Buffer>();
    const out = new Map<string, TorchTensor>();
    // Tensors that view the same storage the same way (tied embeddings: shared, embed_tokens, lm_head) share one array.
    const views = new Map<string, Float32Array>();
    for (const [name, v] of state) {
      const t = v as TensorRef;
      if (!t || t.kind !== 'tensor') continue;
      checkRef(t, String(name), path);
      let buf = storages.get(t.storage.key);
      if (!buf) {
        buf = await zip.read(`${prefix}data/${t.storage.key}`);
        storages.set(t.storage.key, buf);
      }
      const n = t.size.reduce((a, b) => a * b, 1);
      const maxIndex = t.offset + t.size.reduce((a, d, k) => a + (d > 0 ? (d - 1) * t.stride[k]! : 0), 0);
      if (n > 0 && (maxIndex + 1) * t.storage.bytes > buf.length)
        throw new ChangelingError('io', `${path}: tensor ${String(name)} reads past its storage (truncated or corrupt file)`);
      const viewKey = `${t.storage.key}:${t.offset}:${t.size.join(',')}:${t.stride.join(',')}`;
      const seen = views.get(viewKey);
      if (seen) {
        out.set(String(name), { dtype: t.storage.dtype, shape: t.size, data: seen });
        continue;
      }
      // A contiguous float32 tensor is the storage's bytes: used in place, not copied (the first use of a
      // full-size checkpoint then holds its weights once).
      const contiguous = t.size.every((_, k) => t.stride[k] === t.size.slice(k + 1).reduce((a, b) => a * b, 1) || t.size[k] === 1);
      const at = buf.byteOffset + t.offset * 4;
      if (t.storage.dtype === 'float32' && contiguous && at % 4 === 0) {
        const data = new Float32Array(buf.buffer, at, n);
        views.set(viewKey, data);
        out.set(String(name), { dtype: t.storage.dtype, shape: t.size, data });
        continue;
      }
      const data = new Float32Array(n);
      const idx = new Array<number>(t.size.length).fill(0);
      for (let k = 0; k < n; k++) {
        let off = t.offset;
        for (let d = 0; d < idx.length; d++) off += idx[d]! * t.stride[d]!;
        data[k] = readValue(buf, t.storage.dtype, off);
        for (let d = idx.length - 1; d >= 0; d--) {
          if (++idx[d]! < t.size[d]!) break;
          idx[d] = 0;
        }
      }
      views.set(viewKey, data);
      out.set(String(name), { dtype: t.storage.dtype, shape: t.size, data });
    }
    return out;
  } finally {
    await zip.close();
  }
}

/** The floating-point tensors of a .bin as a weight map (integer buffers such as position_ids are skipped). */
export async function loadTorchBin(path: string): Promise<WeightMap> {
  const all = await readTorchBin(path);
  const w: WeightMap = new Map();
  for (const [k, t] of all) if (t.dtype.startsWith('float') || t.dtype === 'bfloat16') w.set(k, { shape: t.shape, data: t.data });
  return w;
}
