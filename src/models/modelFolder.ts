import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ChangelingError } from '../util/errors.js';
import { parseT5Config, readConfigJson, type T5Config } from './config.js';
import { loadSafetensors, type WeightMap } from './weights.js';

export interface ModelFolder {
  dir: string;
  config: T5Config;
  weights: WeightMap;
}

/** A Hugging Face model folder: config.json and model.safetensors. */
export async function loadModelFolder(dir: string): Promise<ModelFolder> {
  if (!existsSync(dir)) throw new ChangelingError('not-found', `no such model folder: ${dir}`);
  const raw = await readConfigJson(dir);
  const type = raw.model_type;
  if (type !== 't5') throw new ChangelingError('usage', `${dir}: model_type "${String(type)}" is not supported yet (t5 is; roberta and plbart are in progress)`);
  const st = join(dir, 'model.safetensors');
  if (!existsSync(st)) {
    if (existsSync(join(dir, 'pytorch_model.bin'))) throw new ChangelingError('usage', `${dir} has only pytorch_model.bin; its reader is in progress, use a model.safetensors copy for now`);
    throw new ChangelingError('not-found', `${dir} has no model.safetensors`);
  }
  return { dir, config: parseT5Config(raw, join(dir, 'config.json')), weights: await loadSafetensors(st) };
}
