import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ChangelingError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/atomicFile.js';
import { readJsonFile } from '../../util/jsonFile.js';

/**
 * A model's profile (`changeling.json` in its folder, or in an adapter's): how it was trained to be fed.
 * A checkpoint is only as good as its input is faithful to its training, so the input format, the
 * generation settings and the history mode travel with every model folder: downloads write it from the
 * catalogue, `train` and `finetune` write it into what they save, and an adapter's profile wins over its
 * base model's. A folder without one is fed in the study's format with the defaults below.
 */
const INPUT_FORMATS = ['commitchronicle', 'commitchronicle-codereviewer', 'study'] as const;
export type InputFormat = (typeof INPUT_FORMATS)[number];

export interface GenerationSettings {
  numBeams: number;
  maxNewTokens: number;
  noRepeatNgramSize: number;
  minNewTokens: number;
  lengthPenalty: number;
}

export interface ModelProfile {
  task: 'cmg' | 'jitdp' | null;
  inputFormat: InputFormat;
  /** Encoder input length in tokens, special tokens included. */
  maxInput: number;
  /** Decoder context length (history, typed text and the new tokens). */
  maxDecoderContext: number;
  /** 'author': the same author's earlier messages go into the decoder context. */
  history: 'none' | 'author';
  generation: GenerationSettings;
  /** True for a checkpoint trained to write commit messages; false for a base model (fine-tune it first). */
  trainedForTask: boolean;
  /** Where it came from (a hub id, or the base model of an adapter). */
  source?: string;
}

export const PROFILE_FILE = 'changeling.json';

export const DEFAULT_PROFILE: ModelProfile = {
  task: 'cmg',
  inputFormat: 'study',
  maxInput: 512,
  maxDecoderContext: 512,
  history: 'none',
  generation: { numBeams: 5, maxNewTokens: 64, noRepeatNgramSize: 0, minNewTokens: 0, lengthPenalty: 1 },
  trainedForTask: false,
};

function int(v: unknown, name: string, where: string, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new ChangelingError('io', `${where}: ${name} must be a whole number from ${min} to ${max} (it is ${JSON.stringify(v)})`);
  return v;
}

/** A profile from its JSON value, checked, with defaults for what it leaves out. */
export function parseProfile(raw: unknown, where: string): ModelProfile {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ChangelingError('io', `${where} is not a JSON object`);
  const r = raw as Record<string, unknown>;
  const fmt = r.inputFormat ?? DEFAULT_PROFILE.inputFormat;
  if (!INPUT_FORMATS.includes(fmt as InputFormat))
    throw new ChangelingError('io', `${where}: inputFormat must be one of ${INPUT_FORMATS.join(', ')} (it is ${JSON.stringify(fmt)})`);
  const history = r.history ?? 'none';
  if (history !== 'none' && history !== 'author') throw new ChangelingError('io', `${where}: history must be "none" or "author"`);
  const g = (r.generation ?? {}) as Record<string, unknown>;
  const d = DEFAULT_PROFILE.generation;
  const lp = g.lengthPenalty ?? d.lengthPenalty;
  if (typeof lp !== 'number' || !Number.isFinite(lp) || Math.abs(lp) > 10)
    throw new ChangelingError('io', `${where}: generation.lengthPenalty must be a number from -10 to 10`);
  const task = r.task ?? 'cmg';
  if (task !== 'cmg' && task !== 'jitdp' && task !== null) throw new ChangelingError('io', `${where}: task must be "cmg" or "jitdp"`);
  return {
    task,
    inputFormat: fmt as InputFormat,
    maxInput: int(r.maxInput, 'maxInput', where, 8, 4096, DEFAULT_PROFILE.maxInput),
    maxDecoderContext: int(r.maxDecoderContext, 'maxDecoderContext', where, 8, 4096, DEFAULT_PROFILE.maxDecoderContext),
    history,
    generation: {
      numBeams: int(g.numBeams, 'generation.numBeams', where, 1, 64, d.numBeams),
      maxNewTokens: int(g.maxNewTokens, 'generation.maxNewTokens', where, 1, 1024, d.maxNewTokens),
      noRepeatNgramSize: int(g.noRepeatNgramSize, 'generation.noRepeatNgramSize', where, 0, 16, d.noRepeatNgramSize),
      minNewTokens: int(g.minNewTokens, 'generation.minNewTokens', where, 0, 1024, d.minNewTokens),
      lengthPenalty: lp,
    },
    trainedForTask: r.trainedForTask === true,
    ...(typeof r.source === 'string' ? { source: r.source } : {}),
  };
}

/** The profile in `dir`, or null when it has none. */
export async function readProfile(dir: string): Promise<ModelProfile | null> {
  const p = join(dir, PROFILE_FILE);
  if (!existsSync(p)) return null;
  return parseProfile(await readJsonFile(p), p);
}

/** The profile a model (with an optional adapter) is fed by: the adapter's, else the model's, else the default. */
export async function effectiveProfile(modelDir: string, adapterDir?: string | null): Promise<ModelProfile> {
  return (adapterDir ? await readProfile(adapterDir) : null) ?? (await readProfile(modelDir)) ?? DEFAULT_PROFILE;
}

export const profileText = (p: ModelProfile) => JSON.stringify(p, null, 2) + '\n';

export async function writeProfile(dir: string, p: ModelProfile): Promise<void> {
  await writeFileAtomic(join(dir, PROFILE_FILE), profileText(p));
}

export function parseInputFormat(v: string): InputFormat {
  if (!INPUT_FORMATS.includes(v as InputFormat))
    throw new ChangelingError('usage', `--input-format must be one of ${INPUT_FORMATS.join(', ')} (not ${JSON.stringify(v)})`);
  return v as InputFormat;
}
