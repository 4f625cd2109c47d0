import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRepository } from '../src/git/repository.js';
import { cmgMetrics, type CmgMetrics } from '../src/eval/cmgMetrics.js';
import { MessageModel } from '../src/tasks/cmg/generate.js';
import { NngenIndex, diffWords } from '../src/tasks/cmg/nngen.js';
import { applyStyle, learnStyle } from '../src/tasks/cmg/style.js';
import { trainAdapter } from '../src/peft/trainAdapter.js';
import { subjectHistory } from '../src/tasks/cmg/dataset.js';
import { writeTinyT5 } from '../test/helpers/tinyModels.js';
import { repoName } from './jitdpData.js';

/**
 * Commit-message generation on real histories: per repository, the newest 10% of (non-merge) commits are
 * the test set and the older 90% the history; the reference is each test commit's subject line. Rows:
 * NNGen (its nearest neighbour's subject), NNGen with the repository's style applied, and the neural path
 * with a tiny random T5 (CodeT5's tokenizer; no pretrained weights can be downloaded here). With
 * `--train REPO_NAME`, that repository also gets a tiny T5 trained by `changeling train` (full training of
 * the tiny model: LoRA on a random frozen model would learn nothing) on its older commits.
 */
export async function cmgEvalBench(args: string[]): Promise<Record<string, unknown>> {
  const flag = (n: string) => (args.includes(n) ? args[args.indexOf(n) + 1]! : null);
  const max = Number(flag('--max') ?? 6000);
  const trainRepo = flag('--train');
  const epochs = Number(flag('--epochs') ?? 8);
  const skip = new Set([flag('--max'), trainRepo, flag('--epochs')]);
  const paths = args.filter((a) => !a.startsWith('--') && !skip.has(a));
  if (paths.length === 0)
    throw new Error('usage: npm run bench -- cmg-eval REPO... [--max N] [--train REPO_NAME [--epochs N]] [--nngen-only]');
  const work = mkdtempSync(join(tmpdir(), 'changeling-cmg-eval-'));
  const tiny = writeTinyT5(join(work, 'tiny-t5'));
  const random = await MessageModel.create(tiny, { maxInput: 256 });
  const rows: Array<Record<string, unknown>> = [];
  const fmt = (m: CmgMetrics) =>
    `B-Norm ${m.bnormBleu.toFixed(2)} ROUGE-L ${m.rougeL.toFixed(2)} METEOR ${m.meteor.toFixed(2)} EditSim ${m.editSim.toFixed(2)} ChrF ${m.chrF.toFixed(2)}`;
  try {
    for (const p of paths) {
      const repo = await openRepository(p);
      const name = repoName(repo);
      const commits = await subjectHistory(repo, max);
      const cut = Math.floor(commits.length * 0.9);
      const history = commits.slice(0, cut);
      const test = commits.slice(cut);
      const gold = test.map((c) => c.subject);
      const index = new NngenIndex();
      for (const c of history) index.add(c.sha, c.subject, diffWords(c.files));
      const newest = [...history].reverse();
      const style = learnStyle(
        newest.map((c) => c.subject),
        newest.map((c) => c.files.map((f) => f.path)),
      );
      let t0 = performance.now();
      const nn = test.map((c) => index.query(diffWords(c.files), { k: 5 })[0]?.message ?? '');
      const nnSeconds = (performance.now() - t0) / 1000;
      const styled = nn.map((m, i) => (m ? applyStyle(m, style, { paths: test[i]!.files.map((f) => f.path) }) : m));
      const base = { repo: name, history: history.length, test: test.length };
      const add = (model: string, pred: string[], seconds: number) => {
        const metrics = cmgMetrics(pred, gold);
        rows.push({ ...base, model, seconds, metrics });
        process.stderr.write(`${name} ${model}: ${fmt(metrics)} (${seconds.toFixed(1)} s)\n`);
      };
      add('NNGen', nn, nnSeconds);
      add("NNGen + the repository's style", styled, nnSeconds);
      if (args.includes('--nngen-only')) continue;
      const generate = async (m: MessageModel) => {
        const out: string[] = [];
        for (const c of test) out.push((await m.generate(m.prepare(c.files), { beams: 5, n: 1, maxNewTokens: 24 }))[0]?.message ?? '');
        return out;
      };
      t0 = performance.now();
      add('tiny random T5 (CodeT5 tokenizer), beam 5', await generate(random), (performance.now() - t0) / 1000);
      if (trainRepo === name) {
        const data = join(work, `${name}.jsonl`);
        writeFileSync(
          data,
          history.map((c) => JSON.stringify({ text: random.prepare(c.files).text, target: c.subject })).join('\n') + '\n',
        );
        const out = join(work, `${name}-trained`);
        const r = await trainAdapter({
          model: tiny,
          method: 'fmft',
          data,
          out,
          epochs,
          batch: 16,
          lr: 1e-3,
          maxSourceLength: 256,
          maxTargetLength: 32,
          schedule: 'linear',
        });
        process.stderr.write(
          `${name}: trained the tiny T5 on ${history.length} commits, ${r.steps.length} steps, ${r.seconds.toFixed(0)} s, last loss ${r.steps.at(-1)?.loss.toFixed(3)}\n`,
        );
        const trained = await MessageModel.create(out, { maxInput: 256 });
        t0 = performance.now();
        add(
          `tiny T5 trained on this repository's history by changeling train (${epochs} epochs, ${r.seconds.toFixed(0)} s)`,
          await generate(trained),
          (performance.now() - t0) / 1000,
        );
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const table = [
    '| repository | commits (history, test) | messages from | B-Norm BLEU | ROUGE-L | METEOR | EditSim | ChrF |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const x of rows) {
    const m = x.metrics as CmgMetrics;
    table.push(
      `| ${x.repo} | ${x.history}, ${x.test} | ${x.model} | ${m.bnormBleu.toFixed(2)} | ${m.rougeL.toFixed(2)} | ${m.meteor.toFixed(2)} | ${m.editSim.toFixed(2)} | ${m.chrF.toFixed(2)} |`,
    );
  }
  process.stderr.write(table.join('\n') + '\n');
  return { bench: 'cmg-eval', rows };
}
