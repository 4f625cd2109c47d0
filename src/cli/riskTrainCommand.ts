import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import { mkdir, rm } from 'node:fs/promises';
import { openRepository, repoDataDir, requireCommits } from '../git/repository.js';
import { replaceDirectory } from '../util/atomicFile.js';
import { withLock } from '../util/lock.js';
import type { JitdpMetrics } from '../eval/jitdpMetrics.js';
import { evaluateBaseline, trainBaseline } from '../tasks/jitdp/baseline.js';
import { jitdpDataset } from '../tasks/jitdp/dataset.js';
import { writeLinearModel } from '../tasks/jitdp/modelFile.js';
import { NeuralRisk, saveNeural, trainNeural, type NeuralMethod } from '../tasks/jitdp/neural.js';
import { loadRiskModel, repoModelPath } from '../tasks/jitdp/risk.js';
import { ChangelingError } from '../util/errors.js';
import { StderrProgress, interruptSignal, parseCount, printJson, writeOut } from './io.js';

export const RISK_TRAIN_HELP = `changeling risk-train [--repo PATH] [--encoder DIR [--method lora|adapter|prefix] [--epochs N] [--max-length N]] [--out PATH] [--json]

  Trains a risk model on the repository's own history: SZZ labels, time-ordered 80/10/10 splits, the
  JITLine-style model (code tokens + expert features), or with --encoder the JIT-Fine-style neural model
  (LoRA or an adapter on a RoBERTa-family model folder, e.g. from "changeling download microsoft/codebert-base").
  It reports the test-split metrics of the new model next to the embedded default's on the same commits, and
  saves the model in the repository's git folder (changeling/risk-model[.json]), where "changeling risk"
  finds it, or at --out. A history with fewer than --min-commits (200) training commits or fewer than 20
  buggy ones is too thin: nothing is saved and the embedded default stays in use.`;

export async function riskTrainCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv, strict: true,
    options: {
      repo: { type: 'string' }, encoder: { type: 'string' }, method: { type: 'string', default: 'lora' }, epochs: { type: 'string' }, 'max-length': { type: 'string' },
      out: { type: 'string' }, 'min-commits': { type: 'string' }, json: { type: 'boolean', default: false }, quiet: { type: 'boolean', default: false },
    },
  });
  if (values.method !== 'lora' && values.method !== 'adapter' && values.method !== 'prefix') throw new ChangelingError('usage', `--method must be lora, adapter or prefix, not "${values.method}"`);
  const repo = await openRepository(values.repo ?? process.cwd());
  requireCommits(repo);
  const signal = interruptSignal();
  const progress = new StderrProgress(values.quiet || values.json);
  progress.update('mining and labelling the history (SZZ)...', true);
  const data = await jitdpDataset(repo, { signal });
  const trainBuggy = data.train.filter((c) => c.label === 1).length;
  const minCommits = parseCount('min-commits', values['min-commits']) ?? 200;
  const summary = { commits: data.train.length + data.validation.length + data.test.length, train: data.train.length, trainBuggy, validation: data.validation.length, test: data.test.length, testBuggy: data.test.filter((c) => c.label === 1).length };
  if (data.train.length < minCommits || trainBuggy < 20) {
    progress.done();
    const why = `the history is too thin to train on (${data.train.length} training commits, ${trainBuggy} of them buggy by SZZ; at least ${minCommits} and 20 are needed): nothing saved, "changeling risk" keeps using ${(await loadRiskModel(repo)).source}`;
    if (values.json) await printJson({ saved: null, reason: why, ...summary });
    else process.stderr.write(`changeling: ${why}\n`);
    return 1;
  }
  return withLock(join(await repoDataDir(repo), 'locks', 'jitdp.lock'), 'changeling risk-train', async () => {
  const fallback = await loadRiskModel(null);
  const defaultMetrics = evaluateBaseline(fallback.linear!, data.test);
  let metrics: JitdpMetrics;
  let out: string;
  const info = { repo: repo.root, head: repo.head, trainedAt: new Date().toISOString(), ...summary };
  if (values.encoder) {
    progress.update('training the neural model...', true);
    const m = await trainNeural(data.train, data.validation, {
      encoder: resolve(values.encoder), method: values.method as NeuralMethod, epochs: parseCount('epochs', values.epochs), maxLength: parseCount('max-length', values['max-length']), signal,
      onEvent: (e) => {
        if (e.kind === 'step') progress.update(`training: epoch ${e.epoch + 1}, step ${e.step}, loss ${e.loss.toFixed(4)}`);
        if (e.kind === 'eval') progress.update(`validation AUC ${e.metric.toFixed(3)} (best ${e.best.toFixed(3)})`, true);
      },
    });
    metrics = await (await NeuralRisk.create(m)).evaluate(data.test, signal);
    out = values.out ? resolve(values.out) : await repoModelPath(repo);
    const dest = out;
    await replaceDirectory(dest, (tmp) => saveNeural(tmp, m, { ...info, test: metrics }));
    if (!values.out) await rm(`${out}.json`, { force: true });
  } else {
    progress.update('training the JITLine-style model...', true);
    const m = trainBaseline(data.train, data.validation);
    metrics = evaluateBaseline(m, data.test);
    out = values.out ? resolve(values.out) : `${await repoModelPath(repo)}.json`;
    await mkdir(resolve(out, '..'), { recursive: true });
    await writeLinearModel(out, m, { ...info, test: metrics });
    // The folder of an earlier neural model goes after the new file is complete.
    if (!values.out) await rm(out.slice(0, -'.json'.length), { recursive: true, force: true });
  }
  progress.done();
  if (values.json) await printJson({ saved: out, ...summary, test: metrics, embeddedDefaultOnTest: defaultMetrics });
  else {
    const row = (name: string, m: JitdpMetrics) => `${name.padEnd(18)} ${m.f1.toFixed(3).padStart(6)} ${m.aucRoc.toFixed(3).padStart(6)} ${m.recallAt20Effort.toFixed(3).padStart(7)} ${m.effortAt20Recall.toFixed(3).padStart(7)} ${m.popt.toFixed(3).padStart(6)}`;
    await writeOut([
      `${summary.commits} commits (${summary.train} train, ${summary.validation} validation, ${summary.test} test with ${summary.testBuggy} buggy)`,
      `model                  F1    AUC  R@20%E  E@20%R   Popt   (test split)`,
      row(values.encoder ? 'this repo, neural' : 'this repo, linear', metrics),
      row('embedded default', defaultMetrics),
      `saved to ${out}`,
    ].join('\n') + '\n');
  }
  return 0;
  });
}
