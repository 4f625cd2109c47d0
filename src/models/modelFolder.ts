import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ChangelingError } from '../util/errors.js';
import { readConfigJson } from './config.js';
import { architectureFor, type ARCHITECTURES, type ModelKind } from './architectures.js';
import { deferredSafetensors, loadSafetensors, loadShardedSafetensors, type TakeWeight, type WeightMap } from './weights.js';
import { loadTorchBin } from './torchBin.js';
import { checkWeightShapes } from './expectedShapes.js';

/**
 * A model folder (config, weights, tokenizer, profile) checked and read: which architecture it is, and its
 * weights and settings.
 */

interface FolderBase {
  dir: string;
  /** model.safetensors, or pytorch_model.bin when there is no safetensors file. */
  weightsPath: string;
  /**
   * The weights, read on first call (not needed when the model's graphs are cached). With `deferred`, from
   * safetensors: a DeferredWeightMap of its own (not cached), each weight read from its file when its data is asked
   * for and not kept (for building an inference graph that quantizes as it goes; `closeWeights` closes its files
   * once the graph is written). A folder that changes its weights (a merged adapter) ignores `deferred` and gives its
   * own, read whole.
   */
  loadWeights(o?: { deferred?: boolean }): Promise<WeightMap>;
  /** Forgets the weights read by loadWeights (a later call reads them again): once graphs are cached, they are dead weight. */
  releaseWeights?(): void;
  /** The weights read afresh, each offered to `take` as it is read (what it takes is not kept in the map). */
  readWeights?(take: TakeWeight): Promise<WeightMap>;
  /** What else changes the weights (a merged adapter): part of the graph-cache key. */
  cacheExtra?: string;
  /**
   * Prefix keys and values the decoder's self-attention starts from (PEFT's prefix-tuning of T5): per decoder
   * layer [heads, length, head_dim]. They fill the self-attention cache before the first token, so the
   * cached graphs stay those of the base model.
   */
  decoderPrefix?: { length: number; layers: Array<{ key: Float32Array; value: Float32Array }> };
  /** Rewrites applied to each inference graph after it is built (bottleneck adapters with their weights). */
  graphTransforms?: Array<(b: import('../graph/builder.js').GraphBuilder) => void>;
}

/** A loaded folder of any architecture in models/architectures.ts: its kind and its parsed config. */
export type ModelFolder = {
  [K in ModelKind]: FolderBase & { kind: K; config: ReturnType<Extract<(typeof ARCHITECTURES)[number], { kind: K }>['parseConfig']> };
}[ModelKind];

/**
 * A Hugging Face model folder: config.json and model.safetensors (or shards listed in
 * model.safetensors.index.json, or pytorch_model.bin), for T5, BART/PLBART, RoBERTa, or the Llama family
 * (Llama, Qwen2). Nothing else is needed to load it: tokenizer and generation config are read by their users.
 */
export async function loadModelFolder(dir: string): Promise<ModelFolder> {
  if (!existsSync(dir)) throw new ChangelingError('not-found', `no such model folder: ${dir}`);
  const raw = await readConfigJson(dir);
  const where = join(dir, 'config.json');
  const st = join(dir, 'model.safetensors');
  const index = join(dir, 'model.safetensors.index.json');
  const bin = join(dir, 'pytorch_model.bin');
  // safetensors first: it cannot carry code; the .bin reader executes nothing either, but is the fallback.
  const weightsPath = [st, index, bin].find((p) => existsSync(p));
  if (!weightsPath)
    throw new ChangelingError('not-found', `${dir} has no model.safetensors, model.safetensors.index.json or pytorch_model.bin`);
  const read = async (take?: TakeWeight): Promise<WeightMap> => {
    if (weightsPath === st) return loadSafetensors(st, take);
    if (weightsPath === index) return loadShardedSafetensors(index, take);
    const all = await loadTorchBin(bin);
    if (take) for (const [name, w] of [...all]) if (take(name, w)) all.delete(name);
    return all;
  };
  let loaded: Promise<WeightMap> | null = null;
  const folder = (kind: ModelFolder['kind'], config: ModelFolder['config']) => ({
    dir,
    weightsPath,
    // Every weight is checked against the config as it is read (a deferred one by its shape, before its data is read).
    loadWeights: (o?: { deferred?: boolean }) =>
      o?.deferred && weightsPath !== bin
        ? deferredSafetensors(weightsPath, { index: weightsPath === index }).then(async (d) => {
            try {
              return checkWeightShapes(kind, config, d, weightsPath);
            } catch (err) {
              await d.close();
              throw err;
            }
          })
        : (loaded ??= read().then((w) => checkWeightShapes(kind, config, w, weightsPath))),
    // Uncached: each tensor checked as it is read (every one is offered), then to `take` (which keeps what it takes in its own form).
    readWeights: (take: TakeWeight) =>
      read((name, w) => take(name, checkWeightShapes(kind, config, new Map([[name, w]]), weightsPath).get(name)!)),
    releaseWeights: () => void (loaded = null),
  });
  const arch = architectureFor(raw.model_type, where);
  const config = arch.parseConfig(raw, where);
  return { ...folder(arch.kind, config), kind: arch.kind, config } as ModelFolder;
}

/** The folder narrowed to the architectures a use supports; otherwise one clear error saying what is not supported. */
export function requireKind<K extends ModelFolder['kind']>(
  m: ModelFolder,
  kinds: readonly K[],
  what: string,
): Extract<ModelFolder, { kind: K }> {
  if ((kinds as readonly string[]).includes(m.kind)) return m as Extract<ModelFolder, { kind: K }>;
  const family = m.kind === 'llama' ? `a decoder-only (${m.config.modelType}) model` : `a ${m.kind} model`;
  throw new ChangelingError('usage', `${m.dir} is ${family}: ${what} supports ${kinds.join(', ')} models`);
}
