import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { openRepository } from '../git/repository.js';
import { exportDatasets } from '../tasks/team/export.js';
import { adoptCmgAdapter, adoptJitdpModel } from '../tasks/team/adopt.js';
import { ChangelingError } from '../util/errors.js';
import { folderTarget } from '../util/outputTarget.js';
import { StderrProgress, interruptSignal, parseCount, printJson, terminalSafe, writeOut } from './io.js';

/** `changeling export`: its options, its help text (EXPORT_HELP) and what it prints. */

export const EXPORT_HELP = `changeling export --task cmg|jitdp [--model DIR] [--repo P]... --out DIR [--format jsonl|parquet] [--max N] [--json]

  Writes the time-ordered splits (oldest 80% train, next 10% validation, newest 10% test) of one or more
  repositories as train.jsonl, validation.jsonl and test.jsonl with a dataset card (README.md), a folder
  Hugging Face datasets loads as it is, for training on a cluster (recipes/train_lora.py).
  --task cmg     commit messages: token ids in --model's own input format, exactly as "changeling finetune"
                 trains (input_ids, labels, and decoder_input_ids for with-history models); with a code LLM
                 (Qwen2.5-Coder, Llama) the chat rows finetune tunes it on: messages, and their input_ids and labels
  --task jitdp   risk: SZZ labels per split, the 14 expert features, the changed lines' text; with
                 --model ENCODER (CodeBERT...) also the neural model's input ids and the scaled features
                 (scaling.json), for recipes/train_jitfine.py
  --repo P       a repository (repeatable; default the current folder)
  --format F     jsonl (default) or parquet (train/validation/test.parquet; datasets loads either)
  --max N        at most the newest N commits of each repository (cmg)`;

export async function exportCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      task: { type: 'string' },
      model: { type: 'string' },
      repo: { type: 'string', multiple: true },
      out: { type: 'string' },
      format: { type: 'string', default: 'jsonl' },
      max: { type: 'string' },
      json: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
    },
  });
  if (values.task !== 'cmg' && values.task !== 'jitdp') throw new ChangelingError('usage', '--task must be cmg or jitdp');
  if (values.format !== 'jsonl' && values.format !== 'parquet') throw new ChangelingError('usage', '--format must be jsonl or parquet');
  if (!values.out) throw new ChangelingError('usage', '--out DIR is needed: the folder the dataset is written to');
  folderTarget(values.out, '--out');
  const maxCommits = parseCount('max', values.max, undefined, 1);
  const repos = await Promise.all((values.repo?.length ? values.repo : [process.cwd()]).map((p) => openRepository(p)));
  const seen = new Set<string>();
  for (const r of repos) {
    if (seen.has(r.gitDir)) throw new ChangelingError('usage', `the repository ${terminalSafe(r.root)} is given twice (--repo)`);
    seen.add(r.gitDir);
  }
  const progress = new StderrProgress(values.quiet);
  const r = await exportDatasets(repos, {
    task: values.task,
    model: values.model ? resolve(values.model) : undefined,
    out: resolve(values.out),
    format: values.format,
    maxCommits,
    signal: interruptSignal(),
    onProgress: (m) => progress.update(m),
  });
  progress.done();
  if (values.json) await printJson(r);
  else await writeOut(`${r.out}: ${r.repositories.map((x) => `${x.repo} (${x.train}/${x.validation}/${x.test})`).join(', ')}\n`);
  return 0;
}

export const ADOPT_HELP = `changeling adopt --task cmg|jitdp --adapter DIR [--model DIR] [--repo P] [--force] [--eval-cap N] [--json]

  Checks a model trained elsewhere (e.g. by the recipes/ scripts on a cluster) on the repository's
  validation split and adopts it only when better, or with --force:
  --task cmg     a PEFT adapter (recipes/train_lora.py): B-Norm of its messages against the untuned model's,
                 as "changeling finetune" checks its own (a code LLM's: of the subjects it writes in ✨'s
                 prompt); "changeling suggest" and the extension use it
  --task jitdp   a JIT-Fine-style risk model folder (recipes/train_jitfine.py, or risk-train --out):
                 calibrated on the validation split, then its AUC against the model in use there;
                 "changeling risk", the status bar and the pre-push hook use it
  --model DIR    the base model or encoder (default: the one the adapter names, when it is a folder here)`;

export async function adoptCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      task: { type: 'string' },
      adapter: { type: 'string' },
      model: { type: 'string' },
      repo: { type: 'string' },
      force: { type: 'boolean', default: false },
      'eval-cap': { type: 'string' },
      json: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
    },
  });
  if (values.task !== 'cmg' && values.task !== 'jitdp') throw new ChangelingError('usage', '--task cmg or --task jitdp is needed');
  if (!values.adapter)
    throw new ChangelingError(
      'usage',
      `--adapter DIR is needed (${values.task === 'cmg' ? 'a PEFT adapter folder' : 'a JIT-DP model folder with jitdp.json'})`,
    );
  const repo = await openRepository(values.repo ?? process.cwd());
  const progress = new StderrProgress(values.quiet);
  const o = {
    adapter: resolve(values.adapter),
    model: values.model ? resolve(values.model) : undefined,
    force: values.force,
    evalCap: parseCount('eval-cap', values['eval-cap'], undefined, 1),
    signal: interruptSignal(),
    onProgress: (m: string) => progress.update(m),
  };
  const r = values.task === 'cmg' ? await adoptCmgAdapter(repo, o) : await adoptJitdpModel(repo, o);
  progress.done();
  if (values.json) await printJson(r);
  else await writeOut(`${r.adopted ? 'Adopted' : 'Not adopted'}: ${r.reason}\n`);
  return 0;
}
