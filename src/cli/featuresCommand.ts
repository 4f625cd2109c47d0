import { rangeArgs } from '../git/revisions.js';
import { parseArgs } from 'node:util';
import { openRepository } from '../git/repository.js';
import { FEATURE_NAMES, stagedChangeInput, walkFeatures } from '../git/expertFeatures.js';
import { stagedDiff } from '../git/staged.js';
import { ChangelingError } from '../util/errors.js';
import { interruptSignal, writeOut } from './io.js';
import { readTextFile } from '../util/jsonFile.js';

/** `changeling features`: its options, its help text (FEATURES_HELP) and what it prints. */

export const FEATURES_HELP = `changeling features [--repo PATH] [--range R | --commits FILE | --staged] [--json]

  The 14 expert features (NS, ND, NF, Entropy, LA, LD, LT, FIX, NDEV, AGE, NUC, EXP, REXP, SEXP) of every
  non-merge commit, computed in one pass over the history (oldest first), or of the staged change as a
  would-be commit by the configured git user now. --range A..B or --commits FILE (one sha per line) limit
  the output, not the history the features are computed from. --json prints one JSON object per line.`;

export async function featuresCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      repo: { type: 'string' },
      range: { type: 'string' },
      commits: { type: 'string' },
      staged: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const repo = await openRepository(values.repo ?? process.cwd());
  let keep: Set<string> | null = null;
  if (values.range)
    keep = new Set(
      (
        await repo.git.raw(['rev-list', ...rangeArgs(values.range), '--']).catch((e: Error) => {
          throw new ChangelingError('bad-revision', `bad range ${values.range}: ${e.message.trim()}`);
        })
      )
        .split('\n')
        .filter(Boolean),
    );
  if (values.commits) {
    const text = await readTextFile(values.commits, { what: '--commits' });
    keep = new Set(text.split(/\s+/).filter(Boolean));
  }
  const rows: Array<Record<string, number | string>> = [];
  const emit = async (row: Record<string, number | string>) => {
    if (values.json) await writeOut(JSON.stringify(row) + '\n');
    else rows.push(row);
  };
  const signal = interruptSignal();
  const state = await walkFeatures(
    repo,
    async (sha, f) => {
      if (!values.staged && (!keep || keep.has(sha))) await emit({ sha, ...f });
    },
    { signal },
  );
  if (values.staged) {
    const staged = await stagedDiff(repo, { maxDiffBytes: 0 });
    if (staged.files.length === 0) throw new ChangelingError('usage', 'nothing is staged');
    await emit({ sha: 'staged', ...state.features(await stagedChangeInput(repo, staged.files)) });
  }
  if (!values.json) {
    const head = ['sha', ...FEATURE_NAMES];
    const fmt = (v: number | string) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : v.slice(0, 12));
    await writeOut([head.join('\t'), ...rows.map((r) => head.map((k) => fmt(r[k]!)).join('\t'))].join('\n') + '\n');
  }
  return 0;
}
