import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelFolder } from '../models/modelFolder.js';
import type { WeightMap } from '../models/weights.js';
import { injectAdapters } from './adapter/inject.js';
import { parseAdapterConfig } from './adapter/config.js';
import { ChangelingError } from '../util/errors.js';
import { readAdapter } from './files.js';
import { loraScaling, parseLoraConfig } from './lora/config.js';
import { mergeLora } from './lora/inject.js';
import { checkPeftCausalPrefix, parsePeftPrefixConfig, peftCausalEntry } from './prefix/peftPrefix.js';
import { parsePrefixConfig } from './prefix/config.js';
import { injectPrefixes } from './prefix/inject.js';
import { tuningOf } from './tuningGraph.js';

/**
 * A model folder whose weights carry a LoRA adapter merged in (W + s B A): inference at the base model's
 * cost. The adapter's files join the graph-cache key, so each adapter gets its own cached graphs.
 */
async function withMergedLora(model: ModelFolder, adapterDir: string): Promise<ModelFolder> {
  const adapter = await readAdapter(adapterDir);
  if (adapter.config.peft_type !== 'LORA')
    throw new ChangelingError(
      'usage',
      `${adapterDir}: only LoRA adapters can be merged for inference so far (this one is ${String(adapter.config.peft_type)})`,
    );
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
      if (!bm || !name)
        throw new ChangelingError('io', `${adapterDir}: ${key} does not fit this model (no ${module}.weight or its lora_B)`);
      const w = base.get(name)!;
      // The adapter must fit this model and its own config: A is [r, in], B is [out, r].
      if (a.shape.join(',') !== `${cfg.r},${w.shape[1]}` || bm.shape.join(',') !== `${w.shape[0]},${cfg.r}`) {
        throw new ChangelingError(
          'usage',
          `${adapterDir}: ${module} has LoRA shapes A [${a.shape.join(', ')}], B [${bm.shape.join(', ')}] but this \
model and the adapter's rank ${cfg.r} need A [${cfg.r}, ${w.shape[1]}], B [${w.shape[0]}, ${cfg.r}]: an adapter \
for another model, or a config that does not match its tensors`,
        );
      }
      merged.set(name, { shape: w.shape, data: mergeLora(w.data, w.shape[0]!, w.shape[1]!, a.data, bm.data, cfg.r, s) });
      n++;
    }
    if (n === 0) throw new ChangelingError('io', `${adapterDir} has no LoRA weights`);
    return merged;
  };
  let loaded: Promise<WeightMap> | null = null;
  return {
    ...model,
    cacheExtra: `${adapterDir}:${st.size}:${st.mtimeMs}`,
    loadWeights: () => (loaded ??= load()),
    // Only through load(): the base folder's own reader would leave the adapter out.
    readWeights: undefined,
    releaseWeights: () => {
      loaded = null;
      model.releaseWeights?.();
    },
  };
}

/**
 * A model folder whose inference graphs carry Changeling's bottleneck adapters (with their trained weights as
 * graph constants) and whose base weights carry the layer norms trained with them (extra_trainable.safetensors).
 * The adapter's files join the graph-cache key.
 */
async function withAdapters(model: ModelFolder, adapterDir: string): Promise<ModelFolder> {
  const adapter = await readAdapter(adapterDir);
  if (adapter.config.peft_type !== 'CHANGELING_BOTTLENECK')
    throw new ChangelingError(
      'usage',
      `${adapterDir} is not a Changeling bottleneck adapter (peft_type ${String(adapter.config.peft_type)})`,
    );
  const cfg = parseAdapterConfig(adapter.config, join(adapterDir, 'adapter_config.json'));
  const st = statSync(join(adapterDir, 'adapter_model.safetensors'));
  const extra = adapter.extra;
  let loaded: Promise<WeightMap> | null = null;
  const load = async (): Promise<WeightMap> => {
    const merged: WeightMap = new Map(await model.loadWeights());
    for (const [k, v] of extra) merged.set(k, v);
    return merged;
  };
  return {
    ...model,
    cacheExtra: `${model.cacheExtra ?? ''}|adapter:${adapterDir}:${st.size}:${st.mtimeMs}`,
    loadWeights: () => (loaded ??= load()),
    // Only through load(): the base folder's own reader would leave the adapter out.
    readWeights: undefined,
    releaseWeights: () => {
      loaded = null;
      model.releaseWeights?.();
    },
    graphTransforms: [...(model.graphTransforms ?? []), (b) => void injectAdapters(b, cfg, { values: adapter.weights, optional: true })],
  };
}

/**
 * A model folder whose inference graphs carry Changeling's prefixes (every attention, Li and Liang) with their
 * trained values as graph constants: the encoder's self-attention, and the decoder's self- and cross-attention in
 * the full decoder and the cached step graph alike (the step prepends them to the cache and to the cross keys
 * and values, so the cache itself holds only tokens). The adapter's files join the graph-cache key.
 */
