import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ChangelingError } from '../util/errors.js';
import { parseBartConfig, parseRobertaConfig, parseT5Config, readConfigJson, type BartConfig, type RobertaConfig, type T5Config } from './config.js';
import { loadSafetensors, type WeightMap } from './weights.js';
import { loadTorchBin } from './torchBin.js';

export type ModelFolder =
  | { dir: string; kind: 't5'; config: T5Config; weights: WeightMap }
  | { dir: string; kind: 'bart'; config: BartConfig; weights: WeightMap }
  | { dir: string; kind: 'roberta'; config: RobertaConfig; weights: WeightMap };

/** A Hugging Face model folder: config.json and model.safetensors (or pytorch_model.bin), for T5, BART/PLBART or RoBERTa. */
export async function loadModelFolder(dir: string): Promise<ModelFolder> {
  if (!existsSync(dir)) throw new ChangelingError('not-found', `no such model folder: ${dir}`);
  const raw = await readConfigJson(dir);
  const where = join(dir, 'config.json');
  const st = join(dir, 'model.safetensors');
  const bin = join(dir, 'pytorch_model.bin');
  if (!existsSync(st) && !existsSync(bin)) throw new ChangelingError('not-found', `${dir} has no model.safetensors or pytorch_model.bin`);
  // safetensors first: it cannot carry code; the .bin reader executes nothing either, but is the fallback.
  const weights = () => (existsSync(st) ? loadSafetensors(st) : loadTorchBin(bin));
  switch (raw.model_type) {
    case 't5':
      return { dir, kind: 't5', config: parseT5Config(raw, where), weights: await weights() };
    case 'bart':
    case 'plbart':
      return { dir, kind: 'bart', config: parseBartConfig(raw, where), weights: await weights() };
    case 'roberta':
      return { dir, kind: 'roberta', config: parseRobertaConfig(raw, where), weights: await weights() };
    default:
      throw new ChangelingError('usage', `${where}: model_type "${String(raw.model_type)}" is not supported (t5, bart, plbart, roberta)`);
  }
}
