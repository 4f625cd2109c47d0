import { parseArgs } from 'node:util';
import { openRepository } from '../git/repository.js';
import { blamedLines, szz, type SzzResult } from '../git/szz.js';
import type { Repository } from '../git/repository.js';
import { walkHistory } from '../git/history.js';
import { codeFiles } from '../git/codeFiles.js';
import { changedLines } from '../git/changedLines.js';
import { AtomicFile } from '../util/atomicFile.js';
import { StderrProgress, interruptSignal, parseCount, printJson, writeOut, writeVerbatim } from './io.js';

/** `changeling label`: its options, its help text (LABEL_HELP) and what it prints. */

export const LABEL_HELP = `changeling label [--repo PATH] [--max-blamed N] [--json] [--lines FILE]

  SZZ labels: every non-merge commit, oldest first, buggy or not, with the fixing commits whose removed or
  changed lines (blank, whitespace-only and comment lines ignored) blame back to it (git blame -w on the
  fix's parent, answered by one walk that follows every line forward). Fixes are found by their message; a fix that blames more than N commits (default 10) is
  dropped. --json prints one object per commit on a line, then a summary on stderr.
  --lines FILE also writes the line labels of the buggy commits, JSON Lines {"commit", "path", "line",
  "label"}: every non-blank line a buggy commit added to a code file (line number in that commit's
  version), label 1 when a fix's removed lines blame back to it (asked of git blame line by line), else 0.
  Give it scores ("score") and "changeling eval jitdp --lines" measures how well they rank the lines.`;

export async function labelCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      repo: { type: 'string' },
      'max-blamed': { type: 'string' },
      json: { type: 'boolean', default: false },
      lines: { type: 'string' },
      quiet: { type: 'boolean', default: false },
    },
  });
  const maxBlamed = parseCount('max-blamed', values['max-blamed'], undefined, 1);
  const repo = await openRepository(values.repo ?? process.cwd());
  const progress = new StderrProgress(values.quiet);
  const r = await szz(repo, { maxBlamed, signal: interruptSignal(), onProgress: (d, t, what) => progress.update(`${what}: ${d}/${t}`) });
  if (values.lines) await writeLineLabels(repo, r, values.lines, progress);
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

/** The line labels of every buggy commit, oldest first, written atomically to `out`. */
async function writeLineLabels(repo: Repository, r: SzzResult, out: string, progress: StderrProgress): Promise<void> {
  const signal = interruptSignal();
  const file = await AtomicFile.create(out, '--lines');
  try {
    const blamed = await blamedLines(repo, r, { signal, onProgress: (d, t, what) => progress.update(`${what}: ${d}/${t}`) });
    const buggy = r.commits.filter((c) => r.fixedBy.has(c.sha)).map((c) => c.sha);
    // One git walk over the buggy commits, in the order given (oldest first), not a git process per commit.
    let i = 0;
    for await (const c of walkHistory(repo, { commits: buggy, signal })) {
      const hit = blamed.get(c.sha);
      const rows: string[] = [];
      for (const l of changedLines(codeFiles(c.files)))
        if (l.sign === '+' && l.text.trim())
          rows.push(JSON.stringify({ commit: c.sha, path: l.path, line: l.line, label: hit?.get(l.path)?.has(l.line) ? 1 : 0 }));
      if (rows.length) await file.write(rows.join('\n') + '\n');
      progress.update(`line labels: ${++i}/${buggy.length}`);
    }
    await file.commit();
  } catch (err) {
    await file.abort();
    throw err;
  }
}
