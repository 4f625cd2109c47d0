/// <reference lib="dom" />
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { TestRepo, tempDir } from '../helpers/gitRepo.js';
import { writeTinyT5 } from '../helpers/tinyModels.js';
import { ARTIFACTS, CodeServer } from './codeServer.js';

/**
 * A new user's first minutes in a real VS Code (code-server + Chromium): choosing models writes nothing into
 * the repository and refuses a broken folder on pick; the risk fine-tuning path reaches an encoder; the risk
 * report follows the stage; the pre-push hook survives an extension update; a stopped fine-tuning run can be
 * discarded and is not offered again. Each step leaves a screenshot in test-artifacts/ (and docs/screenshots/).
 */
const VSIX = resolve('dist/changeling-linux-x64.vsix');
const servers: CodeServer[] = [];
after(async () => {
  for (const s of servers) {
    await s.stop();
    writeFileSync(join(ARTIFACTS, `code-server-first-${s.port}.log`), s.log.join(''));
  }
});

const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, name) });

/** A repository with a little history and a staged change. */
function repository(): TestRepo {
  const r = TestRepo.init();
  let text = '';
  for (let i = 0; i < 12; i++)
    r.write('src/render.js', (text += `canvas.drawRect(x${i}, y${i}, width, height);\n`)).commit(`Draw rectangle ${i}`);
  r.write('src/render.js', text + 'canvas.drawRect(x99, y99, width, height);\n');
  r.git('add', '-A');
  return r;
}

async function open(r: TestRepo, settings: Record<string, unknown> = {}): Promise<{ cs: CodeServer; page: Page }> {
  assert.ok(existsSync(VSIX), `${VSIX} is missing: run "npm run package" first`);
  mkdirSync(ARTIFACTS, { recursive: true });
  const cs = new CodeServer();
  servers.push(cs);
  const page = await cs.launch(VSIX, r.dir, { settings: { 'changeling.risk.debounceMs': 300, ...settings } });
  await page.keyboard.press('Control+Shift+G');
  await page.locator('.scm-view .monaco-list-row', { hasText: 'render.js' }).first().waitFor({ timeout: 60_000 });
  return { cs, page };
}

const userSettings = (cs: CodeServer) => JSON.parse(readFileSync(join(cs.home, 'user', 'User', 'settings.json'), 'utf8'));
const row = (page: Page, text: string | RegExp) => page.locator('.quick-input-list .monaco-list-row', { hasText: text }).first();

/** "Choose models" → a use → "Local folder…" → the path typed into VS Code's own file dialog. */
async function pickLocalFolder(cs: CodeServer, page: Page, use: string, path: string): Promise<void> {
  await cs.runCommand(page, 'Changeling: Choose models');
  await row(page, use).click();
  await row(page, 'Local folder').click();
  const input = page.locator('.quick-input-widget input.input');
  await page.locator('.quick-input-widget', { hasText: 'a model folder' }).waitFor({ timeout: 30_000 });
  // The dialog first fills in a folder of its own: type the path once it has.
  await page.waitForFunction(
    () => ((document.querySelector('.quick-input-widget input.input') as HTMLInputElement | null)?.value ?? '').length > 0,
  );
  await page.waitForTimeout(300);
  await input.fill(`${path}/`);
  // A folder-only dialog lists no files: give it a moment to read the typed folder.
  await page.waitForTimeout(1000);
  await page.locator('.quick-input-widget .monaco-button', { hasText: /^OK$/ }).click();
}

let shared: { r: TestRepo; cs: CodeServer; page: Page } | null = null;
async function session() {
  if (!shared) {
    const r = repository();
    shared = { r, ...(await open(r)) };
  }
  return shared;
}

test(
  'Choose models: a model chosen for all repositories goes to the user settings; the repository gets nothing',
  { timeout: 300_000 },
  async () => {
    const { r, cs, page } = await session();
    const model = writeTinyT5(join(tempDir(), 'tiny-t5'));
    await pickLocalFolder(cs, page, 'Commit messages', model);
    await page.locator('.quick-input-widget', { hasText: 'use it where?' }).waitFor({ timeout: 30_000 });
    await shot(page, 'models-where.png');
    await row(page, 'For all my repositories').click();
    for (let i = 0; i < 40 && userSettings(cs)['changeling.messages.model'] !== model; i++) await page.waitForTimeout(250);
    assert.equal(userSettings(cs)['changeling.messages.model'], model);
    assert.equal(existsSync(join(r.dir, '.vscode')), false, 'nothing in the repository');
    assert.equal(r.git('status', '--porcelain', '--untracked-files=all').includes('.vscode'), false);
  },
);

