import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { tempDir } from '../helpers/gitRepo.js';

/**
 * A real VS Code (code-server: the VS Code workbench and its Node extension host) on loopback, driven by
 * headless Debian Chromium through playwright-core. Tools come from scripts/setup-e2e.sh.
 */
const NODE_VERSION = '24.21.0';
const CODE_SERVER_VERSION = '4.139.1';

export function e2eTools(): { node: string; codeServer: string } {
  const root = process.env.CHANGELING_E2E_HOME ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'changeling-e2e');
  const node = join(root, `node-${NODE_VERSION}`, 'bin', 'node');
  const codeServer = join(root, `code-server-${CODE_SERVER_VERSION}`, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
  for (const p of [node, codeServer, '/usr/bin/chromium']) {
    if (!existsSync(p))
      throw new Error(`end-to-end tools missing (${p}); run scripts/setup-e2e.sh (and apt-get install chromium libkrb5-dev)`);
  }
  return { node, codeServer };
}

export const ARTIFACTS = join(process.cwd(), 'test-artifacts');

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export class CodeServer {
  private proc: ChildProcess | null = null;
  private context: BrowserContext | null = null;
  readonly log: string[] = [];
  port = 0;
  readonly home = tempDir('changeling-e2e-');
  private readonly tools = e2eTools();

  private dirArgs(): string[] {
    return ['--user-data-dir', join(this.home, 'user'), '--extensions-dir', join(this.home, 'extensions')];
  }

  /**
   * A `git` first on the extension host's PATH that, while the file `slowGitFlag` exists, passes the
   * output of Changeling's history walk through a line at a time with a pause: a repository that is slow
   * to read, so that a cancel button can be clicked while work is under way. All else goes to real git.
   */
  readonly slowGitFlag = join(this.home, 'slow-git');

  private slowGitDir(): string {
    const dir = join(this.home, 'slow-git-bin');
    mkdirSync(dir, { recursive: true });
    const real = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
    writeFileSync(
      join(dir, 'git'),
      `#!/bin/bash\nif [ -e '${this.slowGitFlag}' ] && [[ " $* " == *" log "* ]]; then\n  '${real}' "$@" | while IFS= read -r line; do printf '%s\\n' "$line"; sleep 0.3; done\n  exit \${PIPESTATUS[0]}\nfi\nexec '${real}' "$@"\n`,
      { mode: 0o755 },
    );
    return dir;
  }

  private env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      ...process.env,
      XDG_CONFIG_HOME: join(this.home, 'config'),
      XDG_DATA_HOME: join(this.home, 'data'),
      XDG_CACHE_HOME: join(this.home, 'cache'),
      PATH: `${join(this.tools.node, '..')}:${process.env.PATH}`,
      ...extra,
    };
  }

  installExtension(vsix: string): string {
    return execFileSync(this.tools.node, [this.tools.codeServer, ...this.dirArgs(), '--install-extension', vsix], {
      env: this.env(),
      encoding: 'utf8',
    });
  }

  /** Starts the server; `smokeTestDriver` enables extension tests through the `payload` URL parameter. */
  async start(
    opts: { smokeTestDriver?: boolean; env?: Record<string, string>; args?: string[]; settings?: Record<string, unknown> } = {},
  ): Promise<void> {
    this.port = await freePort();
    const config = join(this.home, 'config.yaml');
    writeFileSync(config, 'auth: none\n');
    mkdirSync(join(this.home, 'user', 'User'), { recursive: true });
    // Quiet, deterministic workbench: no welcome page, no telemetry, no tips over the screenshots.
    writeFileSync(
      join(this.home, 'user', 'User', 'settings.json'),
      JSON.stringify({
        'workbench.startupEditor': 'none',
        'telemetry.telemetryLevel': 'off',
        'workbench.tips.enabled': false,
        'git.openRepositoryInParentFolders': 'always',
        'extensions.ignoreRecommendations': true,
        'window.commandCenter': false,
        'chat.disableAIFeatures': true,
        ...opts.settings,
      }),
    );
    // git.path is machine-scoped: in a remote workbench it is read from the Machine settings.
    mkdirSync(join(this.home, 'user', 'Machine'), { recursive: true });
    writeFileSync(join(this.home, 'user', 'Machine', 'settings.json'), JSON.stringify({ 'git.path': join(this.slowGitDir(), 'git') }));
    const args = [
      this.tools.codeServer,
      '--bind-addr',
      `127.0.0.1:${this.port}`,
      '--auth',
      'none',
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      '--config',
      config,
      ...this.dirArgs(),
      ...(opts.smokeTestDriver ? ['--vscode-option', 'enable-smoke-test-driver'] : []),
      ...(opts.args ?? []),
    ];
    this.proc = spawn(this.tools.node, args, { env: this.env(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (b: Buffer) => this.log.push(b.toString());
    this.proc.stdout!.on('data', keep);
    this.proc.stderr!.on('data', keep);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`code-server exited: ${this.log.join('')}`);
      try {
        const r = await fetch(`http://127.0.0.1:${this.port}/healthz`);
        if (r.ok) return;
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`code-server did not answer /healthz in 60 s: ${this.log.join('')}`);
  }

  async browser(): Promise<BrowserContext> {
    this.context = await chromium.launchPersistentContext(join(this.home, 'chromium'), {
      executablePath: '/usr/bin/chromium',
      headless: true,
      viewport: { width: 1400, height: 900 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    return this.context;
  }

  /** The usual start of a test: the package installed, code-server started, a browser page on `folder`. */
  async launch(vsix: string, folder: string, opts: Parameters<CodeServer['start']>[0] = {}): Promise<Page> {
    const installed = this.installExtension(vsix);
    if (!/was successfully installed/.test(installed)) throw new Error(`${vsix} did not install: ${installed}`);
    await this.start(opts);
    const ctx = await this.browser();
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    await this.open(page, folder);
    return page;
  }

  /** Opens a folder in the workbench and waits until it is ready. */
  async open(page: Page, folder: string, payload?: Array<[string, string]>): Promise<void> {
    let url = `http://127.0.0.1:${this.port}/?folder=${encodeURIComponent(folder)}`;
    if (payload) url += `&payload=${encodeURIComponent(JSON.stringify(payload))}`;
    await page.goto(url);
    await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
  }

  /** Runs a command from the command palette by its title. */
  async runCommand(page: Page, title: string): Promise<void> {
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input.input');
    await input.waitFor({ state: 'visible' });
    await input.fill(`>${title}`);
    await page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first().waitFor({ timeout: 20_000 });
    await page.keyboard.press('Enter');
  }

  async stop(): Promise<void> {
    await this.context?.close().catch(() => {});
    this.proc?.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
  }
}
