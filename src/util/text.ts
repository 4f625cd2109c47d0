import { ChangelingError } from './errors.js';

/**
 * The one policy for showing text that came from outside (a repository, a file or folder name, the
 * network, the user): on the terminal and in the Markdown and HTML reports, C0 and C1 control characters
 * (escape sequences that could clear the screen or set the title, carriage returns) and the bidirectional
 * controls that reorder what a reader sees (U+061C, U+200E-200F, U+202A-202E, U+2066-2069) are written as
 * \xNN or \uNNNN, as git quotes unusual paths. Newlines and tabs stay.
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f\x80-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const escapeChar = (c: string) => {
  const n = c.charCodeAt(0);
  return n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
};

/** Text for a terminal or a report: control and bidi characters escaped, newlines and tabs kept. */
export const terminalSafe = (s: string) => s.replace(CONTROL, escapeChar);

/** One field of a table or line: tabs and newlines escaped too, and cut at `max` characters. */
export function fieldText(s: string, max = 200): string {
  const t = terminalSafe(s).replace(/\t/g, '\\t').replace(/\n/g, '\\n');
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/**
 * `s` without the characters `drop` accepts (by char code) at either end: a trim in linear time (a pattern such
 * as `\s+$` backtracks on long inner runs).
 */
export function trimWhere(s: string, drop: (code: number) => boolean): string {
  let a = 0;
  let b = s.length;
  while (a < b && drop(s.charCodeAt(a))) a++;
  while (b > a && drop(s.charCodeAt(b - 1))) b--;
  return s.slice(a, b);
}

/** Python's str.isspace() white space (Unicode), which differs from JavaScript's \s (\x1c-\x1f, \x85; no \ufeff). */
export const PY_SPACE = '[\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const PY_STRIP = new RegExp(`^${PY_SPACE}+|${PY_SPACE}+$`, 'g');
const PY_SPLIT = new RegExp(`${PY_SPACE}+`);

/** Python's `s.strip()`. */
export const pyStrip = (s: string) => s.replace(PY_STRIP, '');

/** Python's `s.split()`: words between runs of white space, none empty. */
export const pySplit = (s: string) => s.split(PY_SPLIT).filter(Boolean);

/** Choices in words: "a, b or c". */
export const orList = (names: readonly string[]) =>
  names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : (names[0] ?? '');

/**
 * One of a fixed set of names, from the command line or a file, or one error naming the choices and what was given
 * (as JSON, so no control character reaches the terminal raw); `what` says where it came from.
 */
export function parseChoice<T extends string>(value: unknown, allowed: readonly T[], what: string, kind: 'usage' | 'io' = 'usage'): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw new ChangelingError(kind, `${what} must be ${orList(allowed)}, not ${JSON.stringify(value)}`);
}
