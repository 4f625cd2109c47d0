import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { repoDataDir, requireCommits, type Repository } from '../../git/repository.js';
import { bnormPerItem, cmgMetrics, type CmgMetrics } from '../../eval/cmgMetrics.js';
import { ChangelingError } from '../../util/errors.js';
import { decideAdoption } from '../adoption.js';
import { writeFileAtomic } from '../../util/atomicFile.js';
import { withLock } from '../../util/lock.js';
import { runFolder } from './runState.js';
import { cmgResult, cmgSplits, finishCmgRun, trainCmgRun } from './cmgRun.js';
import { finetuneCmgLlm } from './cmgLlm.js';
import { isChatLlmFolder } from '../cmg/llmInput.js';
import { MessageModel } from '../cmg/generate.js';
import { cmgPairs, generateFor, type Pair } from '../cmg/dataset.js';
import { NngenIndex, diffWords } from '../cmg/nngen.js';
import { PROFILE_FILE, profileText } from '../cmg/profile.js';
import { cachedModel } from '../../models/hub.js';
import { DEFAULT_MESSAGE_MODEL, defaultModelCache } from '../../models/manifest.js';
import type { FinetuneEvent, FinetuneOptions, FinetuneResult } from './types.js';
import { METHODS, savesAdapter } from '../../peft/methods.js';

const QUICK = { train: 200, eval: 20, steps: 30 };

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
export async function finetuneCmg(repo: Repository, o: FinetuneOptions): Promise<FinetuneResult> {
  requireCommits(repo);
  const t0 = performance.now();
  const emit = (e: FinetuneEvent) => o.onEvent?.(e);
  // The default starting point is a model already trained for messages (the catalogue's default), downloaded.
  const modelDir = o.model ?? (await cachedModel(defaultModelCache(), DEFAULT_MESSAGE_MODEL));
  if (!modelDir)
    throw new ChangelingError(
      'usage',
      `fine-tuning commit messages starts from a model: download the default one first ("changeling download ${DEFAULT_MESSAGE_MODEL}", ` +
        `about 900 MB) or give --model DIR (a CodeT5 or PLBART folder, or a code LLM's)`,
    );
  // A code LLM (a chat model folder) learns in its own prompt: cmgLlm.ts.
  if (await isChatLlmFolder(modelDir)) return finetuneCmgLlm(repo, o, modelDir);
  const base = await MessageModel.create(modelDir, { maxInput: o.maxLength ?? (o.quick ? 128 : undefined), provider: o.provider });
  emit({ kind: 'stage', stage: 'mining', message: `reading the history (input format ${base.profile.inputFormat})` });
  const { all, historyOf } = await cmgPairs(repo, base, { maxCommits: o.maxCommits, signal: o.signal });
  const { train, validation, test } = cmgSplits(all, o, { quick: QUICK, evalCap: 200 });
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
    const lr = o.lr ?? METHODS[o.method].lr.cmg;
    const { trained, losses } = await trainCmgRun(o, {
      modelDir,
      work,
      data,
      rows,
      out,
      steps,
      batch,
      lr,
      owner: { maxInput: base.maxInput, format: base.profile.inputFormat },
      // The adapter is fed as its base model was trained: the profile travels with it.
      train: {
        files: { [PROFILE_FILE]: profileText({ ...base.profile, source: modelDir }) },
        maxSourceLength: base.maxInput,
        maxTargetLength: maxTarget,
        lora: { r: 8, alpha: 32 },
      },
      emit,
    });
    const tuned = !savesAdapter(o.method)
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
      evidence: { kind: 'items', candidate: bnormPerItem(val.preds.tuned, val.gold), inUse: bnormPerItem(val.preds.untuned, val.gold) },
    });
    const done = await finishCmgRun(repo, {
      verdict,
      method: o.method,
      modelDir,
      out,
      adapters,
      validation: { tunedBnorm: val.metrics.tuned.bnormBleu, untunedBnorm: val.metrics.untuned.bnormBleu },
    });
    const result = cmgResult(repo, o, {
      modelDir,
      out,
      t0,
      splits: { train, validation, test },
      trained,
      losses,
      validation: val.metrics,
      test: tst,
      done,
      verdict,
      real: (p) => p.subject,
    });
    return result;
  });
}
