import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { fileTarget, folderTarget, removeOwned } from '../util/outputTarget.js';
import { openRepository, repoDataDir, requireCommits } from '../git/repository.js';
import { withLock } from '../util/lock.js';
import type { JitdpMetrics } from '../eval/jitdpMetrics.js';
import { evaluateBaseline, scoreBaseline, trainBaseline } from '../tasks/jitdp/baseline.js';
import { jitdpDataset } from '../tasks/jitdp/dataset.js';
import { writeLinearModel } from '../tasks/jitdp/modelFile.js';
import { NeuralRisk, saveNeural, trainNeural } from '../tasks/jitdp/neural.js';
import { Cc2VecRisk, saveCc2Vec, trainCc2Vec } from '../tasks/jitdp/cc2vec.js';
import {
  describeRiskModel,
  loadRiskModel,
  repoModelPath,
  riskAdoption,
  saveFolderModel,
  scoreRiskModel,
  scoredSplit,
  type ScoredSplit,
} from '../tasks/jitdp/risk.js';
import type { TrainEvent } from '../train/trainLoop.js';
import { ChangelingError } from '../util/errors.js';
import { parseRecomputeMode } from '../train/memory.js';
import { StderrProgress, interruptSignal, parseCount, printJson, writeOut, writeErr } from './io.js';
import { parseMethod, RISK_METHODS } from '../peft/methods.js';

/** `changeling risk-train`: its options, its help text (RISK_TRAIN_HELP) and what it prints. */

export const RISK_TRAIN_HELP = `changeling risk-train [--repo PATH] [--model jitline|cc2vec | --encoder DIR [--method \
lora|adapter|prefix] [--max-length N] [--recompute auto|blocks|attention|lean|none]] [--epochs N] [--adopt auto|always|never] [--out PATH] [--json]

  Trains a risk model on the repository's own history: SZZ labels, time-ordered 80/10/10 splits, the
  JITLine-style model (code tokens + expert features), or with --encoder the JIT-Fine-style neural model
  (LoRA or an adapter on a RoBERTa-family model folder, e.g. from "changeling download microsoft/codebert-base"),
  or with --model cc2vec the CC2Vec-style model (hierarchical attention over the hunks, lines and tokens of
  the added and removed code, CC2Vec's comparison functions, the expert features; trained from scratch).
  It reports the test-split metrics of the new model next to the embedded default's on the same commits.
  --adopt auto (default): the new model replaces the one "changeling risk" uses now (the repository's earlier
  model, else the embedded default) only when its validation-split AUC is higher (a tie keeps the one in
  use); always: replace it anyway; never: keep it. An adopted model is saved in the repository's git folder
  (changeling/risk-model[.json]); --out writes the new model there instead, whatever the verdict, and changes
  nothing in use. A history with fewer than --min-commits (200) training commits or fewer than 20 buggy ones
  is too thin: nothing is saved and the model in use stays. --recompute blocks: whole blocks recomputed from their inputs in the
  backward of the neural model (attention: attention probabilities only; lean: those and no memory arena): less
  memory, the same gradients, a slower step; default auto: blocks when memory is short.`;

