/**
 * Whether a commit message says the commit fixes a defect: the FIX expert feature, and the fixes SZZ starts
 * from. Commit Guru (whose labels JIT-Defects4J and the study use) calls a message corrective when a word of
 * it contains fix, bug, wrong, fail or problem; matching inside words made "prefix", "debugging" and links such
 * as ".../performanceAndBugs.patch" fixes. Here a keyword must be a whole word of the message:
 *
 * - URLs (`scheme://...`, `www....`), e-mail addresses and anything with a slash or backslash (paths, branch
 *   names such as `fix/login`) are removed first; so are the branch names a merge message names
 *   ("Merge branch 'fix-x' into main", "Merge pull request #12 from someone/bugfix").
 * - The rest is cut into words at anything that is not a letter and at camelCase humps ("NullPointerFix" gives
 *   null, pointer, fix), lower-cased.
 * - A fix is a message with one of `FIX_WORDS`. Issue numbers ("#12", "CODEC-125") are not evidence: trackers
 *   number features too.
 */
const FIX_WORDS: ReadonlySet<string> = new Set([
  'fix',
  'fixes',
  'fixed',
  'fixing',
  'fixup',
  'fixups',
  'bugfix',
  'bugfixes',
  'hotfix',
  'hotfixes',
  'bug',
  'bugs',
  'buggy',
  'defect',
  'defects',
  'fault',
  'faults',
  'faulty',
  'wrong',
  'wrongly',
  'fail',
  'fails',
  'failed',
  'failing',
  'failure',
  'failures',
  'problem',
  'problems',
  'crash',
  'crashes',
  'crashed',
  'crashing',
]);

const URL = /\b[a-z][a-z0-9+.-]*:\/\/\S*|\bwww\.\S+/gi;
const EMAIL = /\S+@\S+\.\S+/g;
/** A merge message's first line names branches and remotes, not what the change does. */
const MERGE_LINE = /^merge\s+(?:remote-tracking\s+)?(?:branch(?:es)?\b|tags?\b|pull\s+request\b|commit\b|changes\b|['"])[^\n]*/i;

/** Tokens longer than this are not searched for links with URL and EMAIL (whose backtracking is quadratic in a token's length). */
const LINK_SCAN_MAX = 512;

/**
 * The words of a message that can say "fix". Linear in the message's length: the link patterns run per
 * whitespace-separated token (they never cross whitespace, so the result is the same), and a token too long
 * for them (a pasted blob) counts as a link when it has what a URL or an address needs ('/', '@', 'www.').
 */
export function messageWords(message: string): string[] {
  const text = message.replace(MERGE_LINE, ' ');
  const words: string[] = [];
  for (const raw of text.split(/\s+/)) {
    if (!raw) continue;
    let token = raw;
    if (token.length <= LINK_SCAN_MAX) token = token.replace(URL, ' ').replace(EMAIL, ' ');
    else if (token.includes('@') || /www\./i.test(token)) continue;
    for (const part of token.split(' ')) {
      if (!part || part.includes('/') || part.includes('\\')) continue;
      for (const w of part.match(/[A-Z]?[a-z]+|[A-Z]+(?![a-z])/g) ?? []) words.push(w.toLowerCase());
    }
  }
  return words;
}

export function isFix(message: string): boolean {
  return messageWords(message).some((w) => FIX_WORDS.has(w));
}
