/// <reference lib="dom" />
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { TestRepo, tempDir } from '../helpers/gitRepo.js';
import { writeTinyQwen2 } from '../helpers/tinyModels.js';
import { startChatStub } from '../helpers/chatServer.js';
import { ARTIFACTS, CodeServer } from './codeServer.js';

// The proposed-API flavour (the published one has no ✨ inside the box): VS Code runs here with --enable-proposed-api.
const VSIX = resolve('dist/changeling-linux-x64-proposed.vsix');
const servers: CodeServer[] = [];
after(async () => {
  for (const s of servers) {
    await s.stop();
    writeFileSync(join(ARTIFACTS, `code-server-scm-${s.port}.log`), s.log.join(''));
  }
});

/** A history of three kinds of change (NNGen has neighbours to find) and a staged change like one kind. */
function repoWithHistory(): TestRepo {
  const r = TestRepo.init();
  const kinds = [
    { file: 'src/parser.js', line: (i: number) => `const token${i} = lexer.next(json, depth);`, msg: 'Add JSON token to the parser' },
    {
      file: 'src/render.js',
      line: (i: number) => `canvas.drawRect(x${i}, y${i}, width, height);`,
      msg: 'Fix rectangle drawing in the renderer',
    },
    {
      file: 'docs/guide.md',
      line: (i: number) => `See the section on configuration option ${i} for details.`,
      msg: 'Document configuration options',
    },
  ];
  const content = new Map<string, string>();
  for (let i = 0; i < 15; i++) {
    const k = kinds[i % 3]!;
    content.set(k.file, (content.get(k.file) ?? '') + k.line(i) + '\n');
    r.write(k.file, content.get(k.file)!).commit(`${k.msg} (${i})`);
  }
  r.write('src/render.js', content.get('src/render.js')! + 'canvas.drawRect(x99, y99, width, height);\n');
  r.git('add', '-A');
  return r;
}

// The box wraps long lines into several view lines: compare its text without whitespace.
const inputText = (page: Page) =>
  page.evaluate(() => (document.querySelector('.scm-editor .view-lines')?.textContent ?? '').replace(/\s+/g, ''));
const boxMatches = (page: Page, re: RegExp, timeout = 60_000) =>
  page.waitForFunction(
    (src) => new RegExp(src).test((document.querySelector('.scm-editor .view-lines')?.textContent ?? '').replace(/\s+/g, '')),
    re.source,
    { timeout },
  );
const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, name) });

/**
 * code-server on a repository with a staged change, the Source Control view open, and its ✨ (title bar)
 * located: what both tests start from.
 */
async function openScm(settings: Record<string, unknown>): Promise<{ page: Page; sparkle: ReturnType<Page['locator']>; repo: TestRepo }> {
  assert.ok(existsSync(VSIX), `${VSIX} is missing: run "npm run package" first`);
  mkdirSync(ARTIFACTS, { recursive: true });
  const repo = repoWithHistory();
  // VS Code's own commits need an identity.
  repo.git('config', 'user.name', 'Ada');
  repo.git('config', 'user.email', 'ada@example.com');
  const cs = new CodeServer();
  servers.push(cs);
  const page = await cs.launch(VSIX, repo.dir, { args: ['--enable-proposed-api', 'changeling.changeling'], settings });
  await page.keyboard.press('Control+Shift+G');
  await page.locator('.scm-view .monaco-list-row', { hasText: 'render.js' }).first().waitFor({ timeout: 60_000 });
  const sparkle = page
    .locator(
      '.scm-view a.action-label[aria-label="Suggest commit message"], .part.sidebar .title-actions a.action-label[aria-label="Suggest commit message"]',
    )
    .first();
  await sparkle.waitFor({ timeout: 60_000 });
  return { page, sparkle, repo };
}

