import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { JitdpMetrics } from '../../eval/jitdpMetrics.js';
import type { Improvement } from '../../eval/significance.js';
import { writeFileAtomic } from '../../util/atomicFile.js';
import { readJsonFile } from '../../util/jsonFile.js';
import { withLock } from '../../util/lock.js';
import { copyFiles, withTempDir, writeOutputFolder } from '../../util/outputTarget.js';
import { runFolder } from '../finetune/runState.js';
import { calibrate, calibrated } from '../jitdp/calibration.js';
import { jitdpDataset } from '../jitdp/dataset.js';
import { NeuralRisk, loadNeural, saveNeural } from '../jitdp/neural.js';
import { loadRiskModel, repoModelPath, riskAdoption, saveFolderModel, scoreRiskModel, scoredSplit } from '../jitdp/risk.js';
import { repoDataDir, type Repository } from '../../git/repository.js';
import { readAdapter } from '../../peft/files.js';
import { ChangelingError } from '../../util/errors.js';
import { bnormBleu, bnormPerItem, subjectOf } from '../../eval/cmgMetrics.js';
import { MessageModel } from '../cmg/generate.js';
import { adoptMessageModel, stillAdopted } from '../cmg/adopted.js';
import { decideAdoption } from '../adoption.js';
import { cmgPairs, generateFor, subjectHistory, timeSplits } from '../cmg/dataset.js';
import { isChatLlmFolder } from '../cmg/llmInput.js';
import { historyContexts } from '../cmg/llmHistory.js';
import { LlmMessageWriter } from '../cmg/llmWriter.js';
import { writeFor } from '../finetune/cmgLlm.js';

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
  /** The B-Norm improvement over the untuned model and its one-sided 95% lower bound (paired bootstrap). */
  interval: Improvement | null;
  record: string | null;
}

export async function adoptCmgAdapter(repo: Repository, o: AdoptOptions): Promise<AdoptResult> {
  const { config: cfg } = await readAdapter(o.adapter);
  const named = typeof cfg.base_model_name_or_path === 'string' ? cfg.base_model_name_or_path : '';
  const model = o.model ?? (named && isAbsolute(named) && existsSync(named) ? named : '');
  if (!model)
    throw new ChangelingError(
      'usage',
      `give --model DIR: the base model the adapter was trained on (its config names ${JSON.stringify(named || 'none')}, which is not a folder here)`,
    );
  const dataDir = await repoDataDir(repo);
  // The same lock as finetune --task cmg: two adopters never both say "Adopted" while only one is in use.
  return withLock(join(dataDir, 'locks', 'cmg.lock'), 'changeling adopt --task cmg', async () => {
    const progress = (what: string) => (i: number, n: number) => o.onProgress?.(`${what}: ${i} of ${n}`);
    o.onProgress?.('reading the history');
    const { gold, untuned, generations } = (await isChatLlmFolder(model))
      ? await llmValidation(repo, model, o, progress)
      : await seq2seqValidation(repo, model, o, progress);
    const untunedItems = bnormPerItem(untuned, gold);
    const tunedItems = bnormPerItem(generations, gold);
    const untunedBnorm = bnormBleu(untuned, gold);
    const tunedBnorm = bnormBleu(generations, gold);
    const verdict = decideAdoption(o.force ? 'always' : 'auto', {
      subject: 'the adapter',
      against: 'the untuned model',
      metric: 'validation B-Norm BLEU',
      candidate: tunedBnorm,
      inUse: untunedBnorm,
      flag: o.force ? '--force' : undefined,
      generations,
      evidence: { kind: 'items', candidate: tunedItems, inUse: untunedItems },
    });
    let record: string | null = null;
    let adopted = verdict.adopted;
    if (adopted) {
      // Changeling's own copy: what is in use never depends on the folder the adapter came from.
      const copy = runFolder(join(dataDir, 'adapters', 'cmg'), 'adopted');
      await writeOutputFolder(copy, (dir) => copyFiles(o.adapter, dir), { what: 'the adopted adapter', owned: true });
      const adoptedAt = new Date().toISOString();
      record = await adoptMessageModel(repo, {
        model,
        adapter: copy,
        method: String(cfg.peft_type ?? 'LORA').toLowerCase(),
        adoptedAt,
        validation: { tunedBnorm, untunedBnorm },
      });
      adopted = await stillAdopted(repo, adoptedAt);
    }
    return {
      adapter: o.adapter,
      model,
      validation: { commits: gold.length, tunedBnorm, untunedBnorm },
      adopted,
      reason: verdict.reason,
      interval: verdict.interval ?? null,
      record,
    };
  });
}

type Progress = (what: string) => (i: number, n: number) => void;

/** A seq2seq message model's validation subjects and its messages without and with the adapter (finetune's settings). */
async function seq2seqValidation(repo: Repository, model: string, o: AdoptOptions, progress: Progress) {
  const base = await MessageModel.create(model);
  const tuned = await MessageModel.create(model, { adapter: o.adapter });
  const { all, historyOf } = await cmgPairs(repo, base, { signal: o.signal });
  const validation = timeSplits(all).validation.slice(-(o.evalCap ?? 200));
  if (validation.length === 0) throw thinHistory(all.length);
  return {
    gold: validation.map((p) => p.subject),
    untuned: await generateFor(base, validation, historyOf, { signal: o.signal, onProgress: progress('untuned') }),
    generations: await generateFor(tuned, validation, historyOf, { signal: o.signal, onProgress: progress('with the adapter') }),
  };
}

