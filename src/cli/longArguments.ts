import { spawn } from 'node:child_process';
import { STOP_SIGNALS, signalExitCode, type StopSignal } from '../util/cleanup.js';

/**
 * onnxruntime reads the process's command line (/proc/self/cmdline) when it creates a session and crashes
 * (SIGSEGV, deep recursion) when that line is long: a pasted 30 KB `--prefix` took `suggest` and `input` down
 * with nothing printed. A command line over this many characters is therefore handed to a fresh copy of the
 * command line program through the environment instead, with a short command line of its own; it inherits
 * stdin, stdout and stderr, receives the same signals, and its exit code is this process's.
 */
const LONGEST = 8192;
const ENV = 'CHANGELING_ARGV';

let relaunched = false;

/** The arguments: from the environment when this process is such a fresh copy, else from the command line. */
export function commandArguments(): string[] {
  const passed = process.env[ENV];
  if (passed === undefined) return process.argv.slice(2);
  relaunched = true;
  delete process.env[ENV];
  return JSON.parse(passed) as string[];
}

/** Runs the command in a fresh copy when its command line is too long; resolves its exit code, or null to run here. */
export function relaunchIfLong(args: string[]): Promise<number> | null {
  if (relaunched || args.reduce((n, a) => n + a.length + 1, 0) <= LONGEST || !process.argv[1]) return null;
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]], {
    stdio: 'inherit',
    env: { ...process.env, [ENV]: JSON.stringify(args) },
  });
  for (const sig of STOP_SIGNALS) process.on(sig, () => child.kill(sig));
  return new Promise((resolve) => {
    child.on('error', () => resolve(1));
    child.on('close', (code, signal) =>
      resolve(code ?? signalExitCode(STOP_SIGNALS.includes(signal as StopSignal) ? (signal as StopSignal) : 'SIGINT')),
    );
  });
}
