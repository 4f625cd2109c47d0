import { parseArgs } from 'node:util';
import { openRepository } from '../git/repository.js';
import { szz } from '../git/szz.js';
import { StderrProgress, interruptSignal, parseCount, printJson, writeOut, writeVerbatim } from './io.js';

/** `changeling label`: its options, its help text (LABEL_HELP) and what it prints. */

export const LABEL_HELP = `changeling label [--repo PATH] [--max-blamed N] [--json]

  SZZ labels: every non-merge commit, oldest first, buggy or not, with the fixing commits whose removed or
  changed lines (blank, whitespace-only and comment lines ignored) blame back to it (git blame -w on the
  fix's parent, answered by one walk that follows every line forward). Fixes are found by their message; a fix that blames more than N commits (default 10) is
  dropped. --json prints one object per commit on a line, then a summary on stderr.`;

export async function labelCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      repo: { type: 'string' },
      'max-blamed': { type: 'string' },
      json: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
    },
  });
  const maxBlamed = parseCount('max-blamed', values['max-blamed'], undefined, 1);
  const repo = await openRepository(values.repo ?? process.cwd());
  const progress = new StderrProgress(values.quiet);
  const r = await szz(repo, { maxBlamed, signal: interruptSignal(), onProgress: (d, t, what) => progress.update(`${what}: ${d}/${t}`) });
  progress.done();
  const rows = r.commits.map((c) => ({ sha: c.sha, buggy: r.fixedBy.has(c.sha), fixedBy: r.fixedBy.get(c.sha) ?? [] }));
  const summary = { commits: rows.length, buggy: rows.filter((x) => x.buggy).length, fixes: r.fixes.length, droppedFixes: r.droppedFixes };
  if (values.json) {
    await writeOut(rows.map((x) => JSON.stringify(x)).join('\n') + (rows.length ? '\n' : ''));
    if (!values.quiet) void writeVerbatim(JSON.stringify(summary) + '\n', 'stderr');
  } else {
    await writeOut(
      rows
        .filter((x) => x.buggy)
        .map((x) => `${x.sha.slice(0, 12)}  fixed by ${x.fixedBy.map((s) => s.slice(0, 12)).join(', ')}`)
        .join('\n') + '\n',
    );
    await printJson(summary);
  }
  return 0;
}
