import { trimWhere } from '../../util/text.js';

/**
 * Commit messages cleaned as CommitChronicle's MessageProcessor cleaned its training messages (with
 * `replace_patterns: false`, the dataset's setting): trivial, bot, merge, revert, squashed, one-word and
 * non-ASCII messages are dropped (the result is ""); on every line e-mails, URLs, issue references
 * (`#12`, `GH-12`, `ABC-12`), sign-off style trailers, `@names` and commit ids are removed; empty lines go.
 * The with-history models saw earlier messages only in this form, so history is fed in it too. The
 * regular expressions are the reference's, with Python's ASCII whitespace (which includes \x1c-\x1f).
 */
const W = '\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f ';
const S = `[${W}]`;
const NS = `[^${W}]`;
/** Python's str.strip() with its ASCII whitespace (\t \n \x0b \x0c \r \x1c-\x1f and space). */
const strip = (s: string) => trimWhere(s, (c) => (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x1f) || c === 32);
/**
 * The reference's patterns backtrack (quadratically, in Python too) on long lines, and messages come from
 * repositories: a message is cleaned from its first 8 KiB, and a line longer than 512 characters (a pasted
 * blob, never a sentence of a message) keeps its text without the pattern removal. Normal messages are
 * cleaned exactly as the reference cleans them.
 */
const CLEAN_MAX = 8192;
const LINE_MAX = 512;
// eslint-disable-next-line no-control-regex
const isAscii = (s: string) => /^[\x00-\x7f]*$/.test(s);
const words = (s: string) =>
  strip(s)
    .split(new RegExp(`${S}+`))
    .filter(Boolean);

function removeGeneric(x: string, pattern: string): string {
  x = x.replace(new RegExp(`^[:\\-${W}]*${pattern}[:,.!?;~]*(${S}|$)`, 'g'), '');
  return x.replace(new RegExp(`${S}[:\\-${W}]*${pattern}[:,.!?;~]*(?=${S}|$)`, 'g'), '');
}

const EMAIL = '[\\[\\({<]?\\w[\\w.\\-+]*?@[\\w.\\-]+?\\.[\\w.\\-]+?[\\]\\)}>]?';
const URL = 'https?://[-a-zA-Z0-9@:%._+~#?=/&]+?';
const ISSUES = ['#\\d+', 'GH-\\d+', 'gh-\\d+', '[A-Z]\\w+-\\d+'].map((p) => `[\\[\\({<]?${p}[\\]\\)}>]?`);
const SIGNATURES = [
  '(signed(-| |)off(-| |)by|co(-| |)?authored(-| |)by|also(-| |)by|reviewed?(-| |)(by|on)|former(-| |)commit(-| |)id|git-svn-id|auto-submit|commit-queue)',
  '(Created by MOE|MOE_MIGRATED_REVID)',
  '(fbshipit-source-id|Differential Revision|Pulled(-| )by)',
  '(Change-Id|PiperOrigin-RevId|BAZEL_VERSION_REV_ID)',
  '(Kubernetes-commit)',
  '(Revision: r[\\d]*|Sandbox task ID|Glycine run ID)',
  '(\\(Merged from|\\(cherry(-| |)picked from|tracked(-| |)on)',
].map((p) => new RegExp(`(^|${S})${p}.*?$`, 'gi'));
const LEADING_TRAILERS = /^(Bug:|BUG=|FIXES=|R=).*?$/g;

function removePatterns(line: string): string {
  if (line.length > LINE_MAX) return strip(line);
  line = removeGeneric(line, EMAIL);
  line = removeGeneric(line, URL);
  for (const p of ISSUES) line = removeGeneric(line, p).replace(/^[-–:]+/, '');
  for (const p of SIGNATURES) line = line.replace(p, '');
  line = line.replace(LEADING_TRAILERS, '');
  line = removeGeneric(line, `@${NS}+?`);
  if (!/\d\d\d\d-\d\d-\d\d/.test(line) && !/\d\d-\d\d-\d\d\d\d/.test(line)) {
    for (const prefix of ['', 'ref:', 'I']) line = removeGeneric(line, `${prefix}[\\dA-Fa-f-]{7,}`);
  }
  return strip(line);
}

const PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';
const TRIVIAL = [
  /^ignore update ' .* \.$/i,
  /^update(d)? (changelog|gitignore|readme( . md| file)?)( \.)?$/i,
  /^prepare version (v)?[ \d.]+$/i,
  /^bump (up )?version( number| code)?( to (v)?[ \d.]+( - snapshot)?)?( \.)?$/i,
  /^modify (dockerfile|makefile)( \.)?$/i,
  /^update submodule(s)?( \.)?$/i,
  /^updated? \w+( \. \w+)?$/i,
];

function trivialOrBot(message: string): boolean {
  let m = strip(message);
  m = [...m].map((c) => (PUNCTUATION.includes(c) ? ` ${c} ` : c)).join('');
  m = strip(m.replace(/ +/g, ' '));
  return TRIVIAL.some((p) => p.test(m));
}

function squashed(message: string): boolean {
  const lines = message.split('\n');
  if (lines.length === 1) return false;
  const star = (l: string) => strip(l).startsWith('*');
  return lines.every(star) || lines.slice(1).every(star);
}

/** True when CommitChronicle's filters drop the message. */
export function droppedMessage(message: string): boolean {
  if (!isAscii(message)) return true;
  if (words(message).length === 1) return true;
  return trivialOrBot(message) || message.startsWith('Merge') || message.startsWith('Revert') || squashed(message);
}

/** The message as CommitChronicle's message processor leaves it ("" when it is filtered out). */
export function cleanMessage(message: string): string {
  message = message.slice(0, CLEAN_MAX);
  if (droppedMessage(message)) return '';
  const out = message.split('\n').map(removePatterns).filter(Boolean).join('\n');
  return droppedMessage(out) ? '' : out;
}
