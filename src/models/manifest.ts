import manifest from '../../models/manifest.json' with { type: 'json' };
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { HubModelSpec } from './hub.js';

/**
 * The catalogue of checkpoints Changeling knows (models/manifest.json): what each is for, under which
 * licence, how large, and the profile it is fed by (written as changeling.json into the downloaded
 * folder). Models trained for a task come first; base checkpoints need fine-tuning first.
 */
export interface KnownModel extends HubModelSpec {
  architecture: 't5' | 'roberta' | 'bart' | 'llama';
  tasks: string[];
  /** Parameters, as the model card gives them (code LLMs). */
  parameters?: string;
  /** The task the checkpoint was trained for, or null for a base checkpoint. */
  trainedFor: 'cmg' | null;
  license: string;
  sizeMB: number;
  description: string;
  profile?: Record<string, unknown>;
}

export const KNOWN_MODELS = manifest.models as KnownModel[];

/** The message model offered first: a checkpoint trained for commit messages. */
export const DEFAULT_MESSAGE_MODEL: string = manifest.defaultMessageModel;

/** One line for people: what the model is for. */
export function describeKnownModel(m: KnownModel): string {
  const what = m.trainedFor
    ? 'trained for commit messages'
    : m.architecture === 'llama'
      ? `code LLM, ${m.parameters ?? '?'} parameters`
      : m.tasks.includes('cmg') && m.architecture !== 'roberta'
        ? 'needs fine-tuning first'
        : 'base encoder for the risk model';
  return `${what}; ${m.license}; ~${m.sizeMB} MB`;
}

/** Code LLMs (the Llama family): they load, run and generate; suggest does not use them yet. */
export function codeLlms(): KnownModel[] {
  return KNOWN_MODELS.filter((m) => m.architecture === 'llama');
}

/** Message models in the order they are offered: trained for the task first (the default first of all), then base checkpoints. */
export function messageModels(): KnownModel[] {
  const cmg = KNOWN_MODELS.filter((m) => m.tasks.includes('cmg') && m.architecture !== 'roberta');
  const rank = (m: KnownModel) => (m.id === DEFAULT_MESSAGE_MODEL ? 0 : m.trainedFor ? 1 : 2);
  return cmg
    .map((m, i) => ({ m, i }))
    .sort((a, b) => rank(a.m) - rank(b.m) || a.i - b.i)
    .map((x) => x.m);
}

/** The manifest's entry for an id, or a generic spec for a repository it does not list. */
export function modelSpec(id: string, revision?: string): HubModelSpec {
  const known = KNOWN_MODELS.find((m) => m.id === id);
  const spec: HubModelSpec = known
    ? { ...known, ...(known.profile ? { extraFiles: { 'changeling.json': JSON.stringify(known.profile, null, 2) + '\n' } } : {}) }
    : {
        id,
        weights: ['model.safetensors', 'pytorch_model.bin'],
        files: ['config.json'],
        optional: [...TOKENIZER_FILES, 'changeling.json'],
      };
  return revision ? { ...spec, revision } : spec;
}

export function defaultModelCache(): string {
  return process.env.CHANGELING_MODEL_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'changeling', 'models');
}

/** The files a model folder's tokenizer may consist of (whichever of them it has). */
export const TOKENIZER_FILES = [
  'tokenizer.json',
  'vocab.json',
  'merges.txt',
  'added_tokens.json',
  'special_tokens_map.json',
  'tokenizer_config.json',
] as const;