test(
  'In a real VS Code: the ✨ button suggests messages without losing typed text, and the risk item reports the staged change',
  { timeout: 300_000 },
  async () => {
    const { page, sparkle } = await openScm({ 'changeling.messages.inputBoxButton': true, 'changeling.risk.debounceMs': 300 });

    // 1. Without a message model, the ✨ in the Source Control title bar never fills the box by itself: it
    // lists similar past commits as what they are, each with its commit and date, under the download offer,
    // and offers the download once as a prompt.
    await sparkle.click();
    const pastList = page.locator('.quick-input-widget', { hasText: 'similar past commits' }).first();
    await pastList.waitFor({ timeout: 60_000 }).catch(async (err) => {
      await shot(page, 'scm-suggest-failed.png');
      throw err;
    });
    await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Download the commit-message model' }).first().waitFor();
    const past = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Fix rectangle drawing' }).first();
    await past.waitFor({ timeout: 30_000 });
    assert.match(await past.innerText(), /commit [0-9a-f]{10}, \d{4}-\d\d-\d\d/);
    await page.locator('.notifications-toasts', { hasText: 'Download the commit-message model' }).first().waitFor({ timeout: 30_000 });
    await page.waitForTimeout(300);
    await shot(page, 'scm-suggest-past.png');
    assert.equal(await inputText(page), '', 'the box stays empty while the list is open');
    await page.keyboard.press('Escape');
    await page.waitForTimeout(300);
    assert.equal(await inputText(page), '', 'Esc leaves the box empty');
    // Picking a past commit is the user's choice: then it goes into the box.
    await sparkle.click();
    await past.waitFor({ timeout: 60_000 });
    await past.click();
    await boxMatches(page, /^Fixrectangledrawingintherenderer\(\d+\)$/, 30_000);

    // 2. Typed text is never replaced: the candidates come in a QuickPick, Esc keeps the box as it was.
    await page.locator('.scm-editor .monaco-editor').click();
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Backspace');
    await page.keyboard.type('WIP my own notes');
    await sparkle.click();
    const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Fix rectangle drawing' }).first();
    await row.waitFor({ timeout: 60_000 });
    await page.waitForTimeout(300);
    await shot(page, 'scm-suggest-quickpick.png');
    await page.keyboard.press('Escape');
    await page.waitForTimeout(300);
    assert.equal(await inputText(page), 'WIPmyownnotes');
    // Picking a candidate replaces the typed text only when the user confirms it (the text is never moved).
    await sparkle.click();
    await row.waitFor({ timeout: 60_000 });
    await row.click();
    const replace = page.locator('.monaco-dialog-box .monaco-button', { hasText: 'Replace' }).first();
    await replace.waitFor({ timeout: 30_000 });
    await shot(page, 'scm-suggest-replace.png');
    await page.keyboard.press('Escape');
    await page.waitForTimeout(300);
    assert.equal(await inputText(page), 'WIPmyownnotes', 'not confirmed: the typed text stays as it was');
    await sparkle.click();
    await row.waitFor({ timeout: 60_000 });
    await row.click();
    await replace.waitFor({ timeout: 30_000 });
    await replace.click();
    await boxMatches(page, /^Fixrectangledrawingintherenderer\(\d+\)$/, 30_000);
    // The start of a message is completed instead: every candidate begins with the typed text, kept as typed.
    await page.locator('.scm-editor .monaco-editor').click();
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Backspace');
    await page.keyboard.type('Fix rect');
    await sparkle.click();
    await page.locator('.quick-input-widget', { hasText: 'that begin as you typed' }).first().waitFor({ timeout: 60_000 });
    const completion = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Fix rectangle drawing' }).first();
    await completion.waitFor({ timeout: 30_000 });
    await page.waitForTimeout(300);
    await shot(page, 'scm-complete-quickpick.png');
    await completion.click();
    await boxMatches(page, /^Fixrectangledrawingintherenderer\(\d+\)$/, 30_000);

    // 3. The ✨ inside the message box (the proposed-API flavour, enabled here) works the same way.
    await page.locator('.scm-editor .monaco-editor').click();
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Backspace');
    const boxSparkle = page
      .locator(
        '.scm-editor a.action-label[aria-label="Suggest commit message"], .scm-input a.action-label[aria-label="Suggest commit message"]',
      )
      .first();
    await boxSparkle.waitFor({ timeout: 30_000 });
    await boxSparkle.click();
    await pastList.waitFor({ timeout: 60_000 });
    await page.waitForTimeout(300);
    await shot(page, 'scm-inputbox-sparkle.png');
    await page.keyboard.press('Escape');
    await page.waitForTimeout(300);
    assert.equal(await inputText(page), '', 'the in-box ✨ leaves an empty box empty too');

    // 4. The risk item: score and level for the staged change; its report opens beside the editor.
    const risk = page.locator('.statusbar-item', { hasText: /Risk (low|medium|high) \d+%/ }).first();
    await risk.waitFor({ timeout: 90_000 }).catch(async (err) => {
      await shot(page, 'risk-statusbar-failed.png');
      throw err;
    });
    const riskText = await risk.innerText();
    await shot(page, 'risk-statusbar.png');
    await risk.click();
    await page.locator('.tab', { hasText: 'Changeling: risk of the staged change' }).waitFor({ timeout: 30_000 });
    // The report is a webview: an iframe inside an iframe; wait until its page has rendered.
    let report = '';
    for (let i = 0; i < 60 && !/Reasons/.test(report); i++) {
      await page.waitForTimeout(500);
      for (const f of page.frames()) report += await f.evaluate(() => document.body?.innerText ?? '').catch(() => '');
    }
    await page.waitForTimeout(500);
    await shot(page, 'risk-report.png');
    assert.match(report, /Risk of the staged change/);
    assert.match(report, /Reasons[\s\S]*(raises|lowers)/);
    assert.match(riskText, /Risk (low|medium|high) \d+%/);
  },
);

