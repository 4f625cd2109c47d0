import { existsSync } from 'node:fs';
import type { Repository } from '../../git/repository.js';
import { ChangelingError } from '../../util/errors.js';
import type { AdoptionVerdict } from '../adoption.js';
import { adoptMessageModel, adoptedMessageModel, stillAdopted } from '../cmg/adopted.js';
import { claimCheckpoint, dropCheckpoint, hashOf, pruneRuns } from './runState.js';
import { savesAdapter, type Method } from '../../peft/methods.js';
import { trainAdapter, type TrainOptions } from '../../peft/trainAdapter.js';
import type { FinetuneEvent, FinetuneOptions, FinetuneResult } from './types.js';
import { timeSplits, type Pair } from '../cmg/dataset.js';
import type { CmgMetrics } from '../../eval/cmgMetrics.js';
import { join } from 'node:path';

/**
 * A commit-message run's splits, for both paths: refused when the history is too thin (30 commits for --quick, else
 * 200), oldest 80% train / next 10% validation / newest 10% test, --quick's slices (the newest of each), and at most
 * `evalCap` (o.evalCap, else the path's default) validation and test commits.
 */
export function cmgSplits<T>(
  all: readonly T[],
  o: Pick<FinetuneOptions, 'quick' | 'evalCap'>,
  limits: { quick: { train: number; eval: number }; evalCap: number },
): { train: T[]; validation: T[]; test: T[] } {
  const least = o.quick ? 30 : 200;
  if (all.length < least)
    throw new ChangelingError(
      'usage',
      `the history is too thin to fine-tune on: ${all.length} commits with a message and a diff (at least ${least})`,
    );
  let { train, validation, test } = timeSplits(all);
  if (o.quick) {
    train = train.slice(-limits.quick.train);
    validation = validation.slice(-limits.quick.eval);
    test = test.slice(-limits.quick.eval);
  }
  const cap = o.evalCap ?? limits.evalCap;
  return { train, validation: validation.slice(-cap), test: test.slice(-cap) };
}

/**
 * The training of a commit-message fine-tuning run, for a seq2seq model and a code LLM alike: the run's checkpoint
 * claimed (one owner: the model, method, data, learning rate, batch, steps, seed and `owner`'s settings; a checkpoint
 * of another run is not resumed), `trainAdapter` with the run's schedule (linear), checkpoints every fifth of the run
 * (5 to 50 steps) and Ctrl-C, each step's loss reported, the checkpoint dropped once the adapter is whole.
 */
export async function trainCmgRun(
  o: FinetuneOptions,
  r: {
    modelDir: string;
    work: string;
    data: string;
    rows: string;
    out: string;
    steps: number;
    batch: number;
    lr: number;
    owner: Record<string, unknown>;
    train: Pick<TrainOptions, 'files' | 'maxSourceLength' | 'maxTargetLength' | 'lora' | 'frozen'>;
    emit: (e: FinetuneEvent) => void;
  },
): Promise<{ trained: Awaited<ReturnType<typeof trainAdapter>>; losses: Array<{ step: number; loss: number }> }> {
  const seed = o.seed ?? 42;
  const checkpoint = join(r.work, `${o.method}.checkpoint.safetensors`);
  const { modelDir: model, steps, batch, lr, emit } = r;
  await claimCheckpoint(checkpoint, { model, method: o.method, data: hashOf(r.rows), lr, batch, steps, seed, ...r.owner }, emit);
  const losses: Array<{ step: number; loss: number }> = [];
  const trained = await trainAdapter({
    model,
    method: o.method,
    data: r.data,
    out: r.out,
    ownedOutput: true,
    steps,
    batch,
    seed,
    schedule: 'linear',
    lr,
    ...r.train,
    signal: o.signal,
    provider: o.provider,
    threads: o.threads,
    recompute: o.recompute,
    checkpoint,
    checkpointEvery: Math.max(5, Math.min(50, Math.floor(steps / 5))),
    onStep: (step, loss) => {
      losses.push({ step, loss });
      emit({ kind: 'step', step, steps, loss });
    },
    onResume: (step) => emit({ kind: 'stage', stage: 'training', message: `resumed from the checkpoint at step ${step}` }),
  });
  // The finished adapter appeared whole (a folder output renamed into place): a half-written one is never seen.
  await dropCheckpoint(checkpoint);
  return { trained, losses };
}

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

/** What a commit-message run reports (`changeling finetune --json`, report.json): the same shape for both paths. */
export function cmgResult(
  repo: Repository,
  o: FinetuneOptions,
  r: {
    modelDir: string;
    out: string;
    t0: number;
    splits: { train: readonly Pair[]; validation: readonly Pair[]; test: readonly Pair[] };
    trained: Awaited<ReturnType<typeof trainAdapter>>;
    losses: Array<{ step: number; loss: number }>;
    validation: Record<string, CmgMetrics>;
    test: { metrics: Record<string, CmgMetrics>; preds: Record<'tuned' | 'untuned' | 'nngen', string[]> };
    done: { adopted: boolean; adoptedAt: string | null };
    verdict: AdoptionVerdict;
    /** The reference an example shows: the subject the model learns, or the whole message. */
    real: (p: Pair) => string;
  },
): FinetuneResult {
  const { train, validation, test } = r.splits;
  return {
    task: 'cmg',
    method: o.method,
    model: r.modelDir,
    repo: repo.root,
    head: repo.head,
    out: r.out,
    commits: { train: train.length, validation: validation.length, test: test.length },
    steps: r.trained.steps.length,
    trainSeconds: r.trained.seconds,
    seconds: (performance.now() - r.t0) / 1000,
    trainableParameters: r.trained.trainableParameters,
    losses: r.losses,
    validation: r.validation,
    test: r.test.metrics,
    adopted: r.done.adopted,
    adoptedRecord: r.done.adoptedAt,
    adoptReason: r.verdict.reason,
    adoptBasis: r.verdict.basis,
    examples: test.slice(0, 10).map((p, i) => ({
      sha: p.sha.slice(0, 10),
      real: r.real(p),
      tuned: r.test.preds.tuned[i]!,
      untuned: r.test.preds.untuned[i]!,
      nngen: r.test.preds.nngen[i]!,
    })),
  };
}
