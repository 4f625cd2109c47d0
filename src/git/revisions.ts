import { ChangelingError } from '../util/errors.js';

/**
 * Revisions, ranges and dates from users are values for git, never options: a range's tokens are
 * revisions (which may not start with "-") or one of the few rev-list options a range needs to name what
 * a remote lacks (`--not`, `--all`, `--branches`, `--tags`, `--remotes`, each with an optional pattern);
 * anything else that git would read as an option is refused before git runs.
 */
const RANGE_OPTION = /^--(not|all|(branches|tags|remotes)(=[^\s=][^\s]*)?)$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

export function rangeArgs(range: string): string[] {
  const tokens = range.trim().split(/\s+/).filter(Boolean);
  if (tokens.length === 0) throw new ChangelingError('bad-revision', 'an empty range');
  for (const t of tokens) {
    if (CONTROL.test(t)) throw new ChangelingError('bad-revision', `not a revision: ${JSON.stringify(t)}`);
    if (t.startsWith('-') && !RANGE_OPTION.test(t))
      throw new ChangelingError(
        'bad-revision',
        `not a revision or range: ${JSON.stringify(t)} (a range is revisions such as A..B, and only --not, --all, --branches, --tags or --remotes as options)`,
      );
  }
  return tokens;
}

const RELATIVE =
  /^(\d+\s*(second|minute|hour|day|week|month|year)s?(\s*,?\s*\d+\s*(second|minute|hour|day|week|month|year)s?)*\s+ago|yesterday|today|now|last\s+(week|month|year))$/i;

/** A --since/--until value git understands: an ISO or RFC 2822 date, or "2 weeks ago"-style; otherwise a usage error (git would silently read garbage as "now"). */
export function checkDate(name: string, value: string): string {
  const v = value.trim();
  if (v && !v.startsWith('-') && !CONTROL.test(v) && (RELATIVE.test(v) || !Number.isNaN(Date.parse(v)))) return v;
  throw new ChangelingError(
    'usage',
    `--${name} needs a date such as 2024-01-31 or "2 weeks ago", not ${JSON.stringify(value.slice(0, 80))}`,
  );
}
