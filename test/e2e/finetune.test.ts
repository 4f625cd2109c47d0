/// <reference lib="dom" />
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TestRepo, tempDir } from '../helpers/gitRepo.js';
import { writeTinyT5 } from '../helpers/tinyModels.js';
import { ARTIFACTS, CodeServer } from './codeServer.js';
import '../helpers/goldens.js';

const VSIX = resolve('dist/changeling-linux-x64.vsix');
const servers: CodeServer[] = [];
after(async () => {
  for (const s of servers) {
    await s.stop();
    writeFileSync(join(ARTIFACTS, `code-server-finetune-${s.port}.log`), s.log.join(''));
  }
});

test(
  'In a real VS Code: "Fine-tune on this repository" trains in the background, opens its report, and "Probe this adapter" compares it with its base layer by layer',
  { timeout: 420_000 },
  async () => {
    assert.ok(existsSync(VSIX), `${VSIX} is missing: run "npm run package" first`);
    mkdirSync(ARTIFACTS, { recursive: true });
    const r = TestRepo.init();
    let a = '';
    let b = '';
    for (let i = 0; i < 40; i++) {
      if (i % 2) r.write('src/parser.js', (a += `const token${i} = lexer.next(json);\n`)).commit(`Add parser token ${i}`);
      else r.write('docs/guide.md', (b += `Option ${i} is documented here.\n`)).commit('Update the guide');
    }
    const model = writeTinyT5(join(tempDir(), 'tiny-t5'));
    const cs = new CodeServer();
    servers.push(cs);
    const page = await cs.launch(VSIX, r.dir, { settings: { 'changeling.messages.model': model, 'changeling.finetune.threads': 2 } });
    // Wait until the workbench has its extensions: the Source Control view shows the repository.
    await page.keyboard.press('Control+Shift+G');
    await page.locator('.scm-view').first().waitFor({ timeout: 60_000 });
    await page.locator('.statusbar-item', { hasText: 'main' }).first().waitFor({ timeout: 60_000 });
    await cs.runCommand(page, 'Changeling: Fine-tune on this repository');
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Commit messages: LoRA' }).first().click();
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Quick' }).first().click();
    // Progress: the notification and the status-bar item while it runs.
    await page.locator('.notification-toast', { hasText: 'fine-tuning commit messages' }).waitFor({ timeout: 60_000 });
    await page.locator('.statusbar-item', { hasText: 'Fine-tuning' }).first().waitFor({ timeout: 60_000 });
    await page.screenshot({ path: join(ARTIFACTS, 'finetune-running.png') });
    await page
      .locator('.tab', { hasText: 'Changeling: fine-tuning report' })
      .waitFor({ timeout: 240_000 })
      .catch(async (err) => {
        await page.screenshot({ path: join(ARTIFACTS, 'finetune-failed.png') });
        throw err;
      });
    let report = '';
    for (let i = 0; i < 60 && !/Examples/.test(report); i++) {
      await page.waitForTimeout(500);
      report = '';
      for (const f of page.frames()) report += await f.evaluate(() => document.body?.innerText ?? '').catch(() => '');
    }
    await page.waitForTimeout(500);
    await page.screenshot({ path: join(ARTIFACTS, 'finetune-report.png') });
    assert.match(report, /Fine-tuning report: commit messages \(lora\)/);
    assert.match(report, /On the newest commits \(held out\)[\s\S]*untuned[\s\S]*tuned[\s\S]*nngen/);
    assert.match(report, /how much of the message you would not need to change/);
    // The run wrote its own folder (adapters/cmg/lora-<time>-<pid>) with the adapter in PEFT's format.
    const runs = readdirSync(join(r.dir, '.git', 'changeling', 'adapters', 'cmg')).filter((n) => n.startsWith('lora-'));
    assert.equal(runs.length, 1, runs.join(', '));
    assert.ok(existsSync(join(r.dir, '.git', 'changeling', 'adapters', 'cmg', runs[0]!, 'adapter_model.safetensors')));
    // The notification offers to probe the adapter: CCM and LTP from this history, base and adapter side by side.
    await page
      .locator('.notification-toast', { hasText: 'fine-tuning finished' })
      .locator('.monaco-button', { hasText: 'Probe this adapter' })
      .click();
    await page
      .locator('.tab', { hasText: 'Changeling: probing report' })
      .waitFor({ timeout: 120_000 })
      .catch(async (err) => {
        await page.screenshot({ path: join(ARTIFACTS, 'probe-failed.png') });
        throw err;
      });
    let probe = '';
    for (let i = 0; i < 60 && !/added or removed line\?/.test(probe); i++) {
      await page.waitForTimeout(500);
      probe = '';
      for (const f of page.frames()) probe += await f.evaluate(() => document.body?.innerText ?? '').catch(() => '');
    }
    await page.waitForTimeout(500);
    await page.screenshot({ path: join(ARTIFACTS, 'probe-report.png') });
    assert.match(
      probe,
      /What the model knows about your changes[\s\S]*does the message belong to the change\?[\s\S]*added or removed line\?/,
    );
    assert.match(probe, /tiny-t5 \(base\)[\s\S]*lora-[^ ]* \(adapter on tiny-t5\)/);
    assert.ok(existsSync(join(r.dir, '.git', 'changeling', 'reports', `probe-${runs[0]}`, 'probe.json')));
  },
);
