import { readFile } from 'node:fs/promises';
import type { Repository } from '../src/git/repository.js';
import type { JitdpDataset } from '../src/tasks/jitdp/dataset.js';
import { blamedLines } from '../src/git/szz.js';
import { commitDiff } from '../src/git/history.js';
import { codeFiles } from '../src/git/codeFiles.js';
import type { SparseRow } from '../src/tasks/jitdp/logistic.js';
import { lineInputs } from '../src/tasks/jitdp/lineModel.js';
import { writeFileAtomic } from '../src/util/atomicFile.js';
import { cachedDataset, repoName } from './jitdpData.js';

/**
 * `npm run bench -- jitdp-line-model REPO... --out models/jitdp-default.json [--cache DIR]`: the embedded
 * default's line model (`src/tasks/jitdp/lineModel.ts`), trained on the lines SZZ blames (`label --lines`):
 * the added lines of the training splits' buggy commits, label 1 when a fix made before the split's end
 * blames the line; a class-weighted logistic regression over the line's inputs as `lineInputs` computes them
 * when scoring. Only tokens that occur in at least 3 of the histories and 20 lines are kept (words of the
 * languages and of programming in general, not one project's names), never numbers, at most 5,000; the line's context
 * features always. The commit-level model in the file is left as it is; the line model goes into its
 * `lines` section. (Trained JITLine's way instead, from the commit's bag of tokens against the commit's
 * label, it ranked lines worse: models/jitdp-default.md says by how much.)
 */
export async function jitdpLineModelBench(args: string[]): Promise<Record<string, unknown>> {
  const flag = (n: string) => (args.includes(n) ? args[args.indexOf(n) + 1]! : null);
  const cache = flag('--cache');
  const out = flag('--out');
  const l2 = Number(flag('--l2') ?? 1e-4);
  const epochs = Number(flag('--epochs') ?? 30);
  const paths = args.filter((a) => !a.startsWith('--') && ![cache, out, flag('--l2'), flag('--epochs')].includes(a));
  if (paths.length < 3 || !out)
    throw new Error('usage: npm run bench -- jitdp-line-model REPO REPO REPO... --out models/jitdp-default.json [--cache DIR] [--l2 X]');
  const repos: Array<{ name: string; head: string | null; lines: TrainLine[][] }> = [];
  for (const p of paths) {
    const t0 = performance.now();
    const { repo, data } = await cachedDataset(p, cache);
    const lines = await trainingLines(repo, data);
    repos.push({ name: repoName(repo), head: repo.head, lines });
    process.stderr.write(
      `${repoName(repo)}: ${lines.length} buggy training commits with blamed lines (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`,
    );
  }
  const seenIn = new Map<string, number>();
  const lineCount = new Map<string, number>();
  for (const r of repos) {
    const here = new Set<string>();
    for (const c of r.lines)
      for (const l of c)
        for (const t of l.x.keys()) {
          here.add(t);
          lineCount.set(t, (lineCount.get(t) ?? 0) + 1);
        }
    for (const t of here) seenIn.set(t, (seenIn.get(t) ?? 0) + 1);
  }
  const context = [...lineCount.keys()].filter((t) => t.startsWith('@')).sort();
  const kept = [
    ...context,
    ...[...lineCount]
      // Numbers are one project's constants, not a sign of risk anywhere else.
      .filter(([t, n]) => !t.startsWith('@') && !/^[+-]\d/.test(t) && (seenIn.get(t) ?? 0) >= 3 && n >= 20)
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, 5000)
      .map(([t]) => t),
  ];
  const index = new Map(kept.map((t, j) => [t, j]));
  const sparse = (l: TrainLine): SparseRow => {
    const idx: number[] = [];
    const val: number[] = [];
    for (const [t, v] of l.x) {
      const j = index.get(t);
      if (j !== undefined) {
        idx.push(j);
        val.push(v);
      }
    }
    return { idx: Int32Array.from(idx), val: Float64Array.from(val) };
  };
  const commits = repos.flatMap((r) => r.lines).map((c) => ({ rows: c.map(sparse), labels: c.map((l) => l.label) }));
  const all = repos.flatMap((r) => r.lines.flat());
  const m = fitRanking(commits, kept.length, { epochs, l2 });
  const weights = Object.fromEntries(kept.map((t, j) => [t, m.weights[j]!]));
  const top = Object.entries(weights)
    .filter(([t]) => !t.startsWith('@'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, 15)
    .map(([t, w]) => `${t} ${w.toFixed(2)}`);
  const ctx = context.map((t) => `${t} ${weights[t]!.toFixed(2)}`);
  const positives = all.filter((l) => l.label === 1).length;
  process.stderr.write(
    `${all.length} lines (${positives} blamed) of ${repos.reduce((s, r) => s + r.lines.length, 0)} buggy commits; ${kept.length} inputs\n` +
      `context: ${ctx.join(', ')}\nthe riskiest tokens: ${top.join(', ')}\n`,
  );
  const file = JSON.parse(await readFile(out, 'utf8')) as Record<string, unknown>;
  file.lines = {
    bias: m.bias,
    weights,
    info: {
      name: 'changeling line model',
      trainedOn: repos.map((r) => ({
        repo: r.name,
        head: r.head,
        buggyCommits: r.lines.length,
        lines: r.lines.reduce((s, c) => s + c.length, 0),
      })),
      how: `a softmax over each buggy commit's lines (${epochs} epochs of AdaGrad, L2 ${l2}; the bias set to the base rate) over the inputs of src/tasks/jitdp/lineModel.ts for the added lines of the training splits' buggy commits, label 1 when a fix made before the split's end blames the line (SZZ, git blame -w); tokens seen in at least 3 histories and 20 lines, at most 5000`,
    },
  };
  await writeFileAtomic(out, JSON.stringify(file, null, 1) + '\n');
  return { bench: 'jitdp-line-model', out, lines: all.length, blamedLines: positives, inputs: kept.length, context: ctx, riskiest: top };
}

