import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ChangelingError } from '../util/errors.js';
import {
  parseBartConfig,
  parseRobertaConfig,
  parseT5Config,
  readConfigJson,
  type BartConfig,
  type RobertaConfig,
  type T5Config,
} from './config.js';
import { loadSafetensors, type WeightMap } from './weights.js';
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
  /** The weights, read on first call (not needed when the model's graphs are cached). */
  loadWeights(): Promise<WeightMap>;
  /** Forgets the weights read by loadWeights (a later call reads them again): once graphs are cached, they are dead weight. */
  releaseWeights?(): void;
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

export type ModelFolder =
  | (FolderBase & { kind: 't5'; config: T5Config })
  | (FolderBase & { kind: 'bart'; config: BartConfig })
  | (FolderBase & { kind: 'roberta'; config: RobertaConfig });

/** A Hugging Face model folder: config.json and model.safetensors (or pytorch_model.bin), for T5, BART/PLBART or RoBERTa. */
export async function loadModelFolder(dir: string): Promise<ModelFolder> {
  if (!existsSync(dir)) throw new ChangelingError('not-found', `no such model folder: ${dir}`);
  const raw = await readConfigJson(dir);
  const where = join(dir, 'config.json');
  const st = join(dir, 'model.safetensors');
  const bin = join(dir, 'pytorch_model.bin');
  if (!existsSync(st) && !existsSync(bin)) throw new ChangelingError('not-found', `${dir} has no model.safetensors or pytorch_model.bin`);
  // safetensors first: it cannot carry code; the .bin reader executes nothing either, but is the fallback.
  const weightsPath = existsSync(st) ? st : bin;
  let loaded: Promise<WeightMap> | null = null;
  const folder = (kind: 't5' | 'bart' | 'roberta', config: T5Config | BartConfig | RobertaConfig) => ({
    dir,
    weightsPath,
    // Every weight is checked against the config as it is read.
    loadWeights: () =>
      (loaded ??= (existsSync(st) ? loadSafetensors(st) : loadTorchBin(bin)).then((w) => checkWeightShapes(kind, config, w, weightsPath))),
    releaseWeights: () => void (loaded = null),
  });
  switch (raw.model_type) {
    case 't5': {
      const config = parseT5Config(raw, where);
      return { ...folder('t5', config), kind: 't5', config };
    }
    case 'bart':
    case 'plbart': {
      const config = parseBartConfig(raw, where);
      return { ...folder('bart', config), kind: 'bart', config };
    }
    case 'roberta': {
      const config = parseRobertaConfig(raw, where);
      return { ...folder('roberta', config), kind: 'roberta', config };
    }
    default:
      throw new ChangelingError('usage', `${where}: model_type "${String(raw.model_type)}" is not supported (t5, bart, plbart, roberta)`);
  }
}
