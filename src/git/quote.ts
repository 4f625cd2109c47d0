/**
 * git's C-style path quoting ("a\tb", "\303\251"), used for paths with control characters, quotes,
 * backslashes, and (unless core.quotePath is false) non-ASCII bytes. Octal escapes are bytes of UTF-8.
 */
const ESCAPES: Record<string, number> = { a: 7, b: 8, t: 9, n: 10, v: 11, f: 12, r: 13, '"': 34, '\\': 92 };

/** Reads one quoted token starting at `s[start] === '"'`; returns the decoded text and the index after it. */
export function readQuoted(s: string, start: number): { text: string; end: number } {
  const bytes: number[] = [];
  let i = start + 1;
  while (i < s.length) {
    const c = s[i]!;
    if (c === '"') return { text: Buffer.from(bytes).toString('utf8'), end: i + 1 };
    if (c === '\\') {
      const n = s[i + 1] ?? '';
      if (/[0-7]/.test(n)) {
        bytes.push(parseInt(s.slice(i + 1, i + 4), 8));
        i += 4;
        continue;
      }
      const e = ESCAPES[n];
      if (e === undefined) throw new Error(`bad escape \\${n} in quoted path ${s}`);
      bytes.push(e);
      i += 2;
      continue;
    }
    for (const b of Buffer.from(c, 'utf8')) bytes.push(b);
    i += 1;
  }
  throw new Error(`unterminated quoted path ${s}`);
}

/** A path as it appears after "rename from ", "--- " and the like: quoted or plain. */
export function unquotePath(s: string): string {
  return s.startsWith('"') ? readQuoted(s, 0).text : s;
}
