import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { openRepository } from '../../src/git/repository.js';
import { unfaithfulNames } from '../../src/tasks/cmg/llmWriter.js';
import { TestRepo, parseLineHistory, tempDir } from '../helpers/gitRepo.js';
import { writeTinyQwen2 } from '../helpers/tinyModels.js';

const CLI = resolve('dist/cli.mjs');
const repos: TestRepo[] = [];
after(() => repos.forEach((r) => r.cleanup()));

const history = () => parseLineHistory(repos);

test('faithfulness: names in the diff or the tree at HEAD pass; invented ones are named', async () => {
  const r = history();
  const repo = await openRepository(r.dir);
  const diff = 'src/parse.js\n-  return s.trim() + 5;\n+  return s.replace(/\\r$/, "");';
  assert.deepEqual(await unfaithfulNames('Strip `\\r` in `parseLine` of src/parse.js', diff, repo), []);
  assert.deepEqual((await unfaithfulNames('Call normalize_input() from lib/norm.ts', diff, repo)).sort(), [
    'lib/norm.ts',
    'normalize_input',
  ]);
});

test(
  'changeling suggest --model <code LLM>: sampled candidates with subject and body, reproducible by seed, faithfulness marked',
  { timeout: 180_000 },
  () => {
    const r = history();
    const model = writeTinyQwen2(join(tempDir(), 'qwen2-chat'));
    const run = (...args: string[]) =>
      spawnSync(
        process.execPath,
        [CLI, 'suggest', '--repo', r.dir, '--model', model, '--json', '-n', '3', '--max-new-tokens', '24', ...args],
        {
          encoding: 'utf8',
        },
      );
    const a = run('--seed', '1');
    assert.equal(a.status, 0, a.stderr);
    const j = JSON.parse(a.stdout);
    const llm = j.candidates.filter((c: { source: string }) => c.source === 'llm');
    assert.ok(llm.length > 0, JSON.stringify(j.candidates));
    for (const c of llm) assert.ok(Array.isArray(c.unfaithful));
    // Faithful ones first: once a marked one comes, no unmarked one follows.
    const marks = llm.map((c: { unfaithful: string[] }) => c.unfaithful.length > 0);
    assert.deepEqual(
      marks,
      [...marks].sort((x: boolean, y: boolean) => Number(x) - Number(y)),
    );
    assert.deepEqual(JSON.parse(run('--seed', '1').stdout).candidates, j.candidates, 'the same seed gives the same candidates');
    // The typed start is kept; without a body only subjects come.
    const typed = JSON.parse(run('--seed', '2', '--prefix', 'fix(parse): ', '--no-body').stdout);
    for (const c of typed.candidates.filter((x: { source: string }) => x.source === 'llm')) {
      assert.match(c.message, /^fix\(parse\):/);
      assert.doesNotMatch(c.message, /\n/);
    }
    const human = spawnSync(process.execPath, [CLI, 'suggest', '--repo', r.dir, '--model', model, '-n', '2', '--max-new-tokens', '16'], {
      encoding: 'utf8',
    });
    assert.equal(human.status, 0, human.stderr);
    assert.match(human.stdout, /; code LLM .*qwen2-chat\):\n/);
  },
);
