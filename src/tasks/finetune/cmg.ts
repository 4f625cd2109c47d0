import { mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { walkHistory } from '../../git/history.js';
import { repoDataDir, requireCommits, type Repository } from '../../git/repository.js';
import type { DiffFile } from '../../git/types.js';
import { cmgMetrics, type CmgMetrics } from '../../eval/cmgMetrics.js';
import { trainAdapter } from '../../peft/trainAdapter.js';
import { ChangelingError, cancelledError } from '../../util/errors.js';
import { decideAdoption } from '../adoption.js';
import { adoptMessageModel, adoptedMessageModel, stillAdopted } from '../cmg/adopted.js';
import { writeFileAtomic } from '../../util/atomicFile.js';
import { withLock } from '../../util/lock.js';
import { claimCheckpoint, dropCheckpoint, hashOf, pruneRuns, runFolder } from './runState.js';
import { MessageModel } from '../cmg/generate.js';
import { NngenIndex, diffWords } from '../cmg/nngen.js';
import { cleanMessage } from '../cmg/messageClean.js';
import { PROFILE_FILE, profileText } from '../cmg/profile.js';
import { cachedModel } from '../../models/hub.js';
import { DEFAULT_MESSAGE_MODEL, defaultModelCache } from '../../models/manifest.js';
import type { FinetuneEvent, FinetuneOptions, FinetuneResult } from './types.js';

/**
 * `changeling finetune --task cmg`: the repository's history as (marked diff, subject line) pairs, oldest
 * 80% to train, next 10% to validate, newest 10% to test; LoRA, bottleneck adapters or full fine-tuning of a
 * CodeT5/PLBART model with the study's CMG settings (LoRA r 8, alpha 32; lr 5e-4 LoRA and adapters / 2e-5 full;
 * batch 16) scaled to the data
 * (epochs so that small histories still get a few hundred steps, at most 10); then the untuned model, the
 * tuned one and NNGen (over the training commits) generate for the validation and test commits. The tuned
 * model is adopted for this repository when it beats the untuned one on validation B-Norm BLEU (or always
 * with `adopt: 'always'`). Adapters and prepared models are written whole or not at all; a checkpoint in the
 * git folder lets a cancelled run resume.
 */
export interface Pair {
  sha: string;
  subject: string;
  /** The whole message. */
  message: string;
  /** The author's e-mail, lower-cased. */
  author: string;
  files: DiffFile[];
}

const QUICK = { train: 200, eval: 20, steps: 30 };

/** The non-merge commits with a subject and a diff, oldest first (the newest `max`): commit-message pairs. */
export async function subjectHistory(
  repo: Repository,
  max: number,
  signal?: AbortSignal,
  o: { ignoreWhitespace?: boolean } = {},
): Promise<Pair[]> {
  const out: Pair[] = [];
  for await (const c of walkHistory(repo, { max, noMerges: true, maxDiffBytes: 64 << 10, signal, ignoreWhitespace: o.ignoreWhitespace })) {
    const subject = c.message.split('\n')[0]!.trim();
    if (subject && c.files.length)
      out.push({ sha: c.sha, subject, message: c.message.trim(), author: c.author.email.toLowerCase(), files: c.files });
  }
  return out.reverse(); // oldest first
}

/**
 * A history's commit-message pairs in a model's own format: CommitChronicle models read whitespace-insensitive
 * diffs and were trained on whole messages cleaned as the dataset cleaned them (commits whose message the
 * cleaning drops are left out, as the dataset left them out); other models on subject lines. With each
 * commit, its author's earlier messages (for models trained with history). Used by finetune, export and adopt.
 */
export async function cmgPairs(
  repo: Repository,
  base: MessageModel,
  o: { maxCommits?: number; signal?: AbortSignal } = {},
): Promise<{ all: Pair[]; historyOf: Map<string, string[]> }> {
  const chronicle = base.profile.inputFormat !== 'study';
  const mined = await subjectHistory(repo, o.maxCommits ?? 20000, o.signal, { ignoreWhitespace: chronicle });
  const all = chronicle ? mined.map((p) => ({ ...p, subject: cleanMessage(p.message) })).filter((p) => p.subject) : mined;
  const earlier = new Map<string, string[]>();
  const historyOf = new Map<string, string[]>();
  for (const p of all) {
    const h = earlier.get(p.author) ?? [];
    historyOf.set(p.sha, base.usesHistory ? h.slice(-64) : []);
    earlier.set(p.author, [...h.slice(-63), p.message]);
  }
  return { all, historyOf };
}

/** Oldest 80% to train, next 10% to validate, newest 10% to test. */
export function timeSplits<T>(all: readonly T[]): { train: T[]; validation: T[]; test: T[] } {
  const a = Math.floor(all.length * 0.8);
  const b = Math.floor(all.length * 0.9);
  return { train: all.slice(0, a), validation: all.slice(a, b), test: all.slice(b) };
}

/** The model's best message for each pair, with the generation settings finetune evaluates with. */
export async function generateFor(
  m: MessageModel,
  pairs: readonly Pair[],
  historyOf: ReadonlyMap<string, string[]>,
  o: { quick?: boolean; signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
): Promise<string[]> {
  const chronicle = m.profile.inputFormat !== 'study';
  const preds: string[] = [];
  for (const [i, p] of pairs.entries()) {
    if (o.signal?.aborted) throw cancelledError();
    // The profile's generation settings (CommitChronicle: 10 beams, 15 new tokens), fewer beams when quick.
    preds.push(
      (
        await m.generate(m.prepare(p.files, { history: historyOf.get(p.sha) }), {
          beams: o.quick ? 2 : chronicle ? undefined : 5,
          n: 1,
          maxNewTokens: chronicle ? undefined : 32,
        })
      )[0]?.message ?? '',
    );
    if (i % 10 === 0) o.onProgress?.(i + 1, pairs.length);
  }
  return preds;
}

export async function finetuneCmg(repo: Repository, o: FinetuneOptions): Promise<FinetuneResult> {
  requireCommits(repo);
  const t0 = performance.now();
  const emit = (e: FinetuneEvent) => o.onEvent?.(e);
  // The default starting point is a model already trained for messages (the catalogue's default), downloaded.
  const modelDir = o.model ?? (await cachedModel(defaultModelCache(), DEFAULT_MESSAGE_MODEL));
  if (!modelDir)
    throw new ChangelingError(
      'usage',
      `fine-tuning commit messages starts from a model: download the default one first ("changeling download ${DEFAULT_MESSAGE_MODEL}", about 900 MB) or give --model DIR (a CodeT5 or PLBART folder)`,
    );
  const base = await MessageModel.create(modelDir, { maxInput: o.maxLength ?? (o.quick ? 128 : undefined), provider: o.provider });
  emit({ kind: 'stage', stage: 'mining', message: `reading the history (input format ${base.profile.inputFormat})` });
  const { all, historyOf } = await cmgPairs(repo, base, { maxCommits: o.maxCommits, signal: o.signal });
  if (all.length < (o.quick ? 30 : 200))
    throw new ChangelingError(
      'usage',
      `the history is too thin to fine-tune on: ${all.length} commits with a message and a diff (at least ${o.quick ? 30 : 200})`,
    );
  let { train, validation, test } = timeSplits(all);
  if (o.quick) {
    train = train.slice(-QUICK.train);
    validation = validation.slice(-QUICK.eval);
    test = test.slice(-QUICK.eval);
  }
  const cap = o.evalCap ?? 200;
  validation = validation.slice(-cap);
  test = test.slice(-cap);
  emit({
    kind: 'stage',
    stage: 'dataset',
    message: `${train.length} training, ${validation.length} validation, ${test.length} test commits`,
  });
  const dataDir = await repoDataDir(repo);
  return withLock(join(dataDir, 'locks', 'cmg.lock'), `changeling finetune --task cmg --method ${o.method}`, async () => {
    const work = join(dataDir, 'finetune-cmg');
    await mkdir(work, { recursive: true });
    await writeFileAtomic(
      join(work, 'run.json'),
      JSON.stringify({ task: 'cmg', method: o.method, model: modelDir, quick: !!o.quick }) + '\n',
    );
    const data = join(work, 'train.jsonl');
    const maxTarget = 64;
    const rows =
      train
        .map((p) => {
          const e = base.trainingExample(p.files, p.subject, historyOf.get(p.sha));
          return JSON.stringify(e.decoder_input_ids ? e : { ...e, labels: e.labels.slice(0, maxTarget) });
        })
        .join('\n') + '\n';
    await writeFileAtomic(data, rows);
    const batch = o.batch ?? 16;
    const perEpoch = Math.ceil(train.length / batch);
    const epochs = o.epochs ?? Math.min(10, Math.max(3, Math.ceil(300 / perEpoch)));
    const steps = o.quick ? Math.min(QUICK.steps, perEpoch * epochs) : perEpoch * epochs;
    // Each run writes its own folder: what the adoption record points at is never touched by a later run.
    const adapters = join(dataDir, 'adapters', 'cmg');
    const out = runFolder(adapters, o.method);
    emit({ kind: 'stage', stage: 'training', message: `${o.method}: ${steps} steps (${epochs} epochs of ${perEpoch})` });
    const losses: Array<{ step: number; loss: number }> = [];
    const lr = o.lr ?? (o.method === 'fmft' ? 2e-5 : 5e-4);
    const checkpoint = join(work, `${o.method}.checkpoint.safetensors`);
    await claimCheckpoint(
      checkpoint,
      {
        model: modelDir,
        method: o.method,
        data: hashOf(rows),
        lr,
        batch,
        steps,
        seed: o.seed ?? 42,
        maxInput: base.maxInput,
        format: base.profile.inputFormat,
      },
      emit,
    );
    const trained = await trainAdapter({
      model: modelDir,
      method: o.method,
      data,
      out,
      ownedOutput: true,
      // The adapter is fed as its base model was trained: the profile travels with it.
      files: { [PROFILE_FILE]: profileText({ ...base.profile, source: modelDir }) },
      steps,
      batch,
      seed: o.seed ?? 42,
      schedule: 'linear',
      maxSourceLength: base.maxInput,
      maxTargetLength: maxTarget,
      lr,
      lora: { r: 8, alpha: 32 },
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
    const tuned =
      o.method === 'fmft'
        ? await MessageModel.create(out, { maxInput: base.maxInput, provider: o.provider })
        : await MessageModel.create(modelDir, { adapter: out, maxInput: base.maxInput, provider: o.provider });
    const index = new NngenIndex();
    for (const p of train) index.add(p.sha, p.subject, diffWords(p.files));
    const generate = (m: MessageModel, pairs: Pair[], what: string) =>
      generateFor(m, pairs, historyOf, {
        quick: o.quick,
        signal: o.signal,
        onProgress: (i, n) => emit({ kind: 'stage', stage: 'evaluating', message: `${what}: ${i} of ${n}` }),
      });
    const evaluate = async (pairs: Pair[], split: string) => {
      const gold = pairs.map((p) => p.subject);
      const preds = {
        untuned: await generate(base, pairs, `${split}, untuned`),
        tuned: await generate(tuned, pairs, `${split}, tuned`),
        nngen: pairs.map((p) => index.query(diffWords(p.files), { k: 5 })[0]?.message ?? ''),
      };
      const metrics = Object.fromEntries(Object.entries(preds).map(([k, v]) => [k, cmgMetrics(v, gold)])) as Record<
        'untuned' | 'tuned' | 'nngen',
        CmgMetrics
      >;
      return { gold, preds, metrics };
    };
    emit({ kind: 'stage', stage: 'evaluating', message: 'validation' });
    const val = await evaluate(validation, 'validation');
    emit({ kind: 'stage', stage: 'evaluating', message: 'test' });
    const tst = await evaluate(test, 'test');
    const verdict = decideAdoption(o.adopt ?? 'auto', {
      subject: 'the tuned model',
      against: 'the untuned one',
      metric: 'validation B-Norm BLEU',
      candidate: val.metrics.tuned.bnormBleu,
      inUse: val.metrics.untuned.bnormBleu,
      generations: val.preds.tuned,
    });
    let adopt = verdict.adopted;
    let adoptedAt: string | null = null;
    if (adopt) {
      const at = new Date().toISOString();
      adoptedAt = await adoptMessageModel(repo, {
        model: o.method === 'fmft' ? out : modelDir,
        adapter: o.method === 'fmft' ? null : out,
        method: o.method,
        adoptedAt: at,
        validation: { tunedBnorm: val.metrics.tuned.bnormBleu, untunedBnorm: val.metrics.untuned.bnormBleu },
      });
      // "Adopted" only if this run's model is the one in use now.
      adopt = await stillAdopted(repo, at);
    }
    if (!existsSync(out)) throw new ChangelingError('io', `the adapter was not written to ${out}`);
    // Earlier runs' folders go, except the one in use (adopted) and this run's (its report points at it).
    const inUse = await adoptedMessageModel(repo, { quiet: true });
    await pruneRuns(adapters, o.method, [out, inUse?.adapter, inUse?.model]);
    return {
      task: 'cmg',
      method: o.method,
      model: modelDir,
      repo: repo.root,
      head: repo.head,
      out,
      commits: { train: train.length, validation: validation.length, test: test.length },
      steps: trained.steps.length,
      trainSeconds: trained.seconds,
      seconds: (performance.now() - t0) / 1000,
      trainableParameters: trained.trainableParameters,
      losses,
      validation: val.metrics,
      test: tst.metrics,
      adopted: adopt,
      adoptedRecord: adoptedAt,
      adoptReason: verdict.reason,
      examples: test.slice(0, 10).map((p, i) => ({
        sha: p.sha.slice(0, 10),
        real: p.subject,
        tuned: tst.preds.tuned[i]!,
        untuned: tst.preds.untuned[i]!,
        nngen: tst.preds.nngen[i]!,
      })),
    };
  });
}
