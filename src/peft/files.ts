import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { encodeSafetensors, type NamedTensor } from '../models/safetensors.js';
import { loadSafetensors, type WeightMap } from '../models/weights.js';
import { ChangelingError } from '../util/errors.js';
import { writeBytesAtomic, writeFileAtomic } from '../util/atomicFile.js';
import { writeOutputFolder } from '../util/outputTarget.js';
import { firstNonFinite } from '../util/numbers.js';
import { readJsonFile } from '../util/jsonFile.js';

/**
 * Adapters in Hugging Face PEFT's file format: a folder with adapter_config.json and
 * adapter_model.safetensors (PEFT's key names), written atomically as a whole folder. `extra`: the base weights
 * trained with the method (a task head, layer norms with adapters), extra_trainable.safetensors beside them.
 */
export async function readAdapter(dir: string): Promise<{ config: Record<string, unknown>; weights: WeightMap; extra: WeightMap }> {
  const cfgPath = join(dir, 'adapter_config.json');
  const stPath = join(dir, 'adapter_model.safetensors');
  if (!existsSync(cfgPath)) throw new ChangelingError('not-found', `${dir} has no adapter_config.json: not a PEFT adapter folder`);
  if (!existsSync(stPath)) {
    if (existsSync(join(dir, 'adapter_model.bin')))
      throw new ChangelingError('usage', `${dir} has adapter_model.bin; save the adapter with safetensors (PEFT's default)`);
    throw new ChangelingError('not-found', `${dir} has no adapter_model.safetensors`);
  }
  const config = (await readJsonFile(cfgPath)) as Record<string, unknown>;
  const weights = await finiteTensors(stPath);
  const extraPath = join(dir, 'extra_trainable.safetensors');
  const extra = existsSync(extraPath) ? await finiteTensors(extraPath) : new Map();
  return { config, weights, extra };
}

/** A safetensors file's tensors; weights that are not finite numbers make every activation NaN: refused here, not discovered as empty messages. */
async function finiteTensors(path: string): Promise<WeightMap> {
  const weights = await loadSafetensors(path);
  for (const [name, t] of weights) {
    const i = firstNonFinite(t.data);
    if (i >= 0)
      throw new ChangelingError(
        'model',
        `${path}: tensor ${name} holds ${t.data[i]} at ${i}; the adapter is broken (a diverged training run?)`,
      );
  }
  return weights;
}

/** Writes an adapter's files into a fresh folder (the fill of a folder output). */
export async function writeAdapterFiles(
  dir: string,
  config: Record<string, unknown>,
  tensors: Record<string, NamedTensor>,
  extraFiles: Record<string, string | Uint8Array> = {},
): Promise<void> {
  await writeFileAtomic(join(dir, 'adapter_config.json'), JSON.stringify(config, null, 2) + '\n');
  await writeBytesAtomic(join(dir, 'adapter_model.safetensors'), encodeSafetensors(tensors, { format: 'pt' }));
  for (const [name, text] of Object.entries(extraFiles))
    await writeBytesAtomic(join(dir, name), typeof text === 'string' ? Buffer.from(text) : text);
}

/** Saves an adapter folder as a folder output (see `writeOutputFolder`: never over what Changeling did not write). */
export async function writeAdapter(
  dir: string,
  config: Record<string, unknown>,
  tensors: Record<string, NamedTensor>,
  extraFiles: Record<string, string | Uint8Array> = {},
  o: { owned?: boolean; what?: string } = {},
): Promise<void> {
  await writeOutputFolder(dir, (tmp) => writeAdapterFiles(tmp, config, tensors, extraFiles), { what: 'the adapter', ...o });
}
