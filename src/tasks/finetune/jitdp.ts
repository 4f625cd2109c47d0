import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { writeFileAtomic } from '../../util/atomicFile.js';
import { removeOwned, writeOutputFolder } from '../../util/outputTarget.js';
import { withLock } from '../../util/lock.js';
import { claimCheckpoint, dropCheckpoint, hashOf, pruneRuns, runFolder } from './runState.js';
import { repoDataDir, requireCommits, type Repository } from '../../git/repository.js';
import { jitdpMetrics, type JitdpMetrics } from '../../eval/jitdpMetrics.js';
import { ChangelingError } from '../../util/errors.js';
import { evaluateBaseline, scoreBaseline, trainBaseline } from '../jitdp/baseline.js';
import { jitdpDataset } from '../jitdp/dataset.js';
import { NeuralRisk, saveNeural, trainNeural } from '../jitdp/neural.js';
import { loadRiskModel, repoModelPath } from '../jitdp/risk.js';
import { brokenModel, decideAdoption } from '../adoption.js';
import type { FinetuneOptions, FinetuneResult } from './types.js';
import { parseMethod, RISK_METHODS } from '../../peft/methods.js';

/**
 * `changeling finetune --task jitdp`: SZZ labels and time-ordered 80/10/10 splits of the repository; the
 * JIT-Fine-style model (LoRA or an adapter on a RoBERTa-family encoder, the study's JIT-DP settings: LoRA
 * r 8 here for speed, lr 1e-3/5e-4, batch 16, epochs scaled to the data) trained with validation AUC twice
 * an epoch; compared on validation and test with the untuned model (the embedded default, what the
 * repository uses without fine-tuning) and the JITLine-style baseline. Adopted (saved where `changeling
 * risk` and the extension look) when it beats the untuned model on validation AUC, or as `adopt` says.
 */