test(
  'Choose models: a broken model folder is refused when picked, with its problem named, and nothing is saved',
  { timeout: 300_000 },
  async () => {
    const { cs, page } = await session();
    const broken = writeTinyT5(join(tempDir(), 'broken-t5'));
    for (const f of ['tokenizer.json', 'vocab.json', 'merges.txt']) rmSync(join(broken, f));
    const before = userSettings(cs)['changeling.messages.model'];
    await pickLocalFolder(cs, page, 'Commit messages', broken);
    const toast = page.locator('.notification-toast', { hasText: 'not used: ' });
    await toast.waitFor({ timeout: 30_000 }).catch(async (err) => {
      await shot(page, 'models-broken-failed.png');
      throw err;
    });
    await page.waitForTimeout(300);
    await shot(page, 'models-broken-refused.png');
    assert.match(await toast.innerText(), /tokenizer/);
    assert.equal(userSettings(cs)['changeling.messages.model'], before, 'the setting is as it was');
  },
);

test(
  'Fine-tuning the risk model without an encoder: the notice leads straight to the list of encoders to download',
  { timeout: 300_000 },
  async () => {
    const { cs, page } = await session();
    await cs.runCommand(page, 'Changeling: Fine-tune on this repository');
    await row(page, 'Risk: LoRA').click();
    await row(page, 'Quick').click();
    const toast = page.locator('.notification-toast', { hasText: 'starts from a code encoder' });
    await toast.waitFor({ timeout: 30_000 });
    await toast.locator('.monaco-button', { hasText: 'Choose the encoder' }).click();
    await page.locator('.quick-input-widget', { hasText: 'the encoder for risk fine-tuning' }).waitFor({ timeout: 30_000 });
    for (const id of ['microsoft/codebert-base', 'microsoft/graphcodebert-base', 'microsoft/unixcoder-base']) await row(page, id).waitFor();
    await page.waitForTimeout(300);
    await shot(page, 'finetune-encoder-choice.png');
    await page.keyboard.press('Escape');
  },
);

test('The risk report follows the stage: unstaging everything turns it into "nothing is staged"', { timeout: 300_000 }, async () => {
  const { r, page } = await session();
  const risk = page.locator('.statusbar-item', { hasText: /Risk (low|medium|high) \d+%/ }).first();
  await risk.waitFor({ timeout: 90_000 });
  await risk.click();
  await page.locator('.tab', { hasText: 'Changeling: risk of the staged change' }).waitFor({ timeout: 30_000 });
  r.git('reset', '-q');
  await page.locator('.tab', { hasText: 'Changeling: risk (nothing staged)' }).waitFor({ timeout: 60_000 });
  let text = '';
  for (let i = 0; i < 40 && !/Nothing is staged/.test(text); i++) {
    await page.waitForTimeout(250);
    text = '';
    for (const f of page.frames()) text += await f.evaluate(() => document.body?.innerText ?? '').catch(() => '');
  }
  assert.match(text, /Nothing is staged/);
  await shot(page, 'risk-report-unstaged.png');
  r.git('add', '-A');
});

