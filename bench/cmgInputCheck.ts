import { spawnSync } from 'node:child_process';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { commitDiff } from '../src/git/history.js';
import { openRepository } from '../src/git/repository.js';
import { CodeTokenizer } from '../src/models/tokenizer.js';
import { encoderInput } from '../src/tasks/cmg/encoderInput.js';
import type { InputFormat } from '../src/tasks/cmg/profile.js';

/**
 * `npm run bench -- cmg-input-check REPO [--n N]`: the CommitChronicle input formats against the reference
 * code on a history the goldens never saw: the reference (test/fixtures/commitchronicle/reference_inputs.py,
 * run with the image's Python and checkouts of the two reference repositories) and Changeling each
 * serialise the newest N non-merge commits; every commit whose ids differ is listed.
 */
export async function cmgInputCheckBench(args: string[]): Promise<Record<string, unknown>> {
  const repoPath = args.find((a) => !a.startsWith('--'));
  if (!repoPath) throw new Error('usage: cmg-input-check REPO [--n N]');
  const n = Number(args[args.indexOf('--n') + 1] ?? 200) || 200;
  const python = process.env.CHANGELING_PYTHON ?? join(homedir(), '.cache', 'changeling-py', 'bin', 'python');
  if (!existsSync(python)) throw new Error(`no Python at ${python} (see docs/development.md)`);
  const t0 = performance.now();
  const r = spawnSync(python, [resolve('test/fixtures/commitchronicle/reference_inputs.py'), resolve(repoPath), String(n)], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  if (r.status !== 0) throw new Error(`reference failed: ${r.stderr.slice(-2000)}`);
  const refSeconds = (performance.now() - t0) / 1000;
  const rows = r.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, number[]> & { sha: string });
  const repo = await openRepository(repoPath);
  const tokDir = join(process.env.CHANGELING_GOLDENS ?? resolve('test/fixtures/goldens'), 'tokenizers', 'codet5');
  const plain = await CodeTokenizer.fromFolder(tokDir);
  const marked = await CodeTokenizer.fromFolder(tokDir);
  marked.addSpecialTokens(['<add>', '<del>', '<keep>']);
  const formats: Array<[InputFormat, CodeTokenizer]> = [
    ['commitchronicle', plain],
    ['commitchronicle-codereviewer', marked],
  ];
  const differ: Array<{ sha: string; format: string; at: number }> = [];
  const t1 = performance.now();
  for (const row of rows) {
    const files = (await commitDiff(repo, row.sha, { ignoreWhitespace: true })).files;
    for (const [format, tok] of formats) {
      const got = encoderInput(files, { format, tokenizer: tok, maxInput: 512 }).inputIds;
      const want = row[format]!;
      if (got.length !== want.length || got.some((x, i) => x !== want[i]))
        differ.push({ sha: row.sha, format, at: got.findIndex((x, i) => x !== want[i]) });
    }
  }
  const oursSeconds = (performance.now() - t1) / 1000;
  const same = rows.length * 2 - differ.length;
  process.stderr.write(
    `${repoPath}: ${rows.length} commits x 2 formats: ${same} identical, ${differ.length} differ (reference ${refSeconds.toFixed(1)} s, Changeling ${oursSeconds.toFixed(1)} s)\n`,
  );
  for (const d of differ.slice(0, 20)) process.stderr.write(`  ${d.sha.slice(0, 10)} ${d.format}: first difference at token ${d.at}\n`);
  return { bench: 'cmg-input-check', repo: repoPath, commits: rows.length, identical: same, differ, refSeconds, oursSeconds };
}
