import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tempDir } from './gitRepo.js';

/**
 * `changeling train --json` on a model and a data file, as a user runs it (the built CLI in its own process): the
 * run must succeed, and its JSON (steps, out, ...) is returned. `--out` is a fresh folder unless the options give one.
 */
// The JSON as the CLI prints it: fields read as the tests need them.
export function trainJson(model: string, data: string, ...options: string[]): any {
  const out = options.includes('--out') ? [] : ['--out', join(tempDir(), 'trained')];
  const r = spawnSync(
    process.execPath,
    [resolve('dist/cli.mjs'), 'train', '--model', model, '--data', data, ...out, '--json', ...options],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    },
  );
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** A decoder golden's batch as `changeling train` data: its rows, the first `labels_from` tokens of each not learnt. */
export function goldenRowsFile(g: { rows: number[][]; labels_from: number }): string {
  const data = join(tempDir(), 'rows.jsonl');
  writeFileSync(
    data,
    g.rows.map((ids) => JSON.stringify({ input_ids: ids, labels: ids.map((x, i) => (i < g.labels_from ? -100 : x)) })).join('\n') + '\n',
  );
  return data;
}