/** A code LLM's validation subjects and the subjects it writes without and with the adapter, in ✨'s prompt (cmgLlm.ts). */
async function llmValidation(repo: Repository, model: string, o: AdoptOptions, progress: Progress) {
  const all = await subjectHistory(repo, 20000, o.signal);
  const { train, validation: v } = timeSplits(all);
  const validation = v.slice(-(o.evalCap ?? 100));
  if (validation.length === 0) throw thinHistory(all.length);
  const contexts = historyContexts(all, train);
  const write = async (w: LlmMessageWriter, what: string) =>
    (await writeFor(w, validation, contexts, repo, o, progress(what))).messages.map(subjectOf);
  return {
    gold: validation.map((p) => p.subject),
    untuned: await write(await LlmMessageWriter.create(model), 'untuned'),
    generations: await write(await LlmMessageWriter.create(model, { adapter: o.adapter }), 'with the adapter'),
  };
}

const thinHistory = (n: number) =>
  new ChangelingError('usage', `the history is too thin to check an adapter on: ${n} commits with a message and a diff`);

/**
 * `changeling adopt --task jitdp --adapter DIR`: a JIT-Fine-style risk model trained elsewhere
 * (recipes/train_jitfine.py on a cluster, or `changeling risk-train --out` on a bigger machine), given the
 * local encoder folder, is calibrated on this repository's validation split (Platt scaling and the F1-best
 * threshold, as risk-train calibrates its own) and adopted when its validation AUC beats the model in use there
 * (the repository's earlier model, else the embedded default), or with `force`. `changeling risk`, the status
 * bar and the pre-push hook use it from then on.
 */
export interface AdoptJitdpResult {
  adapter: string;
  model: string;
  validation: { commits: number; buggy: number; metrics: JitdpMetrics; inUse: string; inUseMetrics: JitdpMetrics };
  adopted: boolean;
  reason: string;
  /** The improvement over the model in use and its one-sided 95% lower bound (DeLong), when it could be tested. */
  interval: Improvement | null;
  saved: string | null;
}

export async function adoptJitdpModel(repo: Repository, o: AdoptOptions): Promise<AdoptJitdpResult> {
  const metaPath = join(o.adapter, 'jitdp.json');
  if (!existsSync(metaPath))
    throw new ChangelingError(
      'usage',
      `${o.adapter} has no jitdp.json: not a JIT-DP model folder (train one with recipes/train_jitfine.py or "changeling risk-train --encoder DIR --out DIR")`,
    );
  const meta = (await readJsonFile(metaPath)) as Record<string, unknown>;
  const named = typeof meta.encoder === 'string' ? meta.encoder : '';
  const model = o.model ?? (named && isAbsolute(named) && existsSync(named) ? named : '');
  if (!model)
    throw new ChangelingError(
      'usage',
      `give --model DIR: the encoder the model was trained on (its jitdp.json names ${JSON.stringify(named || 'none')}, which is not a folder here)`,
    );
  const dataDir = await repoDataDir(repo);
  // The same lock as risk-train and finetune --task jitdp.
  return withLock(join(dataDir, 'locks', 'jitdp.lock'), 'changeling adopt --task jitdp', () =>
    withTempDir('changeling-adopt-', async (work) => {
      // A working copy that names the local encoder.
      await copyFiles(o.adapter, work);
      await writeFileAtomic(join(work, 'jitdp.json'), JSON.stringify({ ...meta, encoder: resolve(model) }, null, 1) + '\n');
      const m = await loadNeural(work);
      const risk = await NeuralRisk.create(m);
      o.onProgress?.('mining and labelling the history (SZZ)');
      const data = await jitdpDataset(repo, { signal: o.signal });
      if (data.validation.length === 0)
        throw new ChangelingError('usage', 'the history is too thin to check a risk model on: its validation split is empty');
      o.onProgress?.('scoring the validation split');
      const z = await risk.logits(data.validation, o.signal);
      const cal = calibrate(
        z,
        data.validation.map((c) => c.label),
      );
      const candidate = scoredSplit(
        data.validation,
        z.map((x) => calibrated(cal, x)),
        cal.threshold,
      );
      const metrics = candidate.metrics;
      const inUse = await loadRiskModel(repo);
      const inUseScored = await scoreRiskModel(inUse, data.validation, o.signal);
      const inUseMetrics = inUseScored.metrics;
      const verdict = riskAdoption(
        o.force ? 'always' : 'auto',
        data.validation,
        candidate,
        inUseScored,
        inUse,
        o.force ? '--force' : undefined,
      );
      let saved: string | null = null;
      if (verdict.adopted) {
        saved = await repoModelPath(repo);
        const info = {
          ...m.info,
          adoptedAt: new Date().toISOString(),
          adoptedFrom: o.adapter,
          repo: repo.root,
          head: repo.head,
          validation: metrics,
        };
        await saveFolderModel(saved, saved, (tmp) => saveNeural(tmp, { ...m, ...cal }, info));
      }
      return {
        adapter: o.adapter,
        model,
        validation: {
          commits: data.validation.length,
          buggy: data.validation.filter((c) => c.label === 1).length,
          metrics,
          inUse: inUse.source,
          inUseMetrics,
        },
        adopted: verdict.adopted,
        reason: verdict.reason,
        interval: verdict.interval ?? null,
        saved,
      };
    }),
  );
}
