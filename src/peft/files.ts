import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { encodeSafetensors, type NamedTensor } from '../models/safetensors.js';
import { loadSafetensors, type WeightMap } from '../models/weights.js';
import { ChangelingError, fileError } from '../util/errors.js';
import { readJsonFile } from '../util/jsonFile.js';

/**
 * Adapters in Hugging Face PEFT's file format: a folder with adapter_config.json and
 * adapter_model.safetensors (PEFT's key names), written atomically as a whole folder.
 */
export async function readAdapter(dir: string): Promise<{ config: Record<string, unknown>; weights: WeightMap }> {
  const cfgPath = join(dir, 'adapter_config.json');
  const stPath = join(dir, 'adapter_model.safetensors');
  if (!existsSync(cfgPath)) throw new ChangelingError('not-found', `${dir} has no adapter_config.json: not a PEFT adapter folder`);
  if (!existsSync(stPath)) {
    if (existsSync(join(dir, 'adapter_model.bin')))
      throw new ChangelingError('usage', `${dir} has adapter_model.bin; save the adapter with safetensors (PEFT's default)`);
    throw new ChangelingError('not-found', `${dir} has no adapter_model.safetensors`);
  }
  const config = (await readJsonFile(cfgPath)) as Record<string, unknown>;
  return { config, weights: await loadSafetensors(stPath) };
}

export async function writeAdapter(
  dir: string,
  config: Record<string, unknown>,
  tensors: Record<string, NamedTensor>,
  extraFiles: Record<string, string | Uint8Array> = {},
): Promise<void> {
  const tmp = join(dirname(dir), `.${randomBytes(4).toString('hex')}.adapter-tmp`);
  try {
    await mkdir(tmp, { recursive: true });
    await writeFile(join(tmp, 'adapter_config.json'), JSON.stringify(config, null, 2) + '\n');
    await writeFile(join(tmp, 'adapter_model.safetensors'), encodeSafetensors(tensors, { format: 'pt' }));
    for (const [name, text] of Object.entries(extraFiles)) await writeFile(join(tmp, name), text);
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw fileError(err, dir, 'saving the adapter to');
  }
}
