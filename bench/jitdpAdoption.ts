import { FEATURE_NAMES } from '../src/git/expertFeatures.js';
import { blamedLines } from '../src/git/szz.js';
import { commitDiff } from '../src/git/history.js';
import { codeFiles } from '../src/git/codeFiles.js';
import { scoreLines } from '../src/tasks/jitdp/lineModel.js';
import { evaluateBaseline, scoreBaseline, trainBaseline } from '../src/tasks/jitdp/baseline.js';
import { loadRiskModel, riskAdoption, scoreRiskModel, scoredSplit } from '../src/tasks/jitdp/risk.js';
import { lineMetrics, type LineMetrics, type ScoredLine } from '../src/eval/lineMetrics.js';
import { cachedDataset, repoName } from './jitdpData.js';

const DAY = 86_400_000;

/**
 * `npm run bench -- jitdp-adoption REPO... [--cache DIR] [--no-lines]`: what a user of each history gets.
 * For each: the embedded default on the history's test split (its newest 10% of code commits; clean commits
 * younger than 90 days before the newest commit are left out, as their bugs may not be found yet), and what
 * `changeling risk-train` would do there (the JITLine-style model trained on the oldest 80%, the adoption
 * decision on the next 10% against the embedded default, both models' test AUC, and whether a model more
 * than 0.02 AUC worse than the default on test would end up in use). With lines, the default's line model
 * on the test split's buggy commits, the labels being the lines SZZ blames (`label --lines`).
 */
export async function jitdpAdoptionBench(args: string[]): Promise<Record<string, unknown>> {
  const cache = args.includes('--cache') ? args[args.indexOf('--cache') + 1]! : null;
  const paths = args.filter((a) => !a.startsWith('--') && a !== cache);
  if (paths.length < 1) throw new Error('usage: npm run bench -- jitdp-adoption REPO... [--cache DIR] [--no-lines]');
  const def = await loadRiskModel(null);
  const rows: Array<Record<string, unknown>> = [];
  for (const p of paths) {
    const t0 = performance.now();
    let got: Awaited<ReturnType<typeof cachedDataset>>;
    try {
      got = await cachedDataset(p, cache);
    } catch (err) {
      // A mirror with objects missing (large blobs left out) cannot be mined: said, and the others go on.
      process.stderr.write(`${p}: skipped: ${(err as Error).message.split('\n')[0]}\n`);
      rows.push({ repo: p, error: (err as Error).message.split('\n')[0] });
      continue;
    }
    const { repo, data } = got;
    const name = repoName(repo);
    const newest = Math.max(...data.szz.commits.map((c) => c.time));
    const test = data.test.filter((c) => c.label === 1 || newest - c.time >= 90 * DAY);
    const defTest = (await scoreRiskModel(def, test)).metrics;
    const trainBuggy = data.train.filter((c) => c.label === 1).length;
    let repoModel: Record<string, unknown> = {
      trained: false,
      reason: `too thin (${data.train.length} training commits, ${trainBuggy} buggy)`,
    };
    if (data.train.length >= 200 && trainBuggy >= 20) {
      const m = trainBaseline(data.train, data.validation);
      const candidate = scoredSplit(
        data.validation,
        data.validation.map((c) => scoreBaseline(m, c)),
        m.threshold,
      );
      const verdict = riskAdoption('auto', data.validation, candidate, await scoreRiskModel(def, data.validation), def);
      const own = evaluateBaseline(m, test);
      repoModel = {
        trained: true,
        adopted: verdict.adopted,
        reason: verdict.reason,
        interval: verdict.interval ?? null,
        testAuc: own.aucRoc,
        validationBuggy: data.validation.filter((c) => c.label === 1).length,
        worseInUse: verdict.adopted && own.aucRoc < defTest.aucRoc - 0.02,
      };
    }
    let lines: LineMetrics | null = null;
    let randomTop: number | null = null;
    if (!args.includes('--no-lines') && def.lines) {
      const buggy = new Set(test.filter((c) => c.label === 1).map((c) => c.sha));
      const asked = { ...data.szz, fixes: data.szz.fixes.filter((f) => f.blamed.some((s) => buggy.has(s))) };
      const blamed = await blamedLines(repo, asked);
      const scored: ScoredLine[] = [];
      for (const sha of buggy) {
        const scoredLines = scoreLines(def.lines, codeFiles((await commitDiff(repo, sha)).files));
        scoredLines.lines.forEach((l, i) => {
          const score = scoredLines.scores[i];
          if (score !== null && score !== undefined)
            scored.push({ commit: sha, path: l.path, line: l.line, score, label: blamed.get(sha)?.get(l.path)?.has(l.line) ? 1 : 0 });
        });
      }
      lines = scored.some((l) => l.label === 1) ? lineMetrics(scored) : null;
      // What ranking at random would give: the expected Top-k accuracy is each commit's share of defective lines.
      const share = [...buggy].flatMap((sha) => {
        const own = scored.filter((l) => l.commit === sha);
        const pos = own.filter((l) => l.label === 1).length;
        return pos ? [pos / own.length] : [];
      });
      randomTop = share.length ? share.reduce((a, b) => a + b, 0) / share.length : null;
    }
    const row = {
      repo: name,
      head: repo.head,
      testCommits: test.length,
      testBuggy: test.filter((c) => c.label === 1).length,
      leftOutYoung: data.test.length - test.length,
      default: { auc: defTest.aucRoc, f1: defTest.f1, recallAt20Effort: defTest.recallAt20Effort, popt: defTest.popt },
      repoModel,
      lines,
      randomTop,
      seconds: Math.round((performance.now() - t0) / 1000),
    };
    rows.push(row);
    process.stderr.write(
      `${name}: default AUC ${defTest.aucRoc.toFixed(3)} F1 ${defTest.f1.toFixed(3)} on ${test.length} (${row.testBuggy} buggy); ` +
        (repoModel.trained
          ? `repository model AUC ${(repoModel.testAuc as number).toFixed(3)}, ${repoModel.adopted ? 'adopted' : 'not adopted'}`
          : `no repository model: ${repoModel.reason}`) +
        (lines
          ? `; lines Top-10 ${lines.top10.toFixed(3)} (at random ${randomTop!.toFixed(3)}) IFA ${lines.ifa.toFixed(1)} over ${lines.buggyCommits} commits`
          : '') +
        ` (${row.seconds} s)\n`,
    );
  }
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? (s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : NaN;
  };
  return {
    bench: 'jitdp-adoption',
    features: FEATURE_NAMES.length,
    histories: rows,
    worseInUse: rows.filter((r) => (r.repoModel as { worseInUse?: boolean } | undefined)?.worseInUse).map((r) => r.repo),
    medianDefaultAuc: median(rows.flatMap((r) => (r.default ? [(r.default as { auc: number }).auc] : []))),
    medianTop10: median(rows.flatMap((r) => (r.lines ? [(r.lines as LineMetrics).top10] : []))),
    medianRandomTop: median(rows.flatMap((r) => (typeof r.randomTop === 'number' ? [r.randomTop] : []))),
  };
}