test(
  'In a real VS Code with a code LLM chosen: its first candidate shows in a list as it is written; a pick fills the empty box; the edited message committed is paired with it',
  { timeout: 300_000 },
  async () => {
    const model = writeTinyQwen2(join(tempDir(), 'qwen2-chat'));
    const { page, sparkle, repo } = await openScm({ 'changeling.messages.model': model, 'changeling.risk.debounceMs': 300 });
    await sparkle.click();
    // A tiny random model writes nonsense, but it is the model's own text: a list of what it wrote, no old commits' messages first.
    const list = page.locator('.quick-input-widget', { hasText: 'writing a commit message with qwen2-chat' });
    await list.waitFor({ timeout: 120_000 });
    // Written: the same list now holds the candidates to pick from.
    await page.locator('.quick-input-widget', { hasText: 'commit message suggestions' }).waitFor({ timeout: 120_000 });
    assert.equal(await page.locator('.quick-input-widget', { hasText: 'similar past commits' }).count(), 0);
    await page.waitForTimeout(300);
    await shot(page, 'scm-suggest-llm.png');
    const first = (await page.locator('.quick-input-widget .monaco-list-row .label-name').first().innerText()).replace(/\s+/g, '');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => (document.querySelector('.scm-editor .view-lines')?.textContent ?? '').trim().length > 0, null, {
      timeout: 30_000,
    });
    assert.ok((await inputText(page)).startsWith(first), 'the picked candidate is in the box');
    const suggested = (await page.evaluate(() => document.querySelector('.scm-editor .view-lines')?.textContent ?? '')).trim();
    // The user rewrites the message and commits from the box (Ctrl+Enter): VS Code's commit moves HEAD, and the
    // suggestion is paired with what was committed, in the git folder.
    await page.locator('.scm-editor .monaco-editor').click();
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Backspace');
    await page.keyboard.type('Draw the wide rectangle in the renderer');
    await page.keyboard.press('Control+Enter');
    const edits = join(repo.dir, '.git', 'changeling', 'edits.jsonl');
    const deadline = Date.now() + 60_000;
    while (!existsSync(edits) && Date.now() < deadline) await page.waitForTimeout(250);
    assert.ok(existsSync(edits), 'the pair was recorded');
    const pair = JSON.parse(readFileSync(edits, 'utf8').trim());
    assert.equal(pair.committed, 'Draw the wide rectangle in the renderer');
    assert.equal(pair.via, 'vscode');
    assert.equal(pair.suggested.replace(/\s+/g, ''), suggested.replace(/\s+/g, ''));
    assert.equal(pair.sha, repo.git('rev-parse', 'HEAD').trim());
  },
);

