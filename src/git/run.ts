import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { ChangelingError, cancelledError } from '../util/errors.js';

/**
 * Options every diff-producing git call gets, so that the user's configuration (external diff tools,
 * textconv, no-prefix, mnemonic prefixes, colour, submodule log format) cannot change what we parse.
 */
export const DIFF_ARGS = ['--no-color', '--no-ext-diff', '--no-textconv', '--src-prefix=a/', '--dst-prefix=b/', '--submodule=short', '-M'];

/**
 * Configuration placed before every git subcommand. Besides fixing what we parse (quoted paths, prefixes,
 * signatures), it keeps a repository's own configuration from running programs: a repository is data, and
 * opening one (an untrusted clone, a downloaded archive) must not run its `core.fsmonitor`, pager, external
 * diff, ssh command or credential helpers (no call runs a hook: none commits, merges, checks out or pushes).
 * `--no-textconv` and `--no-ext-diff` go on every command that takes them (`DIFF_ARGS`, blame); filters (clean
 * and smudge) run only when git reads or writes the work tree, which no call does (staged changes are read from
 * the index, blame always names a revision).
 */
export const GIT_CONFIG = [
  '--no-pager',
  '-c',
  'core.quotePath=false',
  '-c',
  'diff.noprefix=false',
  '-c',
  'log.showSignature=false',
  '-c',
  'core.fsmonitor=false',
  '-c',
  'core.pager=cat',
  '-c',
  'diff.external=',
  '-c',
  'core.sshCommand=ssh',
  '-c',
  'credential.helper=',
  '-c',
  'core.askPass=',
  '-c',
  'protocol.ext.allow=never',
];

/** The environment of every git process: no prompts, no pager, no lazy fetches (partial clones), no optional locks. */
function gitEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GIT_TERMINAL_PROMPT: '0',
    LC_ALL: 'C',
    GIT_PAGER: 'cat',
    PAGER: 'cat',
    GIT_NO_LAZY_FETCH: '1',
    GIT_OPTIONAL_LOCKS: '0',
  };
  delete env.GIT_EXTERNAL_DIFF;
  delete env.GIT_ASKPASS;
  delete env.SSH_ASKPASS;
  return env;
}

let gitBinary = process.env.CHANGELING_GIT || 'git';

/**
 * Which git to run: VS Code's `git.path` setting in the extension, `CHANGELING_GIT` on the command line,
 * otherwise `git` from PATH. (Both sources are the user's own machine configuration.)
 */
export function setGitBinary(path: string | undefined | null): void {
  gitBinary = path || process.env.CHANGELING_GIT || 'git';
}

export function gitBinaryPath(): string {
  return gitBinary;
}

export interface GitProcess {
  stdout: AsyncIterable<Buffer>;
  /** Resolves when git exits; rejects with its stderr when it fails (or when cancelled). */
  done: Promise<void>;
  kill(): void;
}

/**
 * The one way Changeling starts git: every git process, streaming or not, comes from here (a source scan
 * in the tests fails on a child process started elsewhere), with `GIT_CONFIG` and `gitEnv()`.
 */
export function spawnGit(cwd: string, args: string[], signal?: AbortSignal, input?: string): GitProcess {
  if (signal?.aborted) throw cancelledError();
  const child = spawn(gitBinary, [...GIT_CONFIG, ...args], {
    cwd,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    env: gitEnv(),
  }) as ChildProcessByStdio<Writable | null, Readable, Readable>;
  // Input for --stdin (revisions that would not fit on a command line); git may exit before reading it all.
  if (input !== undefined && child.stdin) {
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  }
  const stderr: Buffer[] = [];
  child.stderr.on('data', (b: Buffer) => {
    if (stderr.length < 64) stderr.push(b);
  });
  let aborted = false;
  const onAbort = () => {
    aborted = true;
    child.kill('SIGTERM');
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (err: NodeJS.ErrnoException) => {
      signal?.removeEventListener('abort', onAbort);
      reject(
        err.code === 'ENOENT'
          ? new ChangelingError(
              'git-failed',
              `git was not found (${gitBinary}); install git 2.31 or newer, or set git.path / CHANGELING_GIT`,
            )
          : new ChangelingError('git-failed', `could not run git: ${err.message}`, { cause: err }),
      );
    });
    child.on('close', (code, sig) => {
      signal?.removeEventListener('abort', onAbort);
      if (aborted) return reject(cancelledError());
      if (code === 0) return resolve();
      const msg = Buffer.concat(stderr).toString('utf8').trim();
      reject(new ChangelingError('git-failed', `git ${args[0]} failed (${sig ?? `exit ${code}`}): ${msg || 'no message'}`));
    });
  });
  done.catch(() => {}); // observed by callers; avoid unhandled rejections when they stop early
  return { stdout: child.stdout, done, kill: () => child.kill('SIGTERM') };
}

/** Runs git and returns its whole stdout as bytes (for outputs that are bounded, like one diff). */
export async function gitBytes(cwd: string, args: string[], signal?: AbortSignal): Promise<Buffer> {
  const p = spawnGit(cwd, args, signal);
  const parts: Buffer[] = [];
  for await (const chunk of p.stdout) parts.push(chunk);
  await p.done;
  return Buffer.concat(parts);
}

/** Runs git and returns its whole stdout as text. */
export async function gitText(cwd: string, args: string[], signal?: AbortSignal): Promise<string> {
  return (await gitBytes(cwd, args, signal)).toString('utf8');
}

/** A repository's git, bound to its folder: `raw(args)` is git's stdout, or a `git-failed` error with its message. */
export class Git {
  constructor(readonly cwd: string) {}

  raw(args: string[], signal?: AbortSignal): Promise<string> {
    return gitText(this.cwd, args, signal);
  }
}
