import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelFolder } from '../models/modelFolder.js';
import type { WeightMap } from '../models/weights.js';
import { ChangelingError } from '../util/errors.js';
import { readAdapter } from './files.js';
import { loraScaling, parseLoraConfig } from './lora/config.js';
import { mergeLora } from './lora/inject.js';

/**
 * A model folder whose weights carry a LoRA adapter merged in (W + s B A): inference at the base model's
 * cost. The adapter's files join the graph-cache key, so each adapter gets its own cached graphs.
 */
export async function withMergedLora(model: ModelFolder, adapterDir: string): Promise<ModelFolder> {
  const adapter = await readAdapter(adapterDir);
  if (adapter.config.peft_type !== 'LORA') throw new ChangelingError('usage', `${adapterDir}: only LoRA adapters can be merged for inference so far (this one is ${String(adapter.config.peft_type)})`);
  const cfg = parseLoraConfig(adapter.config, join(adapterDir, 'adapter_config.json'));
  const s = loraScaling(cfg);
  const st = statSync(join(adapterDir, 'adapter_model.safetensors'));
  const load = async (): Promise<WeightMap> => {
    const base = await model.loadWeights();
    const merged: WeightMap = new Map(base);
    const prefixed = [...base.keys()].some((k) => k.startsWith('roberta.'));
    let n = 0;
    for (const [key, a] of adapter.weights) {
      if (!key.endsWith('.lora_A.weight')) continue;
      const module = key.slice('base_model.model.'.length, -'.lora_A.weight'.length);
      const bm = adapter.weights.get(`base_model.model.${module}.lora_B.weight`);
      const name = [`${module}.weight`, `roberta.${module}.weight`].find((k) => base.has(k) && (prefixed || k === `${module}.weight`));
      if (!bm || !name) throw new ChangelingError('io', `${adapterDir}: ${key} does not fit this model (no ${module}.weight or its lora_B)`);
      const w = base.get(name)!;
      merged.set(name, { shape: w.shape, data: mergeLora(w.data, w.shape[0]!, w.shape[1]!, a.data, bm.data, cfg.r, s) });
      n++;
    }
    if (n === 0) throw new ChangelingError('io', `${adapterDir} has no LoRA weights`);
    return merged;
  };
  let loaded: Promise<WeightMap> | null = null;
  return { ...model, cacheExtra: `${adapterDir}:${st.size}:${st.mtimeMs}`, loadWeights: () => (loaded ??= load()) };
}