test(
  'In a real VS Code with a local model server: the message streams in, a pick fills subject and body, typed text is completed and kept',
  { timeout: 300_000 },
  async () => {
    const subject = 'Draw the last rectangle of the renderer';
    const body = 'The renderer now draws the rectangle at x99 and y99 as well, so the\nlast shape of the canvas is no longer missing.';
    const stub = await startChatStub(
      (b) => {
        const last = (b.messages as Array<{ role: string; content: string }>).at(-1)!;
        return last.role === 'assistant' ? 'draw the rectangle at x99' : `${subject}\n\n${body}`;
      },
      { delayMs: 40 },
    );
    try {
      const { page, sparkle } = await openScm({
        'changeling.messages.server': stub.url,
        'changeling.messages.serverModel': 'qwen2.5-coder:1.5b',
        'changeling.risk.debounceMs': 300,
      });
      await sparkle.click();
      const list = page.locator('.quick-input-widget', { hasText: `writing a commit message with qwen2.5-coder:1.5b at ${stub.url}` });
      await list.waitFor({ timeout: 60_000 });
      await page.waitForTimeout(800);
      await shot(page, 'scm-suggest-server-streaming.png');
      await page.locator('.quick-input-widget', { hasText: 'commit message suggestions' }).waitFor({ timeout: 60_000 });
      await page.locator('.quick-input-widget .monaco-list-row', { hasText: subject }).first().waitFor({ timeout: 30_000 });
      await shot(page, 'scm-suggest-server.png');
      await page.keyboard.press('Enter');
      await boxMatches(page, new RegExp(`^${(subject + body).replace(/\s+/g, '')}$`), 30_000);
      // The box holds the subject, an empty line and the wrapped body, as the model wrote them.
      const lines = await page.evaluate(() => [...document.querySelectorAll('.scm-editor .view-line')].map((l) => l.textContent ?? ''));
      // (the narrow box wraps long lines over several view lines: the first empty one ends the subject)
      const blank = lines.findIndex((l) => !l.trim());
      assert.ok(blank > 0, JSON.stringify(lines));
      assert.equal(lines.slice(0, blank).join('').replace(/\s+/g, ''), subject.replace(/\s+/g, ''));
      // Typed text: the server continues it; the box keeps it as typed.
      await page.locator('.scm-editor .monaco-editor').click();
      await page.keyboard.press('Control+A');
      await page.keyboard.press('Backspace');
      await page.keyboard.type('fix(render): ');
      await sparkle.click();
      const completion = page
        .locator('.quick-input-widget .monaco-list-row', { hasText: 'fix(render): draw the rectangle at x99' })
        .first();
      await completion.waitFor({ timeout: 60_000 });
      await page.locator('.quick-input-widget', { hasText: 'complete your commit message' }).waitFor({ timeout: 60_000 });
      await shot(page, 'scm-complete-server.png');
      await page.keyboard.press('Enter');
      await boxMatches(page, /^fix\(render\):drawtherectangleatx99$/, 30_000);
      const asked = stub.requests.at(-1)!.body.messages as Array<{ role: string; content: string }>;
      assert.deepEqual(asked.at(-1), { role: 'assistant', content: 'fix(render): ' });
    } finally {
      await stub.close();
    }
  },
);
