import { ChangelingError } from '../util/errors.js';

/** Writes to stdout honouring backpressure; resolves false when the reader has gone (EPIPE). */
export function writeOut(text: string): Promise<boolean> {
  return new Promise((resolve) => {
    if (process.stdout.destroyed) return resolve(false);
    const ok = process.stdout.write(text, (err) => {
      if (err) resolve(false);
    });
    if (ok) resolve(true);
    else process.stdout.once('drain', () => resolve(true));
  });
}

export function printJson(value: unknown): Promise<boolean> {
  return writeOut(JSON.stringify(value, null, 2) + '\n');
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
    if (this.tty) process.stderr.write(`\r\x1b[2K${text}`);
    else process.stderr.write(`${text}\n`);
    this.shown = true;
  }

  done(text?: string): void {
    if (this.quiet) return;
    if (this.tty && this.shown) process.stderr.write('\r\x1b[2K');
    if (text) process.stderr.write(`${text}\n`);
  }
}

export function parseCount(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new ChangelingError('usage', `--${name} needs a whole number, not "${value}"`);
  return Number(value);
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
