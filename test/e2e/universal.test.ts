/// <reference lib="dom" />
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TestRepo } from '../helpers/gitRepo.js';
import { ARTIFACTS, CodeServer } from './codeServer.js';

// The target-less package: no onnxruntime binary. It must say so on activation, in words a user can act on.
const VSIX = resolve('dist/changeling-universal.vsix');
const servers: CodeServer[] = [];
after(async () => {
  for (const s of servers) {
    await s.stop();
    writeFileSync(join(ARTIFACTS, `code-server-universal-${s.port}.log`), s.log.join(''));
  }
});

test("the target-less package says on activation that models need the platform's package", { timeout: 180_000 }, async () => {
  assert.ok(existsSync(VSIX), `${VSIX} is missing: run "npm run package" first`);
  mkdirSync(ARTIFACTS, { recursive: true });
  const repo = TestRepo.init();
  repo.write('a.js', 'export const a = 1;\n').commit('Add a');
  const cs = new CodeServer();
  servers.push(cs);
  const page = await cs.launch(VSIX, repo.dir);
  const note = page.locator('.notifications-toasts .notification-toast', { hasText: 'no model runtime for linux-x64' }).first();
  await note.waitFor({ timeout: 90_000 });
  assert.match(await note.innerText(), /no model runtime for linux-x64 in this package/);
  await page.screenshot({ path: join(ARTIFACTS, 'universal-no-runtime.png') });
  repo.cleanup();
});
