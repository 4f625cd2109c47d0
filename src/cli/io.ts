import { ChangelingError } from '../util/errors.js';
import { fieldText, terminalSafe } from '../util/text.js';
import { stopSignal } from '../util/cleanup.js';

/**
 * The command line's input and output: every write to stdout and stderr (escaped), progress lines, option
 * parsing helpers, the stop signal.
 */

export { fieldText, terminalSafe };

let verbose = false;
/** --verbose (any command): provider probing and stack traces of unexpected errors on stderr. */
export const setVerbose = (v: boolean) => void (verbose = v);
export const isVerbose = () => verbose;

/**
 * The one way the command line writes: stdout and stderr through these functions only (a source scan in
 * the tests fails on a raw write elsewhere). Text is escaped (control and bidi characters) here. A failed
 * write to stdout (a full disk, an I/O error, a closed descriptor) ends the command with exit 1 and one line,
 * never exit 0 with output lost; a reader that went away (EPIPE, as with `| head`) ends it quietly.
 */
let outFailure: NodeJS.ErrnoException | null = null;

const outError = (err: NodeJS.ErrnoException) =>
  new ChangelingError(
    err.code === 'ENOSPC' || err.code === 'EDQUOT' ? 'disk-full' : 'io',
    `could not write the output (${err.code === 'ENOSPC' ? 'the disk is full' : (err.code ?? err.message)}); what was printed is incomplete`,
    { cause: err },
  );

/** Records a failure of stdout (from its 'error' event); EPIPE is a reader that left, not a failure. */
export function noteStdoutError(err: NodeJS.ErrnoException): void {
  if (err.code !== 'EPIPE' && !outFailure) outFailure = err;
}

/** Waits until everything written to stdout is flushed; then the failure, if any, as an error. */
export async function stdoutResult(): Promise<ChangelingError | null> {
  if (!process.stdout.destroyed && !outFailure)
    await new Promise<void>((resolve) =>
      process.stdout.write('', (err) => {
        if (err) noteStdoutError(err);
        resolve();
      }),
    );
  return outFailure ? outError(outFailure) : null;
}

/** Writes human output to stdout (control characters escaped) honouring backpressure; resolves false when the reader has gone (EPIPE). */
export function writeOut(text: string): Promise<boolean> {
  return writeRaw(terminalSafe(text));
}

/** Writes to stderr (control characters escaped): messages, notes, summaries. */
export function writeErr(text: string): void {
  process.stderr.write(terminalSafe(text));
}

/** Writes program output that is already safe (JSON, the help text) to a stream. */
export function writeVerbatim(text: string, to: 'stdout' | 'stderr' = 'stdout'): Promise<boolean> {
  if (to === 'stderr') {
    process.stderr.write(text);
    return Promise.resolve(true);
  }
  return writeRaw(text);
}

function writeRaw(text: string): Promise<boolean> {
  if (outFailure) return Promise.reject(outError(outFailure));
  return new Promise((resolve, reject) => {
    if (process.stdout.destroyed) return resolve(false);
    const ok = process.stdout.write(text, (err) => {
      if (!err) return;
      noteStdoutError(err as NodeJS.ErrnoException);
      if ((err as NodeJS.ErrnoException).code === 'EPIPE') resolve(false);
      else reject(outError(err as NodeJS.ErrnoException));
    });
    if (ok) resolve(true);
    else process.stdout.once('drain', () => resolve(true));
  });
}

/** JSON on stdout (JSON escapes control characters itself; texts are whole). */
export function printJson(value: unknown): Promise<boolean> {
  return writeRaw(JSON.stringify(value, null, 2) + '\n');
}

/** A progress line on stderr: rewritten in place on a terminal, every few seconds otherwise. */
export class StderrProgress {
  private last = 0;
  private readonly tty = process.stderr.isTTY === true;
  private shown = false;

  constructor(private readonly quiet = false) {}

  update(text: string, force = false): void {
    if (this.quiet) return;
    const now = Date.now();
    if (!force && now - this.last < (this.tty ? 100 : 5000)) return;
    this.last = now;
    if (this.tty) process.stderr.write(`\r\x1b[2K${fieldText(text, 300)}`);
    else process.stderr.write(`${fieldText(text, 300)}\n`);
    this.shown = true;
  }

  done(text?: string): void {
    if (this.quiet) return;
    if (this.tty && this.shown) process.stderr.write('\r\x1b[2K');
    if (text) process.stderr.write(`${terminalSafe(text)}\n`);
  }
}

export function parseCount(name: string, value: string | undefined, max = Number.MAX_SAFE_INTEGER, min = 0): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new ChangelingError('usage', `--${name} needs a whole number, not ${JSON.stringify(value.slice(0, 40))}`);
  const n = Number(value);
  if (n < min || n > max) throw new ChangelingError('usage', `--${name} must be from ${min} to ${max} (not ${value.slice(0, 40)})`);
  return n;
}

/** An AbortSignal that fires on Ctrl-C, SIGTERM or SIGHUP (see util/cleanup.ts); a second one exits at once. */
export function interruptSignal(): AbortSignal {
  return stopSignal();
}
