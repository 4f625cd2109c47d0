import { writeFile } from 'node:fs/promises';
import { evaluateBaseline, trainBaseline } from '../src/tasks/jitdp/baseline.js';
import { linearModelJson } from '../src/tasks/jitdp/modelFile.js';
import { cachedDataset, repoName } from './jitdpData.js';

/**
 * Trains the embedded default risk model (expert features only, logistic, calibrated) on the SZZ-labelled
 * histories of the given repositories: every repository's training split trains it, every validation split
 * calibrates it. Before that, each repository is held out once (trained on the others, tested on its test
 * split) to measure how the default does on a repository it has never seen. Writes the model JSON to --out.
 */
export async function jitdpDefaultBench(args: string[]): Promise<Record<string, unknown>> {
  const flag = (n: string) => (args.includes(n) ? args[args.indexOf(n) + 1]! : null);
  const cache = flag('--cache');
  const out = flag('--out');
  const paths = args.filter((a) => !a.startsWith('--') && a !== cache && a !== out);
  if (paths.length < 2 || !out)
    throw new Error('usage: npm run bench -- jitdp-default REPO REPO... --out models/jitdp-default.json [--cache DIR]');
  const repos: Array<{ name: string; head: string | null; data: import('../src/tasks/jitdp/dataset.js').JitdpDataset }> = [];
  for (const p of paths) {
    const { repo, data } = await cachedDataset(p, cache);
    repos.push({ name: repoName(repo), head: repo.head, data });
  }
  const heldOut = repos.map((r) => {
    const others = repos.filter((o) => o !== r);
    const m = trainBaseline(
      others.flatMap((o) => o.data.train),
      others.flatMap((o) => o.data.validation),
      { maxVocab: 0 },
    );
    const metrics = evaluateBaseline(m, r.data.test);
    process.stderr.write(
      `held out ${r.name}: F1 ${metrics.f1.toFixed(3)} AUC ${metrics.aucRoc.toFixed(3)} Popt ${metrics.popt.toFixed(3)}\n`,
    );
    return { repo: r.name, testCommits: metrics.n, testBuggy: metrics.positives, metrics };
  });
  const model = trainBaseline(
    repos.flatMap((r) => r.data.train),
    repos.flatMap((r) => r.data.validation),
    { maxVocab: 0 },
  );
  const info = {
    name: 'changeling expert-feature default',
    trainedOn: repos.map((r) => ({
      repo: r.name,
      head: r.head,
      commits: r.data.train.length + r.data.validation.length + r.data.test.length,
      trainBuggy: r.data.train.filter((c) => c.label).length,
    })),
    labels:
      'SZZ (changeling label): fixes by message, git blame -w of their removed lines, fixes blaming more than 10 commits dropped; time-ordered 80/10/10 splits per repository, labels of each split from fixes before its end',
    heldOut,
    card: 'models/jitdp-default.md',
  };
  await writeFile(out, linearModelJson(model, info));
  return { bench: 'jitdp-default', out, threshold: model.threshold, heldOut };
}
