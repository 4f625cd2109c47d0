import manifest from '../../models/manifest.json' with { type: 'json' };
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { HubModelSpec } from './hub.js';

export interface KnownModel extends HubModelSpec {
  architecture: 't5' | 'roberta' | 'bart';
  tasks: string[];
}

export const KNOWN_MODELS = manifest.models as KnownModel[];

/** The manifest's entry for an id, or a generic spec for a repository it does not list. */
export function modelSpec(id: string, revision?: string): HubModelSpec {
  const known = KNOWN_MODELS.find((m) => m.id === id);
  const spec: HubModelSpec = known ?? { id, weights: ['model.safetensors', 'pytorch_model.bin'], files: ['config.json'], optional: ['tokenizer.json', 'vocab.json', 'merges.txt', 'added_tokens.json', 'special_tokens_map.json', 'tokenizer_config.json'] };
  return revision ? { ...spec, revision } : spec;
}

export function defaultModelCache(): string {
  return process.env.CHANGELING_MODEL_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'changeling', 'models');
}
