import type { GraphBuilder } from '../graph/builder.js';
import type { Tensor } from '../graph/ir.js';
import { ChangelingError } from '../util/errors.js';
import { SafetensorsFile } from './safetensorsFile.js';
import { basename, dirname, join } from 'node:path';
import { readJsonFile } from '../util/jsonFile.js';
import { fieldText } from '../util/text.js';

/** Named float32 weights as a checkpoint stores them (Hugging Face names and layouts). */
export type WeightMap = Map<string, { shape: number[]; data: Float32Array }>;

/** A frozen matrix kept in int8 while training: one symmetric scale per row (graph/quantize.ts). */
export interface Int8Weight {
  shape: [number, number];
  q: Int8Array;
  scale: Float32Array;
}

/**
 * Called with each tensor as it is read; returning true means the caller took it (e.g. quantized it into its own
 * map) and the loader does not keep the float32 copy, so a large model is never held whole in float32.
 */
export type TakeWeight = (name: string, w: { shape: number[]; data: Float32Array }) => boolean;

export async function loadSafetensors(path: string, take?: TakeWeight): Promise<WeightMap> {
  let f: SafetensorsFile;
  try {
    f = await SafetensorsFile.open(path);
  } catch (err) {
    if (err instanceof ChangelingError) throw err;
    throw new ChangelingError(
      'io',
      `${path} is not a readable safetensors file: ${(err as Error)?.message?.split('\n')[0] ?? String(err)}`,
    );
  }
  try {
    const out: WeightMap = new Map();
    for (const name of f.tensors.keys()) {
      const w = await f.float32(name);
      if (!take?.(name, w)) out.set(name, w);
    }
    return out;
  } finally {
    await f.close();
  }
}

/**
 * Weights split over several safetensors files, as model.safetensors.index.json lists them (its weight_map:
 * tensor name -> file). File names must be plain names of files beside the index; each tensor is read from the
 * file the index names for it, and a tensor the index lists but its file lacks is an error.
 */
export async function loadShardedSafetensors(indexPath: string, take?: TakeWeight): Promise<WeightMap> {
  const byFile = await shardFiles(indexPath);
  const out: WeightMap = new Map();
  for (const [file, names] of byFile) {
    const taken = new Set<string>();
    const wanted = new Set(names);
    const shard = await loadSafetensors(
      join(dirname(indexPath), file),
      (name, w) => wanted.has(name) && !!take?.(name, w) && !!taken.add(name),
    );
    for (const name of names) {
      const w = shard.get(name);
      if (!w && !taken.has(name))
        throw new ChangelingError('io', `${indexPath} lists ${fieldText(name)} in ${file}, which does not have it`);
      if (w) out.set(name, w);
    }
  }
  return out;
}

/** The index's files (plain names beside it) and the tensors it lists in each. */
async function shardFiles(indexPath: string): Promise<Map<string, string[]>> {
  const index = (await readJsonFile(indexPath)) as { weight_map?: unknown };
  const map = index?.weight_map;
  if (!map || typeof map !== 'object' || Array.isArray(map))
    throw new ChangelingError('io', `${indexPath} has no weight_map (tensor name -> file)`);
  const byFile = new Map<string, string[]>();
  for (const [name, file] of Object.entries(map as Record<string, unknown>)) {
    if (typeof file !== 'string' || !/^[\w.-]+\.safetensors$/.test(file) || file.startsWith('.'))
      throw new ChangelingError('io', `${indexPath}: "${fieldText(String(file))}" is not the name of a safetensors file beside the index`);
    byFile.set(file, [...(byFile.get(file) ?? []), name]);
  }
  return byFile;
}

/**
 * A weight read from its file each time its `data` is asked for, and not kept: an inference graph built from these
 * holds one float32 matrix at a time while its large matrices are quantized (graph/quantize.ts reads each once, the
 * serializer reads what stays float32), so a model is never whole in float32 in JavaScript.
 */
export class DeferredWeight {
  constructor(
    readonly shape: number[],
    private readonly read: (rows?: { start: number; count: number }) => Float32Array,
  ) {}