async function withPrefixes(model: ModelFolder, adapterDir: string): Promise<ModelFolder> {
  const adapter = await readAdapter(adapterDir);
  const cfg = parsePrefixConfig(adapter.config, join(adapterDir, 'adapter_config.json'));
  const st = statSync(join(adapterDir, 'adapter_model.safetensors'));
  return {
    ...model,
    cacheExtra: `${model.cacheExtra ?? ''}|prefix:${adapterDir}:${st.size}:${st.mtimeMs}`,
    graphTransforms: [
      ...(model.graphTransforms ?? []),
      (b) => void injectPrefixes(b, cfg.numVirtualTokens, { values: adapter.weights, optional: true }),
    ],
  };
}

/** A model folder with any adapter Changeling runs applied: LoRA merged in, bottleneck adapters or prefixes in its graphs. */
export async function withAdapter(model: ModelFolder, adapterDir: string): Promise<ModelFolder> {
  const { config } = await readAdapter(adapterDir);
  const { method } = tuningOf(config, join(adapterDir, 'adapter_config.json'));
  if (method === 'peft-prefix') return withPeftPrefix(model, adapterDir);
  if (method === 'prefix') return withPrefixes(model, adapterDir);
  return method === 'adapter' ? withAdapters(model, adapterDir) : withMergedLora(model, adapterDir);
}

/**
 * A causal LM whose cache starts with PEFT's prefix (CausalLmRunner puts it before every prompt), or a T5 with
 * PEFT's prefix-tuning for generation: the decoder's self-attention starts from the prefix keys and
 * values (entry (4l mod 2L) as keys and (4l + 1 mod 2L) as values of layer l, as PEFT 0.21 injects them),
 * which positions them at 0..P-1 before the tokens exactly as PEFT's past_key_values do.
 */
async function withPeftPrefix(model: ModelFolder, adapterDir: string): Promise<ModelFolder> {
  if (model.kind !== 't5' && model.kind !== 'llama')
    throw new ChangelingError(
      'usage',
      `${adapterDir}: PEFT prefix-tuning adapters generate with T5 and decoder-only models here (this one is ${model.kind})`,
    );
  const adapter = await readAdapter(adapterDir);
  const p = parsePeftPrefixConfig(adapter.config, join(adapterDir, 'adapter_config.json'));
  if (model.kind === 'llama') {
    // A causal LM's prefix is the start of its key/value cache: entry 2l the keys and 2l + 1 the values of layer l.
    checkPeftCausalPrefix(model.config, p, adapterDir);
    const E = adapter.weights.get('prompt_embeddings');
    const width = p.numLayers * 2 * p.tokenDim;
    if (!E || E.shape.join(',') !== `${p.numVirtualTokens},${width}`)
      throw new ChangelingError(
        'usage',
        `${adapterDir}: prompt_embeddings must be [${p.numVirtualTokens}, ${width}] (it is [${E?.shape.join(', ') ?? 'missing'}])`,
      );
    const layers = Array.from({ length: p.numLayers }, (_, i) => ({
      key: peftCausalEntry(E.data, p, 2 * i),
      value: peftCausalEntry(E.data, p, 2 * i + 1),
    }));
    return { ...model, decoderPrefix: { length: p.numVirtualTokens, layers } };
  }
  const c = model.config;
  const E = adapter.weights.get('prompt_embeddings');
  const L = p.numLayers;
  const d = c.dModel;
  if (p.tokenDim !== d || p.numAttentionHeads !== c.numHeads || L !== c.numDecoderLayers)
    throw new ChangelingError(
      'usage',
      `${adapterDir}: the prefix adapter was made for d_model ${p.tokenDim}, ${p.numAttentionHeads} heads and ${L} layers; the model has ${d}, ${c.numHeads} and ${c.numDecoderLayers}`,
    );
  if (!E || E.shape.join(',') !== `${p.numVirtualTokens},${L * 2 * d}`)
    throw new ChangelingError(
      'usage',
      `${adapterDir}: prompt_embeddings must be [${p.numVirtualTokens}, ${L * 2 * d}] (it is [${E?.shape.join(', ') ?? 'missing'}])`,
    );
  const P = p.numVirtualTokens;
  // Entry e: E[:, e*d:(e+1)*d] as [P, H, d_kv], transposed to [H, P, d_kv].
  const entry = (e: number) => {
    const out = new Float32Array(c.numHeads * P * c.dKv);
    for (let t = 0; t < P; t++)
      for (let h = 0; h < c.numHeads; h++)
        for (let k = 0; k < c.dKv; k++) out[(h * P + t) * c.dKv + k] = E.data[t * L * 2 * d + e * d + h * c.dKv + k]!;
    return out;
  };
  const layers = Array.from({ length: c.numDecoderLayers }, (_, i) => ({
    key: entry((4 * i) % (2 * L)),
    value: entry((4 * i + 1) % (2 * L)),
  }));
  return { ...model, decoderPrefix: { length: P, layers } };
}
