import { parseArgs } from 'node:util';
import { openRepository } from '../git/repository.js';
import { currentChange } from '../git/currentChange.js';
import { renderView, viewJson } from '../git/changeReport.js';
import { InputFilter } from '../git/inputFilter.js';
import { interruptSignal, printJson, writeOut } from './io.js';

/** `changeling show`: its options, its help text (SHOW_HELP) and what it prints. */

export const SHOW_HELP = `changeling [show] [--repo PATH] [--commit REV] [--json] [--exclude GLOB]... [--include GLOB]...

  Describes the staged change (or the last commit when nothing is staged): its files, hunks and line
  counts, and which files the model-input filter drops (lock, generated, vendored, minified, binary).

  --repo PATH     the repository (default: the current folder)
  --commit REV    describe this commit instead of the staged change
  --exclude GLOB  also drop files matching GLOB from model inputs (repeatable)
  --include GLOB  keep files matching GLOB even when a rule would drop them (repeatable)
  --json          print JSON`;

export async function showCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      repo: { type: 'string' },
      commit: { type: 'string' },
      json: { type: 'boolean', default: false },
      exclude: { type: 'string', multiple: true },
      include: { type: 'string', multiple: true },
    },
    strict: true,
    allowPositionals: false,
  });
  const repo = await openRepository(values.repo ?? process.cwd());
  const filter = new InputFilter({ exclude: values.exclude ?? [], include: values.include ?? [] });
  const view = await currentChange(repo, { rev: values.commit, filter, signal: interruptSignal() });
  if (values.json) await printJson(viewJson(view));
  else await writeOut(renderView(view));
  return 0;
}
