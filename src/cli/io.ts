import { ChangelingError } from '../util/errors.js';
import { fieldText, terminalSafe } from '../util/text.js';

export { fieldText, terminalSafe };

let verbose = false;
/** --verbose (any command): provider probing and stack traces of unexpected errors on stderr. */
export const setVerbose = (v: boolean) => void (verbose = v);
export const isVerbose = () => verbose;

/** Writes human output to stdout (control characters escaped) honouring backpressure; resolves false when the reader has gone (EPIPE). */
export function writeOut(text: string): Promise<boolean> {
  return writeRaw(terminalSafe(text));
}

function writeRaw(text: string): Promise<boolean> {
  return new Promise((resolve) => {
    if (process.stdout.destroyed) return resolve(false);
    const ok = process.stdout.write(text, (err) => {
      if (err) resolve(false);
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

/** An AbortSignal that fires on Ctrl-C (first press); a second press exits at once. */
export function interruptSignal(): AbortSignal {
  const ac = new AbortController();
  process.once('SIGINT', () => {
    ac.abort();
    process.once('SIGINT', () => process.exit(130));
  });
  return ac.signal;
}
