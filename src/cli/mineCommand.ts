import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { openRepository } from '../git/repository.js';
import { mineHistory, mineToFile, type MineOptions, type MineSummary } from '../git/dataset.js';
import { ChangelingError } from '../util/errors.js';
import { StderrProgress, interruptSignal, parseCount, printJson, writeOut, writeErr, writeVerbatim } from './io.js';
import { fileTarget } from '../util/outputTarget.js';

/** `changeling mine`: its options, its help text (MINE_HELP) and what it prints. */

export const MINE_HELP = `changeling mine --repo PATH [--out FILE] [options]

  Writes the history as a dataset: one JSON line per commit with sha, parents, author, dates, message,
  and the files with status, paths, line counts, binary flag and the parsed diff (hunks and lines).
  Merge commits carry their diff against the first parent. Progress goes to stderr.

  --repo PATH            the repository (default: the current folder); bare and shallow ones work
  --out FILE             write here (atomically) instead of stdout
  --since DATE           only commits after DATE (any date git understands: 2024-01-01, "2 years ago")
  --until DATE           only commits before DATE
  --max N                at most N commits
  --rev REV              walk from REV or a range A..B (default HEAD; --all for every ref)
  --reverse              oldest first (with --max: the newest N, oldest first, as in git)
  --no-merges            leave merge commits out
  --max-diff-bytes N     per-commit cap on kept diff text (default 1048576); bigger commits are marked truncated
  --json                 print the summary as JSON (on stdout with --out, else on stderr)
  --quiet                no progress`;

export async function mineCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      repo: { type: 'string' },
      out: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      max: { type: 'string' },
      rev: { type: 'string' },
      all: { type: 'boolean', default: false },
      reverse: { type: 'boolean', default: false },
      'no-merges': { type: 'boolean', default: false },
      'max-diff-bytes': { type: 'string' },
      json: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const max = parseCount('max', values.max, undefined, 1);
  const maxDiffBytes = parseCount('max-diff-bytes', values['max-diff-bytes']);
  const repo = await openRepository(values.repo ?? process.cwd());
  const progress = new StderrProgress(values.quiet);
  if (repo.shallow && !values.quiet) {
    writeErr(
      `note: ${repo.root} is a shallow clone; history stops at ${repo.shallowBoundary.size} boundary commit(s), whose diffs are against nothing (marked shallowBoundary)\n`,
    );
  }
  const opts: MineOptions = {
    rev: values.all ? '--all' : values.rev,
    since: values.since,
    until: values.until,
    max,
    reverse: values.reverse,
    noMerges: values['no-merges'],
    maxDiffBytes,
    signal: interruptSignal(),
    onProgress: (p) => {
      const pct = p.total > 0 ? ` (${Math.floor((100 * p.commits) / p.total)}%)` : '';
      const rate = p.elapsedMs > 0 ? ` ${Math.round((p.commits * 1000) / p.elapsedMs)} commits/s` : '';
      progress.update(`mining ${p.commits}/${p.total} commits${pct}${rate}`);
    },
  };
  let summary: MineSummary;
  if (values.out) {
    fileTarget(values.out, '--out');
    summary = await mineToFile(repo, resolve(values.out), opts);
  } else {
    const ac = new AbortController();
    const signal = AbortSignal.any([opts.signal!, ac.signal]);
    try {
      summary = await mineHistory(
        repo,
        async (line) => {
          if (!(await writeOut(line))) ac.abort(); // the reader went away (e.g. "| head")
        },
        { ...opts, signal },
      );
    } catch (err) {
      if (ac.signal.aborted && err instanceof ChangelingError && err.code === 'cancelled') return 0;
      throw err;
    }
  }
  progress.done();
  if (repo.head === null && !values.quiet) writeErr(`note: ${repo.root} has no commits yet; the dataset is empty\n`);
  if (values.json) {
    if (values.out) await printJson(summary);
    else void writeVerbatim(JSON.stringify(summary) + '\n', 'stderr');
  } else if (!values.quiet) {
    writeErr(
      `${summary.commits} commits (${summary.merges} merges, ${summary.truncated} truncated), ${summary.files} file changes, +${summary.additions} -${summary.deletions}` +
        ` in ${summary.seconds.toFixed(1)} s (${Math.round(summary.commitsPerSecond)} commits/s)${summary.out ? ` -> ${summary.out}` : ''}\n`,
    );
  }
  return 0;
}