  get data(): Float32Array {
    return this.read();
  }

  /** Rows start..start+count-1 of the first axis only (a large matrix quantized a slice at a time). */
  rows(start: number, count: number): Float32Array {
    return this.read({ start, count });
  }
}

/**
 * DeferredWeights with the files they read from: each load has its own handles (two graphs built at once from one
 * model never close each other's), closed by `closeWeights` once the graph that reads them is written.
 */
export class DeferredWeightMap extends Map<string, { shape: number[]; data: Float32Array }> {
  readonly files: SafetensorsFile[] = [];

  async close(): Promise<void> {
    await Promise.all(this.files.splice(0).map((f) => f.close()));
  }
}

/** Closes the files of deferred weights (nothing to do for weights read whole). */
export async function closeWeights(weights: WeightMap | null): Promise<void> {
  if (weights instanceof DeferredWeightMap) await weights.close();
}

/**
 * The weights of a safetensors file, or of the shards an index lists, as DeferredWeights in a DeferredWeightMap (a
 * weight asked for after its `close` fails). Headers are read and checked now; tensor data only when asked for.
 */
export async function deferredSafetensors(path: string, o: { index?: boolean } = {}): Promise<DeferredWeightMap> {
  const byFile = o.index ? await shardFiles(path) : new Map([[basename(path), null]]);
  const weights = new DeferredWeightMap();
  try {
    for (const [file, names] of byFile) {
      const f = await SafetensorsFile.open(join(dirname(path), file));
      weights.files.push(f);
      for (const name of names ?? f.tensors.keys()) {
        const t = f.tensors.get(name);
        if (!t) throw new ChangelingError('io', `${path} lists ${fieldText(name)} in ${file}, which does not have it`);
        weights.set(name, new DeferredWeight(t.shape, (rows) => f.float32Sync(name, rows)));
      }
    }
    return weights;
  } catch (err) {
    await weights.close();
    throw err;
  }
}

/**
 * Where an architecture builder gets its weights: each name once per graph (a tied weight used three
 * times is one tensor, so its gradient sums over the uses), as a frozen initializer, or as a trainable
 * graph input when `trainable(name)` says so. `alias` maps a name to the one that holds its value.
 */
export class GraphWeights {
  private readonly made = new Map<string, Tensor>();
  readonly trainable: Array<{ tensor: Tensor; init: Float32Array; decay: boolean }> = [];

  constructor(
    private readonly b: GraphBuilder,
    private readonly weights: WeightMap,
    private readonly isTrainable: (name: string) => boolean = () => false,
    private readonly alias: Record<string, string> = {},
    /** Frozen matrices held in int8: each becomes its int8 and scale initializers and a DequantizeLinear named as the weight. */
    private readonly int8: ReadonlyMap<string, Int8Weight> = new Map(),
  ) {}

  get(name: string, shape?: number[]): Tensor {
    const key = this.alias[name] ?? name;
    const seen = this.made.get(key);
    if (seen) return seen;
    const q = this.int8.get(key);
    const f = q ? undefined : this.weights.get(key);
    const w = q ?? f;
    if (!w) throw new ChangelingError('io', `the checkpoint has no weight "${key}"${key !== name ? ` (for ${name})` : ''}`);
    if (shape && w.shape.join(',') !== shape.join(','))
      throw new ChangelingError('io', `weight ${key} has shape [${w.shape}], expected [${shape}]`);
    let t: Tensor;
    if (q) {
      t = this.b.dequantizeWeight(key, q);
    } else if (this.isTrainable(key)) {
      t = this.b.input(key, 'float32', f!.shape);
      this.trainable.push({ tensor: t, init: f!.data, decay: !key.endsWith('bias') && !/norm/i.test(key) });
    } else {
      // A deferred weight is read when the graph's data is (quantized or serialized), not now.
      const w = f!;
      t =
        w instanceof DeferredWeight
          ? this.b.initializer(key, 'float32', w.shape, () => w.data, { rows: (start, count) => w.rows(start, count) })
          : this.b.initializer(key, 'float32', w.shape, w.data);
    }
    this.made.set(key, t);
    return t;
  }
}
