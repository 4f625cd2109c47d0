/** Errors Changeling shows to people: a stable code for programs, a message that says what to do. */
export type ErrorCode =
  | 'usage'
  /** A command for the staged change found nothing staged (a usage error: exit code 2). */
  | 'nothing-staged'
  | 'not-found'
  | 'not-a-repository'
  | 'empty-repository'
  | 'bad-revision'
  | 'git-failed'
  | 'cancelled'
  | 'disk-full'
  | 'model'
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
  if (code === 'ENOSPC')
    return new ChangelingError('disk-full', `disk full while ${doing} ${path}; free some space and try again`, { cause: err });
  if (code === 'EDQUOT') return new ChangelingError('disk-full', `disk quota exceeded while ${doing} ${path}`, { cause: err });
  if (code === 'EACCES' || code === 'EPERM') return new ChangelingError('io', `permission denied while ${doing} ${path}`, { cause: err });
  if (code === 'EROFS') return new ChangelingError('io', `${path} is on a read-only file system (while ${doing} it)`, { cause: err });
  if (code === 'ENOENT') return new ChangelingError('not-found', `no such file or folder while ${doing} ${path}`, { cause: err });
  if (err instanceof ChangelingError) return err;
  return new ChangelingError('io', `${(err as Error)?.message ?? String(err)} (while ${doing} ${path})`, { cause: err });
}

/**
 * A last resort for errors that did not become ChangelingErrors where they happened: a full disk, or ONNX
 * Runtime's own messages (never shown raw: they name graph nodes, not what the user can do). Anything else
 * is returned as it is (an unexpected error).
 */
export function asChangelingError(err: unknown): unknown {
  if (err instanceof ChangelingError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  const path = (err as NodeJS.ErrnoException)?.path;
  if (code === 'ENOSPC' || code === 'EDQUOT')
    return new ChangelingError(
      'disk-full',
      `the disk is full${path ? ` (writing ${path})` : ''}; free some space and try again (files are written whole or not at all)`,
      { cause: err },
    );
  const msg = (err as Error)?.message ?? '';
  if (
    /Non-zero status code returned while running|Got invalid dimensions|onnxruntime|ORT_|Failed to load model|Invalid rank|Invalid input name/i.test(
      msg,
    )
  ) {
    let why = 'the model could not run on this input';
    if (/Gather/.test(msg) && /out of (data )?bounds/.test(msg))
      why = "a token id is outside the model's vocabulary (a tokenizer that does not belong to this model?)";
    else if (/dimension|shape|rank/i.test(msg))
      why = 'tensor shapes do not fit (weights that do not match the config, or an adapter for another model?)';
    else if (/Failed to load model|protobuf|ModelProto/i.test(msg))
      why = 'a cached graph could not be loaded (delete ~/.cache/changeling/graphs and try again)';
    return new ChangelingError('model', `${why} [ONNX Runtime: ${msg.split('\n')[0]!.slice(0, 160)}]`, { cause: err });
  }
  return err;
}

/** The system error code (ENOENT, EACCES, ...) of an error or of the first error in its cause chain that has one. */
export function errnoOf(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
  }
  return undefined;
}
