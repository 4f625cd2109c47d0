import { rmSync } from 'node:fs';

/**
 * Temporary paths Changeling made (a file being written, a folder output being filled, a model copy, a
 * lock) and must not leave behind when the process ends, whether it ends normally, on an error, or on
 * SIGINT, SIGTERM or SIGHUP: each is registered while it exists and removed at exit if still there.
 */
const pending = new Set<string>();
let hooked = false;

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const p of pending) {
      try {
        rmSync(p, { recursive: true, force: true });
      } catch {
        // best effort at exit
      }
    }
    pending.clear();
  });
}

/** Removes `path` at exit unless `release`d first. */
export function removeAtExit(path: string): () => void {
  hook();
  pending.add(path);
  return () => void pending.delete(path);
}

const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;
export type StopSignal = keyof typeof SIGNALS;
/** The signals that stop a run. */
export const STOP_SIGNALS = Object.keys(SIGNALS) as StopSignal[];
/** A process ended by `name` exits with 128 + its number (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP). */
export const signalExitCode = (name: StopSignal) => 128 + SIGNALS[name];

const controller = new AbortController();
let stoppedBy: StopSignal | null = null;
let listening = false;
let handlersInstalled = false;

/**
 * An AbortSignal that fires on SIGINT (Ctrl-C), SIGTERM or SIGHUP: long work stops, cleans up and the
 * process exits with 128 + the signal's number. A second signal, or a signal while no work listens,
 * exits at once (the temporary paths above are still removed).
 */
export function stopSignal(): AbortSignal {
  listening = true;
  installSignalHandlers();
  return controller.signal;
}

/** Installs the handlers (the command line does at start, so that every command cleans up on a signal). */
export function installSignalHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  hook();
  for (const name of STOP_SIGNALS) {
    process.on(name, () => {
      if (stoppedBy || !listening) process.exit(signalExitCode(name));
      stoppedBy = name;
      controller.abort();
    });
  }
}

/** The exit code of a run stopped by a signal. */
export function stoppedExitCode(): number {
  return signalExitCode(stoppedBy ?? 'SIGINT');
}
