import { execFileSync, spawnSync } from 'node:child_process';
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
  if (process.env.CHANGELING_KEEP_TMP) return; // for debugging a failed test
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

  private author: { GIT_AUTHOR_NAME?: string; GIT_AUTHOR_EMAIL?: string } = {};

  git(...args: string[]): string {
    const date = `@${this.clock} +0000`;
    return execFileSync('git', ['-c', 'protocol.file.allow=always', ...args], {
      cwd: this.dir,
      env: { ...ENV, ...this.author, GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 1 << 28,
    });
  }

  /** A git command that may fail (hooks, refused pushes): its exit status and both outputs. */
  gitResult(...args: string[]): { status: number | null; stdout: string; stderr: string } {
    const date = `@${this.clock} +0000`;
    const r = spawnSync('git', ['-c', 'protocol.file.allow=always', ...args], {
      cwd: this.dir,
      env: { ...ENV, ...this.author, GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date },
      encoding: 'utf8',
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
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

  /**
   * Appends `count` commits to main quickly through git fast-import; each rewrites `file` with
   * `lines` lines that all differ from the previous version (so every diff is `lines` lines each way).
   */
  fastHistory(count: number, lines: number, file = 'big.txt'): void {
    const parts: string[] = [];
    for (let c = 0; c < count; c++) {
      this.clock += 60;
      const msg = `change ${c}\n`;
      const body = Array.from({ length: lines }, (_, i) => `commit ${c} line ${i}`).join('\n') + '\n';
      parts.push(
        `commit refs/heads/main\ncommitter Ada Tester <ada@example.com> ${this.clock} +0000\ndata ${Buffer.byteLength(msg)}\n${msg}`,
      );
      if (c === 0 && this.hasCommits()) parts.push('from refs/heads/main^0\n');
      parts.push(`M 100644 inline ${file}\ndata ${Buffer.byteLength(body)}\n${body}\n`);
    }
    execFileSync('git', ['fast-import', '--quiet'], { cwd: this.dir, input: parts.join(''), env: ENV, maxBuffer: 1 << 28 });
    this.git('reset', '-q', '--hard');
  }

  hasCommits(): boolean {
    try {
      this.git('rev-parse', '--verify', '-q', 'HEAD');
      return true;
    } catch {
      return false;
    }
  }

  /** Commits as another author, `days` after the previous commit. */
  commitAs(message: string, author: { name: string; email: string }, days = 1): string {
    this.clock += 86400 * (days - 1);
    this.author = { GIT_AUTHOR_NAME: author.name, GIT_AUTHOR_EMAIL: author.email };
    try {
      return this.commit(message);
    } finally {
      this.author = {};
    }
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A history of six changes to one parser line and a staged change of the same line (CRLF handling): what the
 * code-LLM suggestion tests describe. `keep` collects it for cleanup.
 */
export function parseLineHistory(keep: TestRepo[]): TestRepo {
  const r = TestRepo.init();
  keep.push(r);
  for (let i = 0; i < 6; i++)
    r.write('src/parse.js', `function parseLine(s) {\n  return s.trim() + ${i};\n}\n`).commit(`Change parse ${i}`);
  r.write('src/parse.js', 'function parseLine(s) {\n  return s.replace(/\\r$/, "");\n}\n');
  r.git('add', '-A');
  return r;
}

/**
 * Two kinds of change with their own messages, alternating `n` times (parser tokens, guide options): something a
 * message model learns in a few steps. `body` gives the parser commits a body line. `keep` collects it for cleanup.
 */
export function twoKindsHistory(keep: TestRepo[], n: number, o: { body?: boolean } = {}): TestRepo {
  const r = TestRepo.init();
  keep.push(r);
  let a = '';
  let b = '';
  for (let i = 0; i < n; i++) {
    if (i % 2)
      r.write('src/parser.js', (a += `const token${i} = lexer.next(json);\n`)).commit(
        o.body ? 'Add parser token\n\nThe lexer reads one more.' : 'Add parser token',
      );
    else r.write('docs/guide.md', (b += `Option ${i} is documented here.\n`)).commit('Update the guide');
  }
  return r;
}
