import * as vscode from 'vscode';
import { ChangelingError } from '../util/errors.js';

/**
 * The one way Changeling's commands show progress, take cancellation and report failure, so that every
 * command behaves alike: a notification with a Cancel button whose press aborts the work's signal; a
 * cancelled run ends quietly or with the command's own sentence; an expected condition (an error code the
 * command names, such as nothing-staged) is information, not an error; anything else is logged and shown
 * as one "Changeling: ..." line.
 */
export interface Progress {
  /** A status line; `percent` (0-100) moves the bar. */
  report(message: string, percent?: number): void;
  signal: AbortSignal;
}

export function withCancellableProgress<T>(
  title: string,
  work: (p: Progress) => Promise<T>,
  o: { sourceControl?: boolean } = {},
): Promise<T> {
  const run = () =>
    vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Changeling: ${title}`, cancellable: true },
      (progress, token) => {
        const ac = new AbortController();
        token.onCancellationRequested(() => ac.abort());
        let shown = 0;
        return work({
          signal: ac.signal,
          report: (message, percent) => {
            progress.report({ message, ...(percent === undefined ? {} : { increment: percent - shown }) });
            if (percent !== undefined) shown = percent;
          },
        });
      },
    );
  // `sourceControl`: also the Source Control view's own progress bar, for work on the message box.
  return Promise.resolve(o.sourceControl ? vscode.window.withProgress({ location: vscode.ProgressLocation.SourceControl }, run) : run());
}

export interface FailureOptions {
  /** Shown as information when the user cancelled (default: nothing). */
  cancelled?: string;
  /** Error codes that are expected conditions, with the information sentence for each. */
  expected?: Partial<Record<string, string>>;
}

/** Reports what a command's failure means to the user; returns whether it was an ordinary outcome (cancel, expected). */
export function reportFailure(err: unknown, log: vscode.LogOutputChannel, what: string, o: FailureOptions = {}): boolean {
  const code = err instanceof ChangelingError ? err.code : undefined;
  if (code === 'cancelled') {
    log.info(`${what}: cancelled`);
    if (o.cancelled) void vscode.window.showInformationMessage(`Changeling: ${o.cancelled}`);
    return true;
  }
  const expected = code !== undefined ? o.expected?.[code] : undefined;
  if (expected) {
    log.info(`${what}: ${(err as Error).message}`);
    void vscode.window.showInformationMessage(`Changeling: ${expected}`);
    return true;
  }
  log.error(`${what}: ${(err as Error)?.message ?? String(err)}`);
  void vscode.window.showErrorMessage(`Changeling: ${(err as Error)?.message ?? String(err)}`);
  return false;
}
