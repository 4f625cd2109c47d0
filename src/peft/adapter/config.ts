import { ChangelingError } from '../../util/errors.js';

/** Changeling's bottleneck adapters as adapter_config.json holds them (PEFT's style; PEFT itself has no such tuner). */
export interface AdapterConfig {
  size: number;
  nonLinearity: 'relu' | 'gelu';
  /** Which sites: any of self_attn_adapter, cross_attn_adapter, ffn_adapter. */
  sites: string[];
  /** Train the model's layer norms too (the study's adapter setting). */
  trainLayerNorms: boolean;
}

export const DEFAULT_ADAPTER: AdapterConfig = {
  size: 128,
  nonLinearity: 'relu',
  sites: ['self_attn_adapter', 'cross_attn_adapter', 'ffn_adapter'],
  trainLayerNorms: true,
};

/** adapter_config.json for Changeling's bottleneck adapters (PEFT's style; PEFT itself cannot load it). */
export function adapterConfigJson(c: AdapterConfig, baseModel: string | null, taskType: string | null): Record<string, unknown> {
  return {
    peft_type: 'CHANGELING_BOTTLENECK',
    format_version: 1,
    task_type: taskType,
    base_model_name_or_path: baseModel,
    adapter_size: c.size,
    non_linearity: c.nonLinearity,
    sites: c.sites,
    train_layer_norms: c.trainLayerNorms,
    formula: "A(h) = h + up(act(down(h))), applied to the output of each site's last projection before the residual add",
  };
}

export function parseAdapterConfig(raw: Record<string, unknown>, where = 'adapter_config.json'): AdapterConfig {
  if (raw.peft_type !== 'CHANGELING_BOTTLENECK')
    throw new ChangelingError('io', `${where}: peft_type ${String(raw.peft_type)} is not CHANGELING_BOTTLENECK`);
  const size = raw.adapter_size;
  if (typeof size !== 'number' || size < 1) throw new ChangelingError('io', `${where}: "adapter_size" must be a positive number`);
  const act = raw.non_linearity ?? 'relu';
  if (act !== 'relu' && act !== 'gelu') throw new ChangelingError('io', `${where}: non_linearity "${String(act)}" is not relu or gelu`);
  return {
    size,
    nonLinearity: act,
    sites: (raw.sites as string[]) ?? DEFAULT_ADAPTER.sites,
    trainLayerNorms: raw.train_layer_norms !== false,
  };
}
