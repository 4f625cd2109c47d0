import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import type { Repository } from '../../git/repository.js';
import { readAdapter } from '../../peft/files.js';
import { ChangelingError } from '../../util/errors.js';
import { bnormBleu } from '../../eval/cmgMetrics.js';
import { MessageModel } from '../cmg/generate.js';
import { adoptMessageModel } from '../cmg/adopted.js';
import { adoption } from '../adoption.js';
import { cmgPairs, generateFor, timeSplits } from '../finetune/cmg.js';

/**
 * `changeling adopt --task cmg --adapter DIR`: an adapter trained elsewhere (a cluster, with the recipe in
 * recipes/) is checked on this repository's validation split, as `finetune` checks its own (B-Norm of the
 * tuned model's messages against the untuned base model's), and adopted when better, or with `force`. Then
 * `changeling suggest` and the extension use it for this repository, for everyone whose clone has the record.
 */
export interface AdoptOptions {
  adapter: string;
  /** The base model folder; by default the adapter's `base_model_name_or_path` when that is a folder here. */
  model?: string;
  force?: boolean;
  evalCap?: number;
  signal?: AbortSignal;
  onProgress?: (message: string) => void;
}

export interface AdoptResult {
  adapter: string;
  model: string;
  validation: { commits: number; tunedBnorm: number; untunedBnorm: number };
  adopted: boolean;
  reason: string;
  record: string | null;
}

export async function adoptCmgAdapter(repo: Repository, o: AdoptOptions): Promise<AdoptResult> {
  const { config: cfg } = await readAdapter(o.adapter);
  const named = typeof cfg.base_model_name_or_path === 'string' ? cfg.base_model_name_or_path : '';
  const model = o.model ?? (named && isAbsolute(named) && existsSync(named) ? named : '');
  if (!model) throw new ChangelingError('usage', `give --model DIR: the base model the adapter was trained on (its config names ${JSON.stringify(named || 'none')}, which is not a folder here)`);
  const base = await MessageModel.create(model);
  const tuned = await MessageModel.create(model, { adapter: o.adapter });
  o.onProgress?.('reading the history');
  const { all, historyOf } = await cmgPairs(repo, base, { signal: o.signal });
  const validation = timeSplits(all).validation.slice(-(o.evalCap ?? 200));
  if (validation.length === 0) throw new ChangelingError('usage', `the history is too thin to check an adapter on: ${all.length} commits with a message and a diff`);
  const gold = validation.map((p) => p.subject);
  const progress = (what: string) => (i: number, n: number) => o.onProgress?.(`${what}: ${i} of ${n}`);
  const untunedBnorm = bnormBleu(await generateFor(base, validation, historyOf, { signal: o.signal, onProgress: progress('untuned') }), gold);
  const tunedBnorm = bnormBleu(await generateFor(tuned, validation, historyOf, { signal: o.signal, onProgress: progress('with the adapter') }), gold);
  const verdict = adoption(o.force ? 'always' : 'auto', tunedBnorm > untunedBnorm, { subject: 'the adapter', against: 'the untuned model', metric: 'validation B-Norm BLEU', figures: `${tunedBnorm.toFixed(2)} against ${untunedBnorm.toFixed(2)}`, flag: o.force ? '--force' : undefined });
  const record = verdict.adopted
    ? await adoptMessageModel(repo, { model, adapter: o.adapter, method: String(cfg.peft_type ?? 'LORA').toLowerCase(), adoptedAt: new Date().toISOString(), validation: { tunedBnorm, untunedBnorm } })
    : null;
  return { adapter: o.adapter, model, validation: { commits: validation.length, tunedBnorm, untunedBnorm }, adopted: verdict.adopted, reason: verdict.reason, record };
}
