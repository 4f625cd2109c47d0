import { spawn } from 'node:child_process';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { openRepository } from '../src/git/repository.js';
import { mineToFile } from '../src/git/dataset.js';
import { DIFF_ARGS, GIT_CONFIG } from '../src/git/run.js';

// The git command Changeling itself runs (minus its format string), to show what parsing adds on top.
const OWN_GIT = [...GIT_CONFIG, 'log', '-p', ...DIFF_ARGS, '--diff-merges=first-parent'];

/** Time for `git log -p --numstat` alone, its output read and thrown away (the floor for any miner). */
function gitLogSeconds(cwd: string, args = ['log', '-p', '--numstat']): Promise<{ seconds: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let bytes = 0;
    const p = spawn('git', args, { cwd, stdio: ['ignore', 'pipe', 'inherit'] });
    p.stdout.on('data', (b: Buffer) => (bytes += b.length));
    p.on('error', reject);
    p.on('close', (code) =>
      code === 0 ? resolve({ seconds: (performance.now() - t0) / 1000, bytes }) : reject(new Error(`git log exited ${code}`)),
    );
  });
}

export async function mineBench(args: string[]): Promise<Record<string, unknown>> {
  const path = args.find((a) => !a.startsWith('--'));
  if (!path) throw new Error('usage: npm run bench -- mine REPO_PATH [--runs N] [--json]');
  const runsArg = args.indexOf('--runs');
  const runs = runsArg >= 0 ? Number(args[runsArg + 1]) : 1;
  const repo = await openRepository(path);
  const out = join(tmpdir(), `changeling-bench-${process.pid}.jsonl`);
  let git = { seconds: Infinity, bytes: 0 };
  let own = { seconds: Infinity, bytes: 0 };
  let ours = { seconds: Infinity, commits: 0, bytes: 0, merges: 0, truncated: 0 };
  for (let i = 0; i < runs; i++) {
    const g = await gitLogSeconds(repo.root);
    if (g.seconds < git.seconds) git = g;
    const o = await gitLogSeconds(repo.root, OWN_GIT);
    if (o.seconds < own.seconds) own = o;
    const s = await mineToFile(repo, out);
    if (s.seconds < ours.seconds)
      ours = { seconds: s.seconds, commits: s.commits, bytes: s.bytes, merges: s.merges, truncated: s.truncated };
    rmSync(out, { force: true });
  }
  const result = {
    bench: 'mine',
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? '?', memGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    repo: repo.root,
    head: repo.head,
    runs,
    commits: ours.commits,
    merges: ours.merges,
    truncated: ours.truncated,
    changeling: { seconds: ours.seconds, commitsPerSecond: ours.commits / ours.seconds, datasetBytes: ours.bytes },
    gitLogPatchNumstat: { seconds: git.seconds, commitsPerSecond: ours.commits / git.seconds, outputBytes: git.bytes },
    gitLogPatchFirstParent: { seconds: own.seconds, outputBytes: own.bytes, note: 'the git command changeling runs, output discarded' },
    ratio: ours.seconds / git.seconds,
    ratioToOwnGit: ours.seconds / own.seconds,
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    goal: 'ratio <= 1.5',
  };
  process.stderr.write(
    [
      `mine benchmark on ${repo.root} (${ours.commits} commits, best of ${runs}; peak RSS ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB)`,
      `  changeling mine            ${ours.seconds.toFixed(2)} s  ${Math.round(ours.commits / ours.seconds)} commits/s  (${(ours.bytes / 2 ** 20).toFixed(0)} MiB of JSONL)`,
      `  git log -p --numstat       ${git.seconds.toFixed(2)} s  ${Math.round(ours.commits / git.seconds)} commits/s  (${(git.bytes / 2 ** 20).toFixed(0)} MiB of text)`,
      `  git log -p (first-parent)  ${own.seconds.toFixed(2)} s  (${(own.bytes / 2 ** 20).toFixed(0)} MiB: the command changeling parses, merges included)`,
      `  ratio                      ${result.ratio.toFixed(2)}x git log -p --numstat (goal: at most 1.5x); ${result.ratioToOwnGit.toFixed(2)}x its own git command`,
    ].join('\n') + '\n',
  );
  return result;
}
