/** Errors Changeling shows to people: a stable code for programs, a message that says what to do. */
export type ErrorCode =
  | 'usage'
  | 'not-found'
  | 'not-a-repository'
  | 'empty-repository'
  | 'bad-revision'
  | 'git-failed'
  | 'cancelled'
  | 'disk-full'
  | 'io';

export class ChangelingError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ChangelingError';
  }
}

export function cancelledError(): ChangelingError {
  return new ChangelingError('cancelled', 'cancelled');
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancelledError();
}

/** Turns a Node file-system error into one that names the file and the remedy. */
export function fileError(err: unknown, path: string, doing: string): ChangelingError {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC') return new ChangelingError('disk-full', `disk full while ${doing} ${path}; free some space and try again`, { cause: err });
  if (code === 'EDQUOT') return new ChangelingError('disk-full', `disk quota exceeded while ${doing} ${path}`, { cause: err });
  if (code === 'EACCES' || code === 'EPERM') return new ChangelingError('io', `permission denied while ${doing} ${path}`, { cause: err });
  if (code === 'ENOENT') return new ChangelingError('not-found', `no such file or folder while ${doing} ${path}`, { cause: err });
  if (err instanceof ChangelingError) return err;
  return new ChangelingError('io', `${(err as Error)?.message ?? String(err)} (while ${doing} ${path})`, { cause: err });
}
