import { cpus } from 'node:os';
import { openRepository } from '../src/git/repository.js';
import { szz, type SzzResult } from '../src/git/szz.js';

/**
 * SZZ both ways on one history, in one run: the forward line walk (what `szz` does) and git blame on every fix
 * (the reference). Prints the time of each and whether the labels agree, fix by fix.
 */
export async function szzBench(args: string[]): Promise<Record<string, unknown>> {
  const path = args.find((a) => !a.startsWith('--'));
  if (!path) throw new Error('usage: npm run bench -- szz REPO_PATH [--no-blame]');
  const repo = await openRepository(path);
  const time = async (via: 'trace' | 'blame') => {
    const t0 = performance.now();
    const r = await szz(repo, { via });
    return { r, seconds: (performance.now() - t0) / 1000 };
  };
  const trace = await time('trace');
  const blame = args.includes('--no-blame') ? null : await time('blame');
  const key = (r: SzzResult) =>
    new Map([
      ...r.fixes.map((f) => [f.sha, [...f.blamed].sort().join(',')] as const),
      ...r.droppedFixes.map((d) => [d.sha, 'dropped'] as const),
    ]);
  let differ: string[] = [];
  if (blame) {
    const a = key(trace.r);
    const b = key(blame.r);
    differ = [...new Set([...a.keys(), ...b.keys()])].filter((s) => a.get(s) !== b.get(s));
  }
  const buggy = (r: SzzResult) => r.fixedBy.size;
  const result = {
    bench: 'szz',
    cpu: cpus()[0]?.model,
    repo: repo.root,
    commits: trace.r.commits.length,
    fixes: trace.r.fixes.length,
    droppedFixes: trace.r.droppedFixes.length,
    buggy: { trace: buggy(trace.r), blame: blame ? buggy(blame.r) : null },
    seconds: { trace: trace.seconds, blame: blame?.seconds ?? null, ratio: blame ? trace.seconds / blame.seconds : null },
    answered: trace.r.answered,
    fixesThatDiffer: differ.length,
    differ: differ.slice(0, 20),
  };
  process.stderr.write(
    `${repo.root} (${result.cpu}): ${result.commits} commits, ${result.fixes} fixes kept, ${result.buggy.trace} buggy; line walk ${trace.seconds.toFixed(1)} s` +
      (blame
        ? `, git blame ${blame.seconds.toFixed(1)} s (${(trace.seconds / blame.seconds).toFixed(2)}x); fixes whose labels differ: ${differ.length}`
        : '') +
      `; files answered by the walk ${trace.r.answered.traced}, by git blame ${trace.r.answered.blamed}, merge diffs ${trace.r.answered.mergeDiffs}\n`,
  );
  return result;
}
