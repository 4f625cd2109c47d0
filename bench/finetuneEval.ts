import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { openRepository } from '../src/git/repository.js';
import type { CmgMetrics } from '../src/eval/cmgMetrics.js';
import type { JitdpMetrics } from '../src/eval/jitdpMetrics.js';
import { finetuneCmg } from '../src/tasks/finetune/cmg.js';
import { finetuneJitdp } from '../src/tasks/finetune/jitdp.js';
import type { FinetuneResult } from '../src/tasks/finetune/types.js';
import { writeTinyRoberta, writeTinyT5 } from '../test/helpers/tinyModels.js';

/**
 * `changeling finetune` on real histories, wall time included: per repository (a shared bare clone, so the
 * mirror is not written to), commit messages (full fine-tuning of a tiny T5 with CodeT5's tokenizer: LoRA
 * on a random frozen model has nothing to adapt) and risk (LoRA on a tiny random RoBERTa with CodeBERT's
 * tokenizer), each with the pipeline's own defaults (epochs scaled to the data, up to `--eval-cap`
 * validation and test commits generated for).
 */
export async function finetuneEvalBench(args: string[]): Promise<Record<string, unknown>> {
  const flag = (n: string) => (args.includes(n) ? args[args.indexOf(n) + 1]! : null);
  const evalCap = Number(flag('--eval-cap') ?? 100);
  const paths = args.filter((a) => !a.startsWith('--') && a !== flag('--eval-cap'));
  if (paths.length === 0) throw new Error('usage: npm run bench -- finetune-eval REPO... [--eval-cap N]');
  const work = mkdtempSync(join(tmpdir(), 'changeling-finetune-eval-'));
  const t5 = writeTinyT5(join(work, 'tiny-t5'));
  const roberta = writeTinyRoberta(join(work, 'tiny-roberta'));
  const rows: Array<Record<string, unknown>> = [];
  try {
    for (const p of paths) {
      const name = basename(p) === 'repo' ? basename(dirname(p)) : basename(p);
      const clone = join(work, name);
      execFileSync('git', ['clone', '-q', '--bare', '--shared', p, clone]);
      const repo = await openRepository(clone);
      for (const task of ['cmg', 'jitdp'] as const) {
        const t0 = performance.now();
        const r: FinetuneResult =
          task === 'cmg'
            ? await finetuneCmg(repo, {
                task,
                method: 'fmft',
                model: t5,
                evalCap,
                lr: 1e-3,
                onEvent: (e) => e.kind === 'stage' && process.stderr.write(`${name} ${task}: ${e.message}\n`),
              })
            : await finetuneJitdp(repo, {
                task,
                method: 'lora',
                model: roberta,
                lr: 1e-3,
                maxLength: 256,
                onEvent: (e) => e.kind === 'stage' && process.stderr.write(`${name} ${task}: ${e.message}\n`),
              });
        const wall = (performance.now() - t0) / 1000;
        rows.push({
          repo: name,
          task,
          method: r.method,
          commits: r.commits,
          steps: r.steps,
          trainSeconds: r.trainSeconds,
          wallSeconds: wall,
          adopted: r.adopted,
          test: r.test,
          validation: r.validation,
        });
        const fmt = (m: CmgMetrics | JitdpMetrics) =>
          'bnormBleu' in m ? `B-Norm ${m.bnormBleu.toFixed(2)}` : `AUC ${m.aucRoc.toFixed(3)} F1 ${m.f1.toFixed(3)}`;
        process.stderr.write(
          `${name} ${task}: wall ${wall.toFixed(0)} s (training ${r.trainSeconds.toFixed(0)} s, ${r.steps} steps); test ${Object.entries(
            r.test,
          )
            .map(([k, v]) => `${k} ${fmt(v)}`)
            .join(', ')}; adopted ${r.adopted}\n`,
        );
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { bench: 'finetune-eval', rows };
}
