import { architecture, type ModelKind } from '../../models/architectures.js';
import { checkNumber } from '../../util/numbers.js';
import { ChangelingError } from '../../util/errors.js';

/** The LoRA settings of Hugging Face PEFT's adapter_config.json that Changeling honours. */
export interface LoraConfig {
  r: number;
  loraAlpha: number;
  loraDropout: number;
  /** Module names or suffixes (PEFT matches a name equal to a target or ending in "." + target), or one regex. */
  targetModules: string[] | string;
  useRslora: boolean;
  taskType: string | null;
  baseModel: string | null;
  /** PEFT's layers_to_transform: only modules in these layers (their index as PEFT finds it), or all (null). */
  layersToTransform?: number[] | null;
}

/** The study's targets: the query and value projections of each architecture. */

/** LoRA's defaults (r 8, alpha 32, no dropout, the query and value projections), with any settings given. */
export function defaultLoraConfig(
  kind: ModelKind,
  o: Partial<{ r: number; alpha: number; dropout: number; targets: string[]; rslora: boolean; layers: number[] }> = {},
): LoraConfig {
  return {
    r: o.r ?? 8,
    loraAlpha: o.alpha ?? 32,
    loraDropout: o.dropout ?? 0,
    targetModules: o.targets ?? [...architecture(kind).loraTargets],
    useRslora: o.rslora ?? false,
    layersToTransform: o.layers ?? null,
    taskType: null,
    baseModel: null,
  };
}

export function loraScaling(c: LoraConfig): number {
  return c.useRslora ? c.loraAlpha / Math.sqrt(c.r) : c.loraAlpha / c.r;
}

/** PEFT's module matching: a list matches exact names or ".target" suffixes; a string is a full-match regex. */
export function matchesTarget(module: string, targets: string[] | string): boolean {
  if (typeof targets === 'string') return new RegExp(`^(?:${targets})$`).test(module);
  return targets.some((t) => module === t || module.endsWith(`.${t}`));
}

export function parseLoraConfig(raw: Record<string, unknown>, where = 'adapter_config.json'): LoraConfig {
  if (raw.peft_type !== 'LORA') throw new ChangelingError('io', `${where}: peft_type ${String(raw.peft_type)} is not LORA`);
  const unsupported = ['use_dora', 'use_qalora', 'lora_bias'].filter((k) => raw[k] === true);
  if (raw.layer_replication != null) unsupported.push('layer_replication');
  const layersPattern = raw.layers_pattern;
  if (layersPattern != null && !(Array.isArray(layersPattern) && layersPattern.length === 0) && layersPattern !== '')
    unsupported.push('layers_pattern');
  const layers = raw.layers_to_transform;
  if (layers != null && !(Number.isInteger(layers) || (Array.isArray(layers) && layers.every((x) => Number.isInteger(x) && x >= 0))))
    throw new ChangelingError('io', `${where}: "layers_to_transform" must be a layer index or a list of them`);
  if (raw.rank_pattern && Object.keys(raw.rank_pattern as object).length) unsupported.push('rank_pattern');
  if (raw.alpha_pattern && Object.keys(raw.alpha_pattern as object).length) unsupported.push('alpha_pattern');
  if (raw.fan_in_fan_out === true) unsupported.push('fan_in_fan_out');
  if (raw.bias && raw.bias !== 'none') unsupported.push(`bias=${String(raw.bias)}`);
  if (unsupported.length) throw new ChangelingError('io', `${where}: LoRA options not supported: ${unsupported.join(', ')}`);
  const r = raw.r;
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1 || r > 65536)
    throw new ChangelingError('io', `${where}: "r" must be a whole number from 1 to 65536`);
  // The scale (alpha / r, or alpha / sqrt(r) with rsLoRA) multiplies every LoRA update: an overflowing one
  // makes every activation NaN.
  const alpha =
    raw.lora_alpha === undefined ? 8 : checkNumber(`${where}: "lora_alpha"`, raw.lora_alpha, { min: 0, minExclusive: true, max: 1e6 });
  const targets = raw.target_modules;
  if (!(typeof targets === 'string' || (Array.isArray(targets) && targets.every((t) => typeof t === 'string'))))
    throw new ChangelingError('io', `${where}: "target_modules" must be a list of names or a regex`);
  return {
    r,
    loraAlpha: alpha,
    loraDropout: raw.lora_dropout === undefined ? 0 : checkNumber(`${where}: "lora_dropout"`, raw.lora_dropout, { min: 0, max: 0.99 }),
    targetModules: targets as string[] | string,
    useRslora: raw.use_rslora === true,
    taskType: typeof raw.task_type === 'string' ? raw.task_type : null,
    baseModel: typeof raw.base_model_name_or_path === 'string' ? raw.base_model_name_or_path : null,
    layersToTransform: layers == null ? null : Array.isArray(layers) ? (layers as number[]) : [layers as number],
  };
}

/**
 * PEFT's layer filter: a module is in the layers given when the index PEFT reads from its name (the number
 * of the last ".<name>.<number>." in it, with no layers_pattern) is one of them.
 */
export function inLayers(module: string, layers: readonly number[] | null | undefined): boolean {
  if (!layers) return true;
  const m = /^.*\.[^.]*\.(\d+)\./.exec(module);
  return m !== null && layers.includes(Number(m[1]));
}

/** adapter_config.json as PEFT writes it (the fields PEFT needs to load the adapter). */
export function loraConfigJson(c: LoraConfig): Record<string, unknown> {
  return {
    peft_type: 'LORA',
    task_type: c.taskType,
    base_model_name_or_path: c.baseModel,
    r: c.r,
    lora_alpha: c.loraAlpha,
    lora_dropout: c.loraDropout,
    target_modules: c.targetModules,
    use_rslora: c.useRslora,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    modules_to_save: null,
    layers_to_transform: c.layersToTransform?.length ? c.layersToTransform : null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
    use_dora: false,
    revision: null,
  };
}
