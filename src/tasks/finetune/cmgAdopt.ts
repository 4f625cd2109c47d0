import { existsSync } from 'node:fs';
import type { Repository } from '../../git/repository.js';
import { ChangelingError } from '../../util/errors.js';
import type { AdoptionVerdict } from '../adoption.js';
import { adoptMessageModel, adoptedMessageModel, stillAdopted } from '../cmg/adopted.js';
import { pruneRuns } from './runState.js';
import { savesAdapter, type Method } from '../../peft/methods.js';

/**
 * The end of a commit-message fine-tuning run, for a seq2seq model and a code LLM alike: when the verdict adopts,
 * the run's adapter (or fully tuned model) is recorded as the repository's message model, and "adopted" is
 * reported only if it is still the one in use after the record was written (a later run may have won the race);
 * then earlier runs' folders go, except the one in use and this run's (its report points at it).
 */
export async function finishCmgRun(
  repo: Repository,
  r: { verdict: AdoptionVerdict; method: Method; modelDir: string; out: string; adapters: string; validation: Record<string, number> },
): Promise<{ adopted: boolean; adoptedAt: string | null }> {
  let adopted = r.verdict.adopted;
  let adoptedAt: string | null = null;
  const adapter = savesAdapter(r.method);
  if (adopted) {
    const at = new Date().toISOString();
    adoptedAt = await adoptMessageModel(repo, {
      model: adapter ? r.modelDir : r.out,
      adapter: adapter ? r.out : null,
      method: r.method,
      adoptedAt: at,
      validation: r.validation,
    });
    adopted = await stillAdopted(repo, at);
  }
  if (!existsSync(r.out)) throw new ChangelingError('io', `the adapter was not written to ${r.out}`);
  const inUse = await adoptedMessageModel(repo, { quiet: true });
  await pruneRuns(r.adapters, r.method, [r.out, inUse?.adapter, inUse?.model]);
  return { adopted, adoptedAt };
}
