import { cachedDataset } from './jitdpData.js';
import { evaluateBaseline, trainBaseline } from '../src/tasks/jitdp/baseline.js';

/** The JITLine-style baseline on a real history: SZZ labels, time-ordered splits, test-split metrics. */
export async function jitdpBench(args: string[]): Promise<Record<string, unknown>> {
  const path = args.find((a) => !a.startsWith('--'));
  if (!path) throw new Error('usage: npm run bench -- jitdp REPO_PATH [--cache DIR] [--json]');
  const cache = args.includes('--cache') ? args[args.indexOf('--cache') + 1]! : null;
  const { repo, data, seconds } = await cachedDataset(path, cache);
  const t1 = performance.now();
  const t0 = t1 - seconds * 1000;
  const model = trainBaseline(data.train, data.validation);
  const t2 = performance.now();
  const metrics = evaluateBaseline(model, data.test);
  const result = {
    bench: 'jitdp',
    repo: repo.root,
    head: repo.head,
    commits: { train: data.train.length, validation: data.validation.length, test: data.test.length },
    buggy: {
      train: data.train.filter((c) => c.label).length,
      validation: data.validation.filter((c) => c.label).length,
      test: data.test.filter((c) => c.label).length,
    },
    fixes: data.szz.fixes.length,
    droppedFixes: data.szz.droppedFixes.length,
    vocabulary: model.vocab.size,
    threshold: model.threshold,
    seconds: { dataset: (t1 - t0) / 1000, train: (t2 - t1) / 1000 },
    metrics,
  };
  process.stderr.write(
    `${repo.root}: test F1 ${metrics.f1.toFixed(3)}, AUC ${metrics.aucRoc.toFixed(3)}, Recall@20%Effort ${metrics.recallAt20Effort.toFixed(3)}, Effort@20%Recall ${metrics.effortAt20Recall.toFixed(3)}, Popt ${metrics.popt.toFixed(3)} (dataset ${result.seconds.dataset.toFixed(0)} s, training ${result.seconds.train.toFixed(1)} s)\n`,
  );
  return result;
}