export async function riskTrainCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      repo: { type: 'string' },
      model: { type: 'string', default: 'jitline' },
      encoder: { type: 'string' },
      method: { type: 'string', default: 'lora' },
      epochs: { type: 'string' },
      'max-length': { type: 'string' },
      recompute: { type: 'string' },
      out: { type: 'string' },
      'min-commits': { type: 'string' },
      adopt: { type: 'string', default: 'auto' },
      json: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
    },
  });
  const method = parseMethod(values.method, RISK_METHODS);
  if (values.model !== 'jitline' && values.model !== 'cc2vec')
    throw new ChangelingError(
      'usage',
      `--model must be jitline or cc2vec, not "${values.model}" (the neural JIT-Fine-style model is --encoder DIR)`,
    );
  if (values.model === 'cc2vec' && values.encoder)
    throw new ChangelingError('usage', '--model cc2vec trains from scratch: it takes no --encoder');
  const adopt = values.adopt!;
  if (adopt !== 'auto' && adopt !== 'always' && adopt !== 'never')
    throw new ChangelingError('usage', `--adopt must be auto, always or never, not "${adopt}"`);
  // The output is checked before the long work, and again when it is written.
  if (values.out) {
    if (values.encoder || values.model === 'cc2vec') folderTarget(values.out, '--out');
    else fileTarget(values.out, '--out');
  }
  const repo = await openRepository(values.repo ?? process.cwd());
  requireCommits(repo);
  const signal = interruptSignal();
  const progress = new StderrProgress(values.quiet || values.json);
  progress.update('mining and labelling the history (SZZ)...', true);
  const data = await jitdpDataset(repo, { signal });
  const trainBuggy = data.train.filter((c) => c.label === 1).length;
  const minCommits = parseCount('min-commits', values['min-commits']) ?? 200;
  const summary = {
    commits: data.train.length + data.validation.length + data.test.length,
    train: data.train.length,
    trainBuggy,
    validation: data.validation.length,
    test: data.test.length,
    testBuggy: data.test.filter((c) => c.label === 1).length,
  };
  if (data.train.length < minCommits || trainBuggy < 20) {
    progress.done();
    const why = `the history is too thin to train on (${data.train.length} training commits, ${trainBuggy} of them \
buggy by SZZ; at least ${minCommits} and 20 are needed): nothing saved, "changeling risk" keeps using ${(await loadRiskModel(repo)).source}`;
    if (values.json) await printJson({ saved: null, reason: why, ...summary });
    else writeErr(`changeling: ${why}\n`);
    return 1;
  }
  return withLock(join(await repoDataDir(repo), 'locks', 'jitdp.lock'), 'changeling risk-train', async () => {
    const fallback = await loadRiskModel(null);
    const defaultMetrics = evaluateBaseline(fallback.linear!, data.test);
    // The model "changeling risk" uses now, and how it does on this validation split.
    const inUse = await loadRiskModel(repo);
    const inUseScored = await scoreRiskModel(inUse, data.validation, signal);
    const inUseValidation = inUseScored.metrics;
    let metrics: JitdpMetrics;
    let validationScored: ScoredSplit;
    const info = { repo: repo.root, head: repo.head, trainedAt: new Date().toISOString(), ...summary };
    let save: (dest: string) => Promise<void>;
    let live: string;
    const onEvent = (e: TrainEvent | { kind: 'encoded' }) => {
      if (e.kind === 'step') progress.update(`training: epoch ${e.epoch + 1}, step ${e.step}, loss ${e.loss.toFixed(4)}`);
      if (e.kind === 'eval') progress.update(`validation AUC ${e.metric.toFixed(3)} (best ${e.best.toFixed(3)})`, true);
    };
    if (values.encoder || values.model === 'cc2vec') {
      // A folder model: the JIT-Fine-style neural one, or the CC2Vec-style one.
      let scorer: { evaluate: NeuralRisk['evaluate']; score: NeuralRisk['score']; model: { threshold: number } };
      let write: (dir: string, info: Record<string, unknown>) => Promise<void>;
      if (values.encoder) {
        progress.update('training the neural model...', true);
        const m = await trainNeural(data.train, data.validation, {
          encoder: resolve(values.encoder),
          method,
          epochs: parseCount('epochs', values.epochs, 1000, 1),
          maxLength: parseCount('max-length', values['max-length']),
          recompute: parseRecomputeMode(values.recompute),
          signal,
          onEvent,
        });
        scorer = await NeuralRisk.create(m);
        write = (dir, i) => saveNeural(dir, m, i);
      } else {
        progress.update('training the CC2Vec-style model...', true);
        const m = await trainCc2Vec(data.train, data.validation, { epochs: parseCount('epochs', values.epochs, 1000, 1), signal, onEvent });
        scorer = await Cc2VecRisk.create(m);
        write = (dir, i) => saveCc2Vec(dir, m, i);
      }
      metrics = await scorer.evaluate(data.test, signal);
      validationScored = scoredSplit(data.validation, await scorer.score(data.validation, signal), scorer.model.threshold);
      const validation = validationScored.metrics;
      const folder = await repoModelPath(repo);
      live = folder;
      save = (dest) => saveFolderModel(dest, folder, (tmp) => write(tmp, { ...info, test: metrics, validation }));
    } else {
      progress.update('training the JITLine-style model...', true);
      const m = trainBaseline(data.train, data.validation);
      metrics = evaluateBaseline(m, data.test);
      validationScored = scoredSplit(
        data.validation,
        data.validation.map((c) => scoreBaseline(m, c)),
        m.threshold,
      );
      const validation = validationScored.metrics;
      live = `${await repoModelPath(repo)}.json`;
      save = async (dest) => {
        await mkdir(resolve(dest, '..'), { recursive: true });
        await writeLinearModel(dest, m, { ...info, test: metrics, validation });
        // The folder of an earlier neural model goes after the new file is complete.
        if (dest === live) await removeOwned(live.slice(0, -'.json'.length), resolve(live, '..'));
      };
    }
    const verdict = riskAdoption(adopt, data.validation, validationScored, inUseScored, inUse);
    const validation = validationScored.metrics;
    const adopted = verdict.adopted;
    const reason = `${adopted ? 'adopted' : 'not adopted'}: ${verdict.reason}`;
    const saved = values.out ? resolve(values.out) : adopted ? live : null;
    if (saved) await save(saved);
    const using = adopted && !values.out ? `this repository's new model (${live})` : describeRiskModel(inUse);
    progress.done();
    if (values.json)
      await printJson({
        saved,
        adopted: adopted && !values.out,
        reason,
        interval: verdict.interval ?? null,
        riskUses: adopted && !values.out ? live : inUse.source,
        ...summary,
        validation,
        inUseOnValidation: { model: inUse.source, metrics: inUseValidation },
        test: metrics,
        embeddedDefaultOnTest: defaultMetrics,
      });
    else {
      const f = (v: number, width: number) => v.toFixed(3).padStart(width);
      const row = (name: string, m: JitdpMetrics) =>
        `${name.padEnd(18)} ${f(m.f1, 6)} ${f(m.aucRoc, 6)} ${f(m.recallAt20Effort, 7)} ${f(m.effortAt20Recall, 7)} ${f(m.popt, 6)}`;
      await writeOut(
        [
          `${summary.commits} commits (${summary.train} train, ${summary.validation} validation, ${summary.test} test with ${summary.testBuggy} buggy)`,
          `model                  F1    AUC  R@20%E  E@20%R   Popt   (test split)`,
          row(values.encoder ? 'this repo, neural' : values.model === 'cc2vec' ? 'this repo, cc2vec' : 'this repo, linear', metrics),
          row('embedded default', defaultMetrics),
          `the new model: ${reason}`,
          saved ? `saved to ${saved}` : 'nothing saved',
          `"changeling risk" uses ${using}`,
        ].join('\n') + '\n',
      );
    }
    return 0;
  });
}
