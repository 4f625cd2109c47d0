import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { openRepository } from '../git/repository.js';
import { exportDatasets } from '../tasks/team/export.js';
import { adoptCmgAdapter } from '../tasks/team/adopt.js';
import { ChangelingError } from '../util/errors.js';
import { StderrProgress, interruptSignal, parseCount, printJson } from './io.js';

export const EXPORT_HELP = `changeling export --task cmg|jitdp [--model DIR] [--repo P]... --out DIR [--max N] [--json]

  Writes the time-ordered splits (oldest 80% train, next 10% validation, newest 10% test) of one or more
  repositories as train.jsonl, validation.jsonl and test.jsonl with a dataset card (README.md), a folder
  Hugging Face datasets loads as it is, for training on a cluster (recipes/train_lora.py).
  --task cmg     commit messages: token ids in --model's own input format, exactly as "changeling finetune"
                 trains (input_ids, labels, and decoder_input_ids for with-history models)
  --task jitdp   risk: SZZ labels per split, the 14 expert features, the changed lines' text
  --repo P       a repository (repeatable; default the current folder)
  --max N        at most the newest N commits of each repository (cmg)`;

export async function exportCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, strict: true, options: { task: { type: 'string' }, model: { type: 'string' }, repo: { type: 'string', multiple: true }, out: { type: 'string' }, max: { type: 'string' }, json: { type: 'boolean', default: false }, quiet: { type: 'boolean', default: false } } });
  if (values.task !== 'cmg' && values.task !== 'jitdp') throw new ChangelingError('usage', '--task must be cmg or jitdp');
  if (!values.out) throw new ChangelingError('usage', '--out DIR is needed: the folder the dataset is written to');
  const repos = await Promise.all((values.repo?.length ? values.repo : [process.cwd()]).map((p) => openRepository(p)));
  const progress = new StderrProgress(values.quiet);
  const r = await exportDatasets(repos, { task: values.task, model: values.model ? resolve(values.model) : undefined, out: resolve(values.out), maxCommits: parseCount('max', values.max), signal: interruptSignal(), onProgress: (m) => progress.update(m) });
  progress.done();
  if (values.json) await printJson(r);
  else process.stdout.write(`${r.out}: ${r.repositories.map((x) => `${x.repo} (${x.train}/${x.validation}/${x.test})`).join(', ')}\n`);
  return 0;
}

export const ADOPT_HELP = `changeling adopt --task cmg --adapter DIR [--model DIR] [--repo P] [--force] [--eval-cap N] [--json]

  Checks an adapter trained elsewhere (e.g. by recipes/train_lora.py on a cluster) on the repository's
  validation split, as "changeling finetune" checks its own: B-Norm of its messages against the untuned
  model's. It is adopted ("changeling suggest" and the extension use it) only when better, or with --force.
  --model DIR    the base model (default: the adapter's base_model_name_or_path, when it is a folder here)`;

export async function adoptCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, strict: true, options: { task: { type: 'string' }, adapter: { type: 'string' }, model: { type: 'string' }, repo: { type: 'string' }, force: { type: 'boolean', default: false }, 'eval-cap': { type: 'string' }, json: { type: 'boolean', default: false }, quiet: { type: 'boolean', default: false } } });
  if (values.task === 'jitdp') throw new ChangelingError('usage', 'adopt --task jitdp is not there yet: a risk model trained elsewhere is used with "changeling risk --model DIR" or the changeling.risk.model setting');
  if (values.task !== 'cmg') throw new ChangelingError('usage', '--task cmg is needed');
  if (!values.adapter) throw new ChangelingError('usage', '--adapter DIR is needed (a PEFT adapter folder)');
  const repo = await openRepository(values.repo ?? process.cwd());
  const progress = new StderrProgress(values.quiet);
  const r = await adoptCmgAdapter(repo, { adapter: resolve(values.adapter), model: values.model ? resolve(values.model) : undefined, force: values.force, evalCap: parseCount('eval-cap', values['eval-cap']), signal: interruptSignal(), onProgress: (m) => progress.update(m) });
  progress.done();
  if (values.json) await printJson(r);
  else process.stdout.write(`${r.adopted ? 'Adopted' : 'Not adopted'}: ${r.reason}\n`);
  return 0;
}
