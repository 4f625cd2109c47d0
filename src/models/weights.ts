import type { GraphBuilder } from '../graph/builder.js';
import type { Tensor } from '../graph/ir.js';
import { ChangelingError } from '../util/errors.js';
import { SafetensorsFile } from './safetensorsFile.js';
import { dirname, join } from 'node:path';
import { readJsonFile } from '../util/jsonFile.js';
import { fieldText } from '../util/text.js';

/** Named float32 weights as a checkpoint stores them (Hugging Face names and layouts). */
export type WeightMap = Map<string, { shape: number[]; data: Float32Array }>;

export async function loadSafetensors(path: string): Promise<WeightMap> {
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
    for (const name of f.tensors.keys()) out.set(name, await f.float32(name));
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
export async function loadShardedSafetensors(indexPath: string): Promise<WeightMap> {
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
  const out: WeightMap = new Map();
  for (const [file, names] of byFile) {
    const shard = await loadSafetensors(join(dirname(indexPath), file));
    for (const name of names) {
      const w = shard.get(name);
      if (!w) throw new ChangelingError('io', `${indexPath} lists ${fieldText(name)} in ${file}, which does not have it`);
      out.set(name, w);
    }
  }
  return out;
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
  ) {}

  get(name: string, shape?: number[]): Tensor {
    const key = this.alias[name] ?? name;
    const seen = this.made.get(key);
    if (seen) return seen;
    const w = this.weights.get(key);
    if (!w) throw new ChangelingError('io', `the checkpoint has no weight "${key}"${key !== name ? ` (for ${name})` : ''}`);
    if (shape && w.shape.join(',') !== shape.join(','))
      throw new ChangelingError('io', `weight ${key} has shape [${w.shape}], expected [${shape}]`);
    let t: Tensor;
    if (this.isTrainable(key)) {
      t = this.b.input(key, 'float32', w.shape);
      this.trainable.push({ tensor: t, init: w.data, decay: !key.endsWith('bias') && !/norm/i.test(key) });
    } else {
      t = this.b.initializer(key, 'float32', w.shape, w.data);
    }
    this.made.set(key, t);
    return t;
  }
}