/** One added line of a buggy commit: its inputs and its label. */
interface TrainLine {
  x: Map<string, number>;
  label: 0 | 1;
}

/** The added lines of the training split's buggy commits, labelled by the fixes made before the split's end. */
async function trainingLines(repo: Repository, data: JitdpDataset): Promise<TrainLine[][]> {
  const buggy = new Set(data.train.filter((c) => c.label === 1).map((c) => c.sha));
  const end = Math.max(...data.train.map((c) => c.time));
  const blamed = await blamedLines(repo, {
    ...data.szz,
    fixes: data.szz.fixes.filter((f) => f.time <= end && f.blamed.some((s) => buggy.has(s))),
  });
  const out: TrainLine[][] = [];
  for (const sha of buggy) {
    const { lines, inputs } = lineInputs(codeFiles((await commitDiff(repo, sha)).files));
    const rows: TrainLine[] = [];
    lines.forEach((l, i) => {
      const x = inputs[i];
      if (x) rows.push({ x, label: blamed.get(sha)?.get(l.path)?.has(l.line) ? 1 : 0 });
    });
    if (rows.some((l) => l.label === 1)) out.push(rows);
  }
  return out;
}

/**
 * Weights that rank each buggy commit's lines: the listwise loss of a softmax over the commit's lines against
 * the uniform distribution over its blamed lines (what Top-k and IFA reward, not telling commits apart),
 * AdaGrad over the commits in a fixed shuffled order, L2 on the weights. The bias is then set so that the
 * mean score is the training lines' share of blamed ones.
 */
function fitRanking(
  commits: Array<{ rows: SparseRow[]; labels: Array<0 | 1> }>,
  dim: number,
  o: { epochs: number; l2: number },
): { weights: Float64Array; bias: number } {
  const w = new Float64Array(dim);
  const g2 = new Float64Array(dim).fill(1e-8);
  const order = commits.map((_, i) => i);
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const zOf = (x: SparseRow) => {
    let z = 0;
    for (let k = 0; k < x.idx.length; k++) z += w[x.idx[k]!]! * x.val[k]!;
    return z;
  };
  for (let e = 0; e < o.epochs; e++) {
    let loss = 0;
    for (const ci of order) {
      const c = commits[ci]!;
      const z = c.rows.map(zOf);
      const max = Math.max(...z);
      const ex = z.map((v) => Math.exp(v - max));
      const sum = ex.reduce((a, b) => a + b, 0);
      const pos = c.labels.reduce<number>((a, b) => a + b, 0);
      const grad = new Map<number, number>();
      c.rows.forEach((x, i) => {
        const d = ex[i]! / sum - (c.labels[i]! ? 1 / pos : 0);
        if (c.labels[i]) loss -= Math.log(ex[i]! / sum) / pos;
        for (let k = 0; k < x.idx.length; k++) grad.set(x.idx[k]!, (grad.get(x.idx[k]!) ?? 0) + d * x.val[k]!);
      });
      for (const [j, g0] of grad) {
        const g = g0 + o.l2 * w[j]!;
        g2[j]! += g * g;
        w[j]! -= (0.1 * g) / Math.sqrt(g2[j]!);
      }
    }
    process.stderr.write(`epoch ${e + 1}: ranking loss ${(loss / commits.length).toFixed(4)}\n`);
  }
  const zs = commits.flatMap((c) => c.rows.map(zOf));
  const rate = commits.reduce((s, c) => s + c.labels.reduce<number>((a, b) => a + b, 0), 0) / Math.max(1, zs.length);
  const meanZ = zs.reduce((a, b) => a + b, 0) / Math.max(1, zs.length);
  return { weights: w, bias: Math.log(rate / (1 - rate)) - meanZ };
}
