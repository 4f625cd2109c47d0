import { isUtf8 } from 'node:buffer';

/**
 * Splits a byte stream into lines as byte ranges (`buf[start..end)`, without the "\n"), copying no more than the
 * one partial line that spans two chunks. `onBlock` sees each chunk's run of whole lines first (the range up
 * to and including its last "\n"), for checks better made once per chunk than per line.
 */
export class ByteLineSplitter {
  private rest: Buffer | null = null;

  constructor(
    private readonly onLine: (buf: Buffer, start: number, end: number) => void,
    private readonly onBlock?: (buf: Buffer, start: number, end: number) => void,
  ) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.rest) {
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = null;
    }
    const last = buf.lastIndexOf(0x0a);
    if (last < 0) {
      this.rest = Buffer.from(buf);
      return;
    }
    this.onBlock?.(buf, 0, last + 1);
    let start = 0;
    while (start <= last) {
      const nl = buf.indexOf(0x0a, start);
      this.onLine(buf, start, nl);
      start = nl + 1;
    }
    if (start < buf.length) this.rest = Buffer.from(buf.subarray(start));
  }

  /** Flushes a final line that has no "\n". */
  end(): void {
    if (this.rest && this.rest.length > 0) this.onLine(this.rest, 0, this.rest.length);
    this.rest = null;
  }
}

/**
 * Splits a byte stream into lines of text. Lines are decoded as UTF-8; a line that is not valid UTF-8 is
 * decoded as Latin-1 (so every byte survives as one character) and reported as such. The trailing "\n" is
 * removed; a "\r" before it is kept.
 */
export class LineSplitter {
  /** Whether the current chunk's whole lines are valid UTF-8 (checked once per chunk). */
  private whole = false;
  private readonly bytes = new ByteLineSplitter(
    (buf, start, end) => this.emit(buf, start, end, this.whole),
    (buf, start, end) => (this.whole = isUtf8(buf.subarray(start, end))),
  );

  constructor(private readonly onLine: (text: string, nonUtf8: boolean) => void) {}

  push(chunk: Buffer): void {
    this.bytes.push(chunk);
  }

  /** Flushes a final line that has no "\n". */
  end(): void {
    this.whole = false;
    this.bytes.end();
  }

  private emit(buf: Buffer, start: number, end: number, knownUtf8: boolean): void {
    if (knownUtf8 || isUtf8(buf.subarray(start, end))) this.onLine(buf.toString('utf8', start, end), false);
    else this.onLine(buf.toString('latin1', start, end), true);
  }
}

/** Splits a whole buffer or string into lines the same way the streaming splitter does. */
export function splitLines(input: Buffer | string, onLine: (text: string, nonUtf8: boolean) => void): void {
  const s = new LineSplitter(onLine);
  s.push(typeof input === 'string' ? Buffer.from(input, 'utf8') : input);
  s.end();
}
