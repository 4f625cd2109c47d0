import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JitdpMetrics } from '../src/eval/jitdpMetrics.js';
import { evaluateBaseline, trainBaseline } from '../src/tasks/jitdp/baseline.js';
import type { JitdpDataset } from '../src/tasks/jitdp/dataset.js';
import { NeuralRisk, trainNeural } from '../src/tasks/jitdp/neural.js';
import { Cc2VecRisk, trainCc2Vec } from '../src/tasks/jitdp/cc2vec.js';
import { writeTinyRoberta } from '../test/helpers/tinyModels.js';
import { cachedDataset, repoName } from './jitdpData.js';

/**
 * The JIT-DP evaluation on real histories: per repository (time-ordered splits, SZZ labels), the test-split
 * metrics of (1) the JITLine-style baseline trained on that repository, (2) the expert-feature model trained
 * on the *other* repositories only (what the embedded default does for a repository it has never seen),
 * (3) the JIT-Fine-style neural model (LoRA on a tiny random RoBERTa with CodeBERT's tokenizer, since no
 * pretrained weights can be downloaded here) trained on that repository, (4) the CC2Vec-style model trained
 * from scratch on that repository. `--no-neural` skips (3), `--no-cc2vec` (4); `--only-cc2vec` runs (4) alone.
 */
export async function jitdpEvalBench(args: string[]): Promise<Record<string, unknown>> {
  const flag = (n: string) => (args.includes(n) ? args[args.indexOf(n) + 1]! : null);
  const cache = flag('--cache');
  const epochs = Number(flag('--epochs') ?? 2);
  const maxLength = Number(flag('--max-length') ?? 256);
  const cc2vecEpochs = Number(flag('--cc2vec-epochs') ?? 10);
  const skip = new Set([cache, flag('--epochs'), flag('--max-length'), flag('--cc2vec-epochs')]);
  const paths = args.filter((a) => !a.startsWith('--') && !skip.has(a));
  if (paths.length < 2)
    throw new Error('usage: npm run bench -- jitdp-eval REPO REPO... [--cache DIR] [--epochs N] [--max-length N] [--no-neural]');
  const repos: Array<{ name: string; data: JitdpDataset }> = [];
  for (const p of paths) {
    const { repo, data, seconds } = await cachedDataset(p, cache);
    repos.push({ name: repoName(repo), data });
    process.stderr.write(
      `${repoName(repo)}: ${data.train.length + data.validation.length + data.test.length} commits${seconds ? ` (dataset ${seconds.toFixed(0)} s)` : ' (cached)'}\n`,
    );
  }
  const encoderDir = mkdtempSync(join(tmpdir(), 'changeling-tiny-roberta-'));
  writeTinyRoberta(encoderDir);
  const rows: Array<Record<string, unknown>> = [];
  const fmt = (m: JitdpMetrics) =>
    `F1 ${m.f1.toFixed(3)} AUC ${m.aucRoc.toFixed(3)} R@20%E ${m.recallAt20Effort.toFixed(3)} E@20%R ${m.effortAt20Recall.toFixed(3)} Popt ${m.popt.toFixed(3)}`;
  try {
    for (const r of repos) {
      const d = r.data;
      const base = {
        repo: r.name,
        train: d.train.length,
        validation: d.validation.length,
        test: d.test.length,
        testBuggy: d.test.filter((c) => c.label).length,
      };
      let t0 = performance.now();
      if (!args.includes('--no-cc2vec')) {
        const cm = await trainCc2Vec(d.train, d.validation, { epochs: cc2vecEpochs });
        const cmm = await (await Cc2VecRisk.create(cm)).evaluate(d.test);
        rows.push({
          ...base,
          model: `CC2Vec-style (this repo, ${cc2vecEpochs} epochs)`,
          seconds: cm.seconds,
          steps: cm.steps,
          validationAuc: cm.validationAuc,
          metrics: cmm,
        });
        process.stderr.write(`${r.name} cc2vec: ${fmt(cmm)} (${cm.seconds.toFixed(0)} s, ${cm.steps} steps)\n`);
        if (args.includes('--only-cc2vec')) continue;
      }
      t0 = performance.now();
      const baseline = trainBaseline(d.train, d.validation);
      const bm = evaluateBaseline(baseline, d.test);
      rows.push({
        ...base,
        model: 'baseline (this repo: tokens + expert features, logistic)',
        seconds: (performance.now() - t0) / 1000,
        metrics: bm,
      });
      process.stderr.write(`${r.name} baseline: ${fmt(bm)}\n`);
      t0 = performance.now();
      const others = repos.filter((o) => o !== r);
      const dm = trainBaseline(
        others.flatMap((o) => o.data.train),
        others.flatMap((o) => o.data.validation),
        { maxVocab: 0 },
      );
      const dmm = evaluateBaseline(dm, d.test);
      rows.push({
        ...base,
        model: `expert-feature default (trained on the other ${others.length} repos)`,
        seconds: (performance.now() - t0) / 1000,
        metrics: dmm,
      });
      process.stderr.write(`${r.name} default: ${fmt(dmm)}\n`);
      if (args.includes('--no-neural')) continue;
      const nm = await trainNeural(d.train, d.validation, { encoder: encoderDir, method: 'lora', epochs, maxLength, batch: 16 });
      const risk = await NeuralRisk.create(nm);
      const nmm = await risk.evaluate(d.test);
      rows.push({
        ...base,
        model: `neural (JIT-Fine head + LoRA r8 on a tiny random RoBERTa, ${epochs} epochs, ${maxLength} tokens)`,
        seconds: nm.seconds,
        steps: nm.steps,
        validationAuc: nm.validationAuc,
        metrics: nmm,
      });
      process.stderr.write(`${r.name} neural: ${fmt(nmm)} (${nm.seconds.toFixed(0)} s, ${nm.steps} steps)\n`);
    }
  } finally {
    rmSync(encoderDir, { recursive: true, force: true });
  }
  const table = ['| repository | commits (test, buggy) | model | F1 | AUC | R@20%E | E@20%R | Popt |', '|---|---|---|---|---|---|---|---|'];
  for (const x of rows) {
    const m = x.metrics as JitdpMetrics;
    table.push(
      `| ${x.repo} | ${Number(x.train) + Number(x.validation) + Number(x.test)} (${x.test}, ${x.testBuggy}) | ${x.model} | ${m.f1.toFixed(3)} | ${m.aucRoc.toFixed(3)} | ${m.recallAt20Effort.toFixed(3)} | ${m.effortAt20Recall.toFixed(3)} | ${m.popt.toFixed(3)} |`,
    );
  }
  process.stderr.write(table.join('\n') + '\n');
  return { bench: 'jitdp-eval', rows };
}
