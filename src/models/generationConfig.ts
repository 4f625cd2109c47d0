import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ChangelingError } from '../util/errors.js';
import { readJsonFile } from '../util/jsonFile.js';

/**
 * A model folder's generation_config.json, as transformers reads it for generate(): EOS ids (one or several),
 * the pad and BOS ids, and the sampling defaults the model was released with. Absent file: no defaults. Every
 * value is checked (token ids inside the vocabulary, probabilities in range), so a bad file fails here.
 */
export interface GenerationDefaults {
  eosTokenIds?: number[];
  padTokenId?: number;
  bosTokenId?: number;
  doSample?: boolean;
  temperature?: number;
  topP?: number;
  topK?: number;
  repetitionPenalty?: number;
  maxNewTokens?: number;
}

export async function readGenerationConfig(dir: string, vocabSize: number): Promise<GenerationDefaults> {
  const path = join(dir, 'generation_config.json');
  if (!existsSync(path)) return {};
  const raw = (await readJsonFile(path, { what: 'the generation config' })) as Record<string, unknown>;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ChangelingError('io', `${path} is not a JSON object`);
  const bad = (key: string, want: string) =>
    new ChangelingError('io', `${path}: ${key} must be ${want} (it is ${JSON.stringify(raw[key]).slice(0, 60)})`);
  const id = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) < vocabSize;
  const out: GenerationDefaults = {};
  const eos = raw.eos_token_id;
  if (eos != null) {
    const list = Array.isArray(eos) ? eos : [eos];
    if (!list.length || !list.every(id)) throw bad('eos_token_id', `token ids from 0 to ${vocabSize - 1}`);
    out.eosTokenIds = list as number[];
  }
  for (const [key, field] of [
    ['pad_token_id', 'padTokenId'],
    ['bos_token_id', 'bosTokenId'],
  ] as const) {
    if (raw[key] == null) continue;
    if (!id(raw[key])) throw bad(key, `a token id from 0 to ${vocabSize - 1}`);
    out[field] = raw[key] as number;
  }
  if (raw.do_sample != null) {
    if (typeof raw.do_sample !== 'boolean') throw bad('do_sample', 'true or false');
    out.doSample = raw.do_sample;
  }
  const num = (key: string, ok: (v: number) => boolean, want: string) => {
    if (raw[key] == null) return undefined;
    const v = raw[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw bad(key, want);
    return v;
  };
  out.temperature = num('temperature', (v) => v > 0, 'a number above 0');
  out.topP = num('top_p', (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  out.topK = num('top_k', (v) => Number.isInteger(v) && v >= 0, 'a whole number, 0 or more');
  out.repetitionPenalty = num('repetition_penalty', (v) => v > 0, 'a number above 0');
  out.maxNewTokens = num('max_new_tokens', (v) => Number.isInteger(v) && v >= 1, 'a whole number, 1 or more');
  for (const k of Object.keys(out) as Array<keyof GenerationDefaults>) if (out[k] === undefined) delete out[k];
  return out;
}
