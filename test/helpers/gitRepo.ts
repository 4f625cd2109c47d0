import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const ENV = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Ada Tester',
  GIT_AUTHOR_EMAIL: 'ada@example.com',
  GIT_COMMITTER_NAME: 'Ada Tester',
  GIT_COMMITTER_EMAIL: 'ada@example.com',
  LC_ALL: 'C',
};

const made: string[] = [];
process.on('exit', () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A fresh temporary folder, removed when the test process exits. */
export function tempDir(prefix = 'changeling-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

/** A real git repository in a temporary folder, with helpers to build history. */
export class TestRepo {
  private clock = Date.UTC(2024, 0, 1) / 1000;

  constructor(readonly dir: string) {}

  static init(opts: { bare?: boolean } = {}): TestRepo {
    const r = new TestRepo(tempDir());
    r.git('init', '-q', '-b', 'main', ...(opts.bare ? ['--bare'] : []));
    r.git('config', 'commit.gpgsign', 'false');
    return r;
  }

  git(...args: string[]): string {
    const date = `@${this.clock} +0000`;
    return execFileSync('git', ['-c', 'protocol.file.allow=always', ...args], {
      cwd: this.dir,
      env: { ...ENV, GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 1 << 28,
    });
  }

  write(path: string, content: string | Buffer, mode?: number): this {
    const p = join(this.dir, path);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
    if (mode !== undefined) chmodSync(p, mode);
    return this;
  }

  remove(path: string): this {
    rmSync(join(this.dir, path), { force: true, recursive: true });
    return this;
  }

  /** Stages everything and commits, one day after the previous commit; returns the new sha. */
  commit(message: string, ...extra: string[]): string {
    this.clock += 86400;
    this.git('add', '-A');
    this.git('commit', '-q', '-m', message, ...extra);
    return this.git('rev-parse', 'HEAD').trim();
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
