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
  /** What it is for, in words for someone who has not read the papers (shown in VS Code). */
  plain: string;
  profile?: Record<string, unknown>;
}

export const KNOWN_MODELS = manifest.models as KnownModel[];

/** The message model offered first: a checkpoint trained for commit messages (and what fine-tuning starts from). */
export const DEFAULT_MESSAGE_MODEL: string = manifest.defaultMessageModel;

/** The code LLM offered as the message model where it is fast enough. */
export const DEFAULT_LLM_MESSAGE_MODEL: string = manifest.defaultLlmMessageModel;

/**
 * The message model to offer a machine for download: the code LLM (a subject and a body from the whole
 * change) where a GPU runs the models or there are at least 8 cores, else the CodeT5 model trained for
 * messages (a subject line in about a second). Measured (docs/performance.md): the 0.5B at 36 s to the first
 * token of a 4,200-token prompt and 229 ms a token on 2 cores, which 8 cores bring near 10 s for the whole
 * message with Qwen's own tokenizer (about half the test tokenizer's tokens); a GPU, to a second or two.
 */
export function recommendedMessageModel(machine: { cores: number; gpu: boolean }): string {
  return machine.gpu || machine.cores >= 8 ? DEFAULT_LLM_MESSAGE_MODEL : DEFAULT_MESSAGE_MODEL;
}

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

/** Code LLMs (the Llama family): they write a subject and a body from the whole diff. */
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
