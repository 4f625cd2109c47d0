/// <reference lib="dom" />
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { tempDir } from '../test/helpers/gitRepo.js';
import { CodeServer } from '../test/e2e/codeServer.js';

/**
 * `npm run bench -- vscode REPO`: a new user's first waits in a real VS Code (code-server + headless
 * Chromium, as the end-to-end tests run it; `./scripts/setup-e2e.sh` and `npm run package` first): a clone of
 * REPO with one line added to a tracked file and staged, no model downloaded. Measured from the moment the
 * workbench is up: the risk item in the status bar, and the first ✨ list (similar past commits).
 */
export async function vscodeTimesBench(args: string[]): Promise<Record<string, unknown>> {
  const repoPath = args.find((a) => !a.startsWith('--'));
  if (!repoPath) throw new Error('usage: npm run bench -- vscode REPO');
  const vsix = resolve('dist/changeling-linux-x64.vsix');
  if (!existsSync(vsix)) throw new Error(`${vsix} is missing: run "npm run package" first`);
  const clone = join(tempDir(), 'repo');
  execFileSync('git', ['clone', '-q', '--no-hardlinks', resolve(repoPath), clone]);
  const git = (...a: string[]) => execFileSync('git', ['-C', clone, ...a], { encoding: 'utf8' });
  const file = git('ls-files', '*.js', '*.ts', '*.py', '*.go', '*.java', '*.rs')
    .split('\n')
    .find((f) => f && !f.includes('test'))!;
  appendFileSync(join(clone, file), '\n// a staged line\n');
  git('add', file);
  const commits = Number(git('rev-list', '--count', 'HEAD').trim());
  const cs = new CodeServer();
  try {
    const page = await cs.launch(vsix, clone, { settings: { 'changeling.risk.debounceMs': 1500 } });
    const t0 = performance.now();
    await page.keyboard.press('Control+Shift+G');
    await page
      .locator('.statusbar-item', { hasText: /Risk (low|medium|high) \d+%/ })
      .first()
      .waitFor({ timeout: 180_000 });
    const riskSeconds = (performance.now() - t0) / 1000;
    // The Source Control view lists the staged file; its title bar then has the ✨.
    await page
      .locator('.scm-view .monaco-list-row', { hasText: basename(file) })
      .first()
      .waitFor({ timeout: 60_000 });
    await page.locator('.scm-view').first().hover();
    const sparkle = page.locator('.part.sidebar a.action-label[aria-label*="Suggest commit message"]:visible').first();
    await sparkle.waitFor({ timeout: 60_000 }).catch(async (err) => {
      await page.screenshot({ path: join('test-artifacts', 'bench-vscode-failed.png') });
      throw err;
    });
    const t1 = performance.now();
    await sparkle.click();
    await page.locator('.quick-input-widget', { hasText: 'similar past commits' }).waitFor({ timeout: 180_000 });
    const listSeconds = (performance.now() - t1) / 1000;
    process.stderr.write(
      `${repoPath} (${commits} commits, ${file} changed): the risk item ${riskSeconds.toFixed(1)} s after the workbench was up, the first ✨ list ${listSeconds.toFixed(1)} s after the click\n`,
    );
    return { bench: 'vscode', repo: repoPath, commits, riskSeconds, listSeconds };
  } finally {
    await cs.stop();
  }
}
