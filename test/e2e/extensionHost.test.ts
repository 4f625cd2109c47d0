import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TestRepo, tempDir } from '../helpers/gitRepo.js';
import { ARTIFACTS, CodeServer } from './codeServer.js';

const servers: CodeServer[] = [];
after(async () => {
  for (const s of servers) {
    await s.stop();
    writeFileSync(join(ARTIFACTS, `code-server-host-${s.port}.log`), s.log.join(''));
  }
});

test('mocha tests pass inside the real extension host (smoke-test driver payload)', { timeout: 180_000 }, async () => {
  const checkout = resolve('.');
  const testsModule = join(checkout, 'out/test/vscode/index.js');
  assert.ok(existsSync(testsModule), 'build the tests first (node scripts/build.mjs --tests)');
  mkdirSync(ARTIFACTS, { recursive: true });
  const repo = TestRepo.init();
  repo.write('src/app.js', 'let a = 1;\n').commit('one');
  repo.write('src/app.js', 'let a = 2;\n').commit('two');
  repo.write('src/app.js', 'let a = 3;\n').commit('three');
  repo.write('src/app.js', 'let a = 4;\n').write('yarn.lock', '# lock\n');
  repo.git('add', '-A');
  const outDir = tempDir();
  const report = join(outDir, 'report.json');

  const cs = new CodeServer();
  servers.push(cs);
  await cs.start({
    smokeTestDriver: true,
    env: { CHANGELING_TEST_OUT_DIR: outDir, CHANGELING_TEST_COMMITS: '3', CHANGELING_TEST_REPORT: report },
  });
  const ctx = await cs.browser();
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  const hostLog: string[] = [];
  const exit = new Promise<number>((resolveExit) => {
    void page.exposeFunction('codeAutomationExit', (code: number) => resolveExit(code));
    void page.exposeFunction('codeAutomationLog', (type: string, args: unknown[]) => hostLog.push(`${type}: ${JSON.stringify(args)}`));
  });
  await cs.open(page, repo.dir, [
    ['extensionDevelopmentPath', `vscode-remote://remote${checkout}`],
    ['extensionTestsPath', `vscode-remote://remote${testsModule}`],
  ]);
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([exit, new Promise<number>((r) => (timer = setTimeout(() => r(-1), 150_000)))]);
  clearTimeout(timer);
  await page.screenshot({ path: join(ARTIFACTS, 'extension-host-tests.png') }).catch(() => {});
  writeFileSync(join(ARTIFACTS, 'extension-host-tests.log'), hostLog.join('\n'));
  assert.ok(existsSync(report), `the extension host wrote no report (exit ${code}); log: ${hostLog.slice(-20).join('\n')}`);
  const results = JSON.parse(readFileSync(report, 'utf8')) as Array<{ title: string; state: string; error?: string }>;
  const failed = results.filter((r) => r.state !== 'passed');
  assert.deepEqual(failed, []);
  assert.equal(results.length, 8);
  assert.equal(code, 0);
});