export async function finetuneJitdp(repo: Repository, options: FinetuneOptions): Promise<FinetuneResult> {
  requireCommits(repo);
  const o = options as FinetuneOptions & { model: string };
  const t0 = performance.now();
  const emit = o.onEvent ?? (() => {});
  if (!o.model)
    throw new ChangelingError(
      'usage',
      'fine-tuning risk needs --model: a RoBERTa-family encoder folder (e.g. "changeling download microsoft/codebert-base")',
    );
  const method = parseMethod(o.method, RISK_METHODS, '--method for risk');
  emit({ kind: 'stage', stage: 'mining', message: 'reading the history and labelling it (SZZ)' });
  const data = await jitdpDataset(repo, { signal: o.signal });
  let { train, validation, test } = data;
  if (o.quick) {
    train = train.slice(-300);
    validation = validation.slice(-60);
    test = test.slice(-60);
  }
  const buggy = train.filter((c) => c.label === 1).length;
  if (train.length < (o.quick ? 50 : 200) || buggy < (o.quick ? 5 : 20))
    throw new ChangelingError(
      'usage',
      `the history is too thin to fine-tune on: ${train.length} training commits, ${buggy} of them buggy by SZZ`,
    );
  emit({
    kind: 'stage',
    stage: 'dataset',
    message: `${train.length} training (${buggy} buggy), ${validation.length} validation, ${test.length} test commits`,
  });
  const dataDir = await repoDataDir(repo);
  return withLock(join(dataDir, 'locks', 'jitdp.lock'), `changeling finetune --task jitdp --method ${o.method}`, async () => {
    const work = join(dataDir, 'finetune-jitdp');
    const losses: Array<{ step: number; loss: number }> = [];
    const curve: Array<{ step: number; metric: number }> = [];
    const batch = o.batch ?? 16;
    const perEpoch = Math.ceil(train.length / batch);
    const epochs = o.epochs ?? (o.quick ? 1 : Math.min(10, Math.max(2, Math.ceil(300 / perEpoch))));
    emit({ kind: 'stage', stage: 'training', message: `${o.method}: ${epochs} epochs of ${perEpoch} steps` });
    const checkpoint = join(work, `${o.method}.checkpoint.safetensors`);
    await mkdir(work, { recursive: true });
    await writeFileAtomic(
      join(work, 'run.json'),
      JSON.stringify({ task: 'jitdp', method: o.method, model: o.model, quick: !!o.quick }) + '\n',
    );
    await claimCheckpoint(
      checkpoint,
      {
        model: o.model,
        method: o.method,
        data: hashOf(train.map((c) => `${c.sha}:${c.label}`).join(',')),
        lr: o.lr ?? null,
        batch,
        epochs,
        seed: o.seed ?? null,
        maxLength: o.maxLength ?? (o.quick ? 128 : 512),
      },
      emit,
    );
    const m = await trainNeural(train, validation, {
      encoder: o.model,
      method,
      epochs,
      batch,
      lr: o.lr,
      maxLength: o.maxLength ?? (o.quick ? 128 : 512),
      seed: o.seed,
      signal: o.signal,
      checkpoint,
      provider: o.provider,
      threads: o.threads,
      recompute: o.recompute,
      onEvent: (e) => {
        if (e.kind === 'step') {
          losses.push({ step: e.step, loss: e.loss });
          emit({ kind: 'step', step: e.step, steps: perEpoch * epochs, loss: e.loss });
        } else if (e.kind === 'eval') {
          curve.push({ step: e.step, metric: e.metric });
          emit({ kind: 'eval', step: e.step, metric: e.metric });
        }
      },
    });
    await dropCheckpoint(checkpoint);
    // This run's own folder (the model in use, risk-model, changes only by adoption below).
    const adapters = join(dataDir, 'adapters', 'jitdp');
    const out = runFolder(adapters, o.method);
    await writeOutputFolder(out, (tmp) => saveNeural(tmp, m, { repo: repo.root, head: repo.head, trainedAt: new Date().toISOString() }), {
      owned: true,
    });
    await pruneRuns(adapters, o.method, [out]);
    emit({ kind: 'stage', stage: 'evaluating', message: 'validation and test' });
    const tuned = await NeuralRisk.create(m);
    const untuned = (await loadRiskModel(null)).linear!;
    const baseline = trainBaseline(train, validation);
    // The tuned model's probabilities, once per split: its metrics and (for test) the riskiest examples.
    const metricsOn = (split: typeof test, probs: number[]) =>
      ({
        untuned: evaluateBaseline(untuned, split),
        tuned: jitdpMetrics(
          split.map((c, i) => ({ prob: probs[i]!, label: c.label, effort: c.effort })),
          m.threshold,
        ),
        'JITLine-style': evaluateBaseline(baseline, split),
      }) as Record<string, JitdpMetrics>;
    const valProbs = await tuned.score(validation, o.signal);
    const broken = brokenModel({ scores: valProbs, candidate: 0 });
    if (broken) throw new ChangelingError('model', `the tuned model is refused: ${broken}; nothing was adopted`);
    const val = metricsOn(validation, valProbs);
    const probs = await tuned.score(test, o.signal);
    const tst = metricsOn(test, probs);
    const verdict = decideAdoption(o.adopt ?? 'auto', {
      subject: 'the tuned model',
      against: 'the untuned one (the embedded default)',
      metric: 'validation AUC',
      candidate: val.tuned!.aucRoc,
      inUse: val.untuned!.aucRoc,
      digits: 3,
      scores: valProbs,
      evidence: {
        kind: 'auc',
        labels: validation.map((c) => c.label),
        candidate: valProbs,
        inUse: validation.map((c) => scoreBaseline(untuned, c)),
      },
    });
    const adopt = verdict.adopted;
    let record: string | null = null;
    if (adopt) {
      record = await repoModelPath(repo);
      // The model in use is replaced whole: readers see the old one or the new one.
      await writeOutputFolder(
        record,
        (tmp) =>
          saveNeural(tmp, m, { repo: repo.root, head: repo.head, adoptedAt: new Date().toISOString(), validationAuc: val.tuned!.aucRoc }),
        { owned: true },
      );
      await removeOwned(`${record}.json`, dataDir);
    }
    const riskiest = test
      .map((c, i) => ({ c, p: probs[i]! }))
      .sort((a, b) => b.p - a.p)
      .slice(0, 10);
    return {
      task: 'jitdp',
      method: o.method,
      model: o.model,
      repo: repo.root,
      head: repo.head,
      out,
      commits: { train: train.length, validation: validation.length, test: test.length },
      steps: m.steps,
      trainSeconds: m.seconds,
      seconds: (performance.now() - t0) / 1000,
      trainableParameters: [...m.params.values()].reduce((n, t) => n + t.data.length, 0),
      losses,
      validationCurve: curve,
      validation: val,
      test: tst,
      adopted: adopt,
      adoptedRecord: record,
      adoptReason: verdict.reason,
      adoptBasis: verdict.basis,
      examples: riskiest.map(({ c, p }) => ({
        sha: c.sha.slice(0, 10),
        subject: c.message.split('\n')[0],
        probability: p,
        buggy: c.label === 1,
      })),
    };
  });
}
