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
type StopSignal = keyof typeof SIGNALS;
let stoppedBy: StopSignal | null = null;
let controller: AbortController | null = null;
let listening = false;
let handlersInstalled = false;

/**
 * An AbortSignal that fires on SIGINT (Ctrl-C), SIGTERM or SIGHUP: long work stops, cleans up and the
 * process exits with 128 + the signal's number. A second signal, or a signal while no work listens,
 * exits at once (the temporary paths above are still removed).
 */
export function stopSignal(): AbortSignal {
  controller ??= new AbortController();
  listening = true;
  installSignalHandlers();
  return controller.signal;
}

/** Installs the handlers (the command line does at start, so that every command cleans up on a signal). */
export function installSignalHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  hook();
  controller ??= new AbortController();
  for (const name of Object.keys(SIGNALS) as StopSignal[]) {
    process.on(name, () => {
      const code = 128 + SIGNALS[name];
      if (stoppedBy || !listening) process.exit(code);
      stoppedBy = name;
      controller!.abort();
    });
  }
}

/** The exit code of a run stopped by a signal (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP). */
export function stoppedExitCode(): number {
  return 128 + SIGNALS[stoppedBy ?? 'SIGINT'];
}
