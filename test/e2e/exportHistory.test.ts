/// <reference lib="dom" />
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { TestRepo, tempDir } from '../helpers/gitRepo.js';
import { ARTIFACTS, CodeServer } from './codeServer.js';

const VSIX = resolve('dist/changeling-linux-x64.vsix');
const servers: CodeServer[] = [];
after(async () => {
  for (const s of servers) {
    await s.stop();
    writeFileSync(join(ARTIFACTS, `code-server-${s.port}.log`), s.log.join(''));
  }
});

function sampleRepo(): TestRepo {
  const r = TestRepo.init();
  r.write('src/app.js', 'export const answer = 41;\n').commit('Add app');
  r.write('src/app.js', 'export const answer = 42;\n').write('README.md', '# Demo\n').commit('Fix the answer');
  r.git('checkout', '-q', '-b', 'feature');
  r.write('src/feature.js', 'export function feature() {}\n').commit('Add feature');
  r.git('checkout', '-q', 'main');
  r.git('merge', '-q', '--no-ff', '-m', 'Merge feature', 'feature');
  r.write('src/app.js', 'export const answer = 43;\n');
  r.git('add', 'src/app.js');
  return r;
}

/** Accepts VS Code's own save dialog: OK, again if the dialog was still checking the typed path and ignored it. */
async function acceptSaveDialog(page: import('playwright-core').Page): Promise<void> {
  const widget = page.locator('.quick-input-widget');
  for (let i = 0; i < 4; i++) {
    await page.waitForTimeout(300);
    await page
      .locator('.quick-input-widget .monaco-button', { hasText: 'OK' })
      .click()
      .catch(() => {});
    if (
      await widget.waitFor({ state: 'hidden', timeout: 3000 }).then(
        () => true,
        () => false,
      )
    )
      return;
  }
  throw new Error('the save dialog did not accept the path');
}

test('the installed .vsix exports the history dataset from the command palette', { timeout: 240_000 }, async () => {
  assert.ok(existsSync(VSIX), `${VSIX} is missing: run "npm run package" first`);
  mkdirSync(ARTIFACTS, { recursive: true });
  const repo = sampleRepo();
  const out = join(tempDir(), 'demo-history.jsonl');
  const cs = new CodeServer();
  servers.push(cs);
  const page = await cs.launch(VSIX, repo.dir);
  // The Source Control view shows the staged change (the built-in git extension is up).
  await page.keyboard.press('Control+Shift+G');
  await page.locator('.scm-view .monaco-list-row', { hasText: 'app.js' }).first().waitFor({ timeout: 60_000 });

  await cs.runCommand(page, 'Changeling: Export history dataset');
  // The save dialog of a browser workbench is VS Code's own path input; it proposes <repo>-history.jsonl.
  const pathInput = page.locator('.quick-input-widget input.input');
  await page.waitForFunction(
    () => {
      const el = document.querySelector<HTMLInputElement>('.quick-input-widget input.input');
      return !!el && el.value.endsWith('-history.jsonl');
    },
    undefined,
    { timeout: 30_000 },
  );
  await page.screenshot({ path: join(ARTIFACTS, 'export-history-save-dialog.png') });
  await pathInput.fill(out);
  await acceptSaveDialog(page);

  const toast = page.locator('.notification-toast', { hasText: 'Changeling: exported 4 commits' });
  await toast.waitFor({ timeout: 60_000 }).catch(async (err) => {
    await page.screenshot({ path: join(ARTIFACTS, 'export-history-failed.png') });
    throw err;
  });
  // Let the toast's fade-in and the finished progress notification settle before the picture.
  await page
    .locator('.notification-toast', { hasText: 'exporting the history' })
    .waitFor({ state: 'detached', timeout: 10_000 })
    .catch(() => {});
  await page.waitForTimeout(1000);
  await page.screenshot({ path: join(ARTIFACTS, 'export-history-done.png') });
  assert.match(await toast.innerText(), /exported 4 commits \(1 merge\) to .*demo-history\.jsonl/);

  // Cancel a second export while it runs (git made slow): nothing is written, and the user is told.
  writeFileSync(cs.slowGitFlag, '');
  const out2 = join(tempDir(), 'cancelled-history.jsonl');
  await page
    .locator('.notification-toast .codicon-notifications-clear, .notification-toast .codicon-close')
    .first()
    .click()
    .catch(() => {});
  await cs.runCommand(page, 'Changeling: Export history dataset');
  await page.waitForFunction(
    () => document.querySelector<HTMLInputElement>('.quick-input-widget input.input')?.value.endsWith('-history.jsonl'),
    undefined,
    { timeout: 30_000 },
  );
  await pathInput.fill(out2);
  await acceptSaveDialog(page);
  const running = page.locator('.notification-toast', { hasText: 'exporting the history' });
  await running.waitFor({ timeout: 30_000 });
  await page.screenshot({ path: join(ARTIFACTS, 'export-history-running.png') });
  await running.locator('.monaco-button', { hasText: 'Cancel' }).click();
  await page.locator('.notification-toast', { hasText: 'export cancelled; nothing was written' }).waitFor({ timeout: 30_000 });
  await page.waitForTimeout(1000);
  await page.screenshot({ path: join(ARTIFACTS, 'export-history-cancelled.png') });
  assert.deepEqual(readdirSync(dirname(out2)), []);
  rmSync(cs.slowGitFlag);

  const lines = readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(lines[0].message, 'Merge feature');
  assert.deepEqual(lines.map((c) => c.message).sort(), ['Add app', 'Add feature', 'Fix the answer', 'Merge feature']);
  assert.equal(lines[0].merge, true);
  assert.deepEqual(
    lines[0].files.map((f: { path: string }) => f.path),
    ['src/feature.js'],
  );
  assert.deepEqual(lines.at(-1).files[0].hunks[0].lines, ['+export const answer = 41;']);
});
