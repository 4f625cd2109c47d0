import { ChangelingError } from '../../util/errors.js';

/**
 * Changeling's prefix-tuning (Li and Liang: every attention) as adapter_config.json holds it. PEFT has no such
 * mode (its prefix-tuning on T5 is `peftPrefix.ts`); the file follows PEFT's style with its own peft_type.
 */
export interface PrefixConfig {
  numVirtualTokens: number;
}

export const PREFIX_TYPE = 'CHANGELING_PREFIX';

export const DEFAULT_PREFIX: PrefixConfig = { numVirtualTokens: 20 };

const FORMULA =
  'every attention: keys and values prefixed with base_model.model.<site>.prefix_key / prefix_value [P, heads * head_dim]; masks extended (prefix always visible); no position bias on prefix slots';

export function parsePrefixConfig(raw: Record<string, unknown>, where = 'adapter_config.json'): PrefixConfig {
  if (raw.peft_type !== PREFIX_TYPE) throw new ChangelingError('io', `${where}: peft_type ${String(raw.peft_type)} is not ${PREFIX_TYPE}`);
  const n = raw.num_virtual_tokens;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1)
    throw new ChangelingError('io', `${where}: "num_virtual_tokens" must be a positive integer`);
  return { numVirtualTokens: n };
}

export function prefixConfigJson(
  c: PrefixConfig,
  baseModel: string | null,
  taskType: string | null,
  sites: string[],
): Record<string, unknown> {
  return {
    peft_type: PREFIX_TYPE,
    format_version: 1,
    task_type: taskType,
    base_model_name_or_path: baseModel,
    num_virtual_tokens: c.numVirtualTokens,
    sites,
    formula: FORMULA,
  };
}
