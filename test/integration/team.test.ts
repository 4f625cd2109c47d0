import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TestRepo, tempDir } from '../helpers/gitRepo.js';

const repos: TestRepo[] = [];
after(() => repos.forEach((r) => r.cleanup()));
const cli = (...args: string[]) => spawnSync(process.execPath, [resolve('dist/cli.mjs'), ...args], { encoding: 'utf8' });

function history(n: number): TestRepo {
  const r = TestRepo.init();
  repos.push(r);
  for (let i = 0; i < n; i++)
    r.write(`src/m${i % 3}.c`, Array.from({ length: i + 1 }, (_, k) => `int v${k} = ${k};`).join('\n') + '\n').commit(
      i % 4 === 3 ? `Fix v${i - 1} in m${i % 3}` : `Add v${i} to m${i % 3}`,
    );
  return r;
}

test('changeling export --task jitdp: time-ordered splits of several repositories as JSON Lines with a dataset card', () => {
  const [a, b] = [history(20), history(10)];
  const out = join(tempDir(), 'ds');
  const r = cli('export', '--task', 'jitdp', '--repo', a.dir, '--repo', b.dir, '--out', out, '--json', '--quiet');
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.deepEqual(
    summary.repositories.map((x: { train: number; validation: number; test: number }) => [x.train, x.validation, x.test]),
    [
      [16, 2, 2],
      [8, 1, 1],
    ],
  );
  const rows = readFileSync(join(out, 'train.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(rows.length, 24);
  assert.equal(rows[0].features.length, 14);
  assert.ok(rows.every((x) => x.label === 0 || x.label === 1) && rows.some((x) => x.added.includes('int v')));
  // The splits are each repository's own time order: a's oldest commit opens train.
  assert.match(rows[0].message, /^Add v0/);
  const card = readFileSync(join(out, 'README.md'), 'utf8');
  assert.match(card, /path: validation\.jsonl/);
  assert.match(card, /\| 16 \| 2 \| 2 \|/);
});

test('export and adopt refuse what they cannot do, in one line, and write nothing', () => {
  const a = history(5);
  const out = join(tempDir(), 'none');
  const noModel = cli('export', '--task', 'cmg', '--repo', a.dir, '--out', out);
  assert.equal(noModel.status, 2);
  assert.match(noModel.stderr, /export --task cmg needs --model DIR/);
  assert.ok(!existsSync(out));
  const jitdp = cli('adopt', '--task', 'jitdp', '--adapter', a.dir, '--repo', a.dir);
  assert.equal(jitdp.status, 2);
  assert.match(jitdp.stderr, /has no jitdp\.json: not a JIT-DP model folder/);
  const format = cli('export', '--task', 'jitdp', '--repo', a.dir, '--out', out, '--format', 'csv');
  assert.match(format.stderr, /--format must be jsonl or parquet/);
  assert.ok(!existsSync(out));
  const missing = cli('adopt', '--task', 'cmg', '--adapter', out, '--repo', a.dir);
  assert.match(missing.stderr, /has no adapter_config\.json/);
});