test(
  'The pre-push check survives an extension update: it still scores after the extension folder is renamed, in one line when nothing is risky',
  { timeout: 300_000 },
  async () => {
    const { r, cs, page } = await session();
    await cs.runCommand(page, 'Changeling: Install pre-push risk check');
    await page.locator('.monaco-dialog-box .monaco-button', { hasText: 'Install' }).click();
    await page.locator('.notification-toast', { hasText: 'pre-push risk check installed' }).waitFor({ timeout: 30_000 });
    await shot(page, 'hook-installed.png');
    const hook = readFileSync(join(r.dir, '.git', 'hooks', 'pre-push'), 'utf8');
    assert.match(hook, /CHANGELING_CLI='[^']*hook-launcher\.sh'/, 'the hook runs the launcher, not a versioned folder');
    // An update: the extension moves to a folder with a new version.
    const exts = join(cs.home, 'extensions');
    const old = readdirSync(exts).find((n) => n.startsWith('changeling.changeling-'))!;
    renameSync(join(exts, old), join(exts, 'changeling.changeling-9.9.9'));
    const remote = TestRepo.init({ bare: true });
    r.git('commit', '-q', '-m', 'Draw the last rectangle');
    r.git('remote', 'add', 'origin', remote.dir);
    const push = spawnSync('git', ['push', '-q', 'origin', 'main'], { cwd: r.dir, encoding: 'utf8' });
    assert.equal(push.status, 0, push.stderr);
    assert.match(push.stderr, /^changeling: \d+ commits? scored; the riskiest is (low|medium) \(\d+%\)/m);
    assert.ok(push.stderr.trim().split('\n').length <= 2, push.stderr);
    // No extension at all: one line, and the push goes through.
    rmSync(join(exts, 'changeling.changeling-9.9.9'), { recursive: true });
    r.write('src/render.js', readFileSync(join(r.dir, 'src/render.js'), 'utf8') + 'canvas.drawRect(0, 0, 1, 1);\n').commit('One more');
    const gone = spawnSync('git', ['push', '-q', 'origin', 'main'], { cwd: r.dir, encoding: 'utf8' });
    assert.equal(gone.status, 0, gone.stderr);
    assert.match(gone.stderr, /^changeling: the Changeling extension is not installed any more; nothing was checked$/m);
    execFileSync('git', ['reset', '-q', '--soft', 'HEAD~2'], { cwd: r.dir });
  },
);

test('A stopped fine-tuning run: Discard removes it, and it is never offered again', { timeout: 300_000 }, async () => {
  const r = repository();
  // What a cancelled run leaves in the repository's git folder: a checkpoint and the run's choice.
  const work = join(r.dir, '.git', 'changeling', 'finetune-cmg');
  mkdirSync(work, { recursive: true });
  writeFileSync(join(work, 'lora.checkpoint.safetensors'), Buffer.alloc(16));
  writeFileSync(join(work, 'run.json'), JSON.stringify({ method: 'lora', quick: true }));
  const { page } = await open(r);
  const offer = page.locator('.notification-toast', { hasText: 'was stopped before it finished' });
  await offer.waitFor({ timeout: 60_000 });
  await shot(page, 'finetune-resume-or-discard.png');
  await offer.locator('.monaco-button', { hasText: 'Discard' }).click();
  await page.locator('.notification-toast', { hasText: 'the interrupted run was discarded' }).waitFor({ timeout: 30_000 });
  assert.equal(existsSync(join(work, 'lora.checkpoint.safetensors')), false);
  assert.equal(existsSync(join(work, 'run.json')), false);
  await page.reload();
  await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
  await page.keyboard.press('Control+Shift+G');
  await page.locator('.scm-view .monaco-list-row', { hasText: 'render.js' }).first().waitFor({ timeout: 60_000 });
  await page.waitForTimeout(5000);
  assert.equal(await page.locator('.notification-toast', { hasText: 'was stopped before it finished' }).count(), 0);
});

test('A message model that cannot be used: ✨ still lists the similar past commits and says why, once', { timeout: 300_000 }, async () => {
  const r = repository();
  const gone = join(tempDir(), 'deleted-model');
  const { cs, page } = await open(r, { 'changeling.messages.model': gone });
  // The view's title actions show while the pointer is over it.
  await page.locator('.scm-view').first().hover();
  const sparkle = page.locator('.part.sidebar a.action-label[aria-label*="Suggest commit message"]:visible').first();
  await sparkle.waitFor({ timeout: 60_000 });
  await sparkle.click();
  await page.locator('.quick-input-widget', { hasText: 'similar past commits' }).waitFor({ timeout: 60_000 });
  const why = page.locator('.notification-toast', { hasText: 'the message model could not be used' });
  await why.waitFor({ timeout: 30_000 });
  await page.waitForTimeout(300);
  await shot(page, 'suggest-model-fallback.png');
  assert.match(await why.innerText(), /deleted-model/);
  await page.keyboard.press('Escape');
  // Once: a second ✨ lists them again without a second notice.
  await cs.runCommand(page, 'Notifications: Clear All Notifications');
  await page
    .locator('.notification-toast', { hasText: 'the message model could not be used' })
    .waitFor({ state: 'detached', timeout: 10_000 });
  await cs.runCommand(page, 'Changeling: Suggest commit message');
  await page.locator('.quick-input-widget', { hasText: 'similar past commits' }).waitFor({ timeout: 60_000 });
  await page.waitForTimeout(1000);
  assert.equal(await page.locator('.notification-toast', { hasText: 'the message model could not be used' }).count(), 0);
});
