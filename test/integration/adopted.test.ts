import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TestRepo, tempDir } from '../helpers/gitRepo.js';
import { openRepository } from '../../src/git/repository.js';
import { adoptMessageModel, adoptedMessageModel, stillAdopted } from '../../src/tasks/cmg/adopted.js';
import { onNotice } from '../../src/util/notices.js';

/** What is adopted is owned: recorded with a fingerprint; gone or changed, it is said in one line and not used. */
const CLI = resolve('dist/cli.mjs');
const repos: TestRepo[] = [];
after(() => repos.forEach((r) => r.cleanup()));

test('an adopted adapter that changes or disappears is not used, and that is said once', async () => {
  const r = TestRepo.init();
  repos.push(r);
  for (let i = 0; i < 3; i++) r.write('a.c', `int a = ${i};\n`).commit(`Change ${i}`);
  const repo = await openRepository(r.dir);
  const model = tempDir();
  writeFileSync(join(model, 'config.json'), '{}');
  const adapter = join(tempDir(), 'adapter');
  mkdirSync(adapter);
  writeFileSync(join(adapter, 'adapter_model.safetensors'), 'weights v1');
  const at = '2026-12-07T00:00:00.000Z';
  await adoptMessageModel(repo, { model, adapter, method: 'lora', adoptedAt: at, validation: {} });
  assert.ok(await stillAdopted(repo, at));
  assert.equal((await adoptedMessageModel(repo))?.adapter, adapter);
  const said: string[] = [];
  const off = onNotice((t) => said.push(t));
  try {
    writeFileSync(join(adapter, 'adapter_model.safetensors'), 'weights v2');
    assert.equal(await adoptedMessageModel(repo), null);
    assert.match(
      said.at(-1)!,
      /the adopted commit-message model has changed since it was adopted .*: suggestions fall back to this repository's history \(NNGen\)/,
    );
    rmSync(adapter, { recursive: true });
    assert.equal(await adoptedMessageModel(repo), null);
    assert.match(said.at(-1)!, /the adopted commit-message model is missing \(.*adapter\)/);
  } finally {
    off();
  }
  // The command line says it in one line and still suggests (from the history).
  r.write('a.c', 'int b;\n');
  r.git('add', '-A');
  const p = spawnSync(process.execPath, [CLI, 'suggest'], { cwd: r.dir, encoding: 'utf8' });
  assert.equal(p.status, 0, p.stderr);
  assert.match(p.stderr, /changeling: note: the adopted commit-message model is missing/);
  assert.match(p.stdout, /Suggestions for the staged change/);
});
