import type { ChatMessage } from '../../models/chatTemplate.js';
import { InputFilter, type FilterOptions } from '../../git/inputFilter.js';
import { isCodeFile, isTestPath } from '../../git/codeFiles.js';
import type { DiffFile, DiffHunk } from '../../git/types.js';
import type { CommitStyle } from './style.js';

/**
 * The prompt a code LLM (a decoder-only folder with a chat template) gets to write a commit message: turns
 * built here, rendered by the model's own template. The instructions (what to write, the repository's
 * conventions as `style.ts` learnt them: Conventional Commits and their types, capitals, the ticket from the
 * branch name; the subject's length; body or not), two or three of the repository's own most similar earlier
 * commits as examples (NNGen's neighbours, their diffs cut short: a user turn and the commit's message as the
 * assistant's answer), then the author's recent subjects and the whole staged diff within a token budget.
 *
 * The diff: files ranked by changed lines, code first, then tests, then everything else (docs,
 * configuration); each file cut at hunk boundaries, a hunk keeping its header with git's function-context
 * heading; files the input filter drops (lock, generated, vendored, minified, binary, excluded) get one line
 * saying so; files that do not fit are named at the end ("Also changed, not shown: ...") and in `dropped`.
 * Typed text is the start of the answer: a final assistant turn, which the caller renders continued
 * (transformers' continue_final_message).
 */
export interface LlmPromptOptions {
  /** Tokens the diff may take (the rest of the prompt comes on top). */
  budget: number;
  countTokens: (text: string) => number;
  style?: CommitStyle | null;
  subjectLimit?: number;
  /** Whether to ask for a body below the subject. */
  body?: boolean;
  branch?: string | null;
  /** Earlier similar commits, most similar first: their messages and diffs. */
  examples?: ReadonlyArray<{ message: string; files: readonly DiffFile[] }>;
  /** The author's recent subjects, newest first. */
  recentSubjects?: readonly string[];
  filter?: FilterOptions;
  typed?: string;
}

export interface LlmPrompt {
  messages: ChatMessage[];
  /** The files not shown in full or at all, and why. */
  dropped: Array<{ path: string; why: string }>;
  /** The diff's tokens as counted, and the budget. */
  diffTokens: number;
  budget: number;
}

const EXAMPLE_BUDGET = 300;
/** Files not shown are named up to this many. */
const NAMED = 20;
const EXAMPLES = 3;
const RECENT = 5;
const ON = 0.6;

/** code first, then tests, then the rest; within each, more changed lines first. */
function rank(f: DiffFile): number {
  return isCodeFile(f) ? (isTestPath(f.path) ? 1 : 0) : 2;
}

function fileHeader(f: DiffFile): string {
  const head = [`diff --git a/${f.oldPath ?? f.path} b/${f.path}`];
  if (f.status === 'added') head.push('new file');
  else if (f.status === 'deleted') head.push('deleted file');
  else if (f.status === 'renamed') head.push(`rename from ${f.oldPath}`, `rename to ${f.path}`);
  return head.join('\n');
}

const hunkText = (h: DiffHunk) =>
  [
    `@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@${h.section ? ` ${h.section}` : ''}`,
    ...h.lines.map((l) => l.replace(/\r$/, '')),
  ].join('\n');

/** The diff as text within `budget` tokens: what fits, what was dropped and why. */
export function diffWithin(
  files: readonly DiffFile[],
  budget: number,
  countTokens: (text: string) => number,
  filter?: FilterOptions,
): { text: string; tokens: number; dropped: Array<{ path: string; why: string }> } {
  const check = new InputFilter(filter);
  // Files the filter drops (lock, generated, binary...) come last: they are only named.
  const place = (f: DiffFile) => (check.check(f) || f.submodule ? 3 : rank(f));
  const ordered = [...files].sort((a, b) => place(a) - place(b) || b.additions + b.deletions - (a.additions + a.deletions));
  const parts: string[] = [];
  const dropped: Array<{ path: string; why: string }> = [];
  const notShown: string[] = [];
  let used = 0;
  const fits = (text: string) => {
    const n = countTokens(text + '\n');
    if (used + n > budget) return false;
    used += n;
    return true;
  };
  for (const f of ordered) {
    const out = check.check(f);
    if (out || f.submodule) {
      const why = out ? out.detail : 'submodule';
      const line = `${f.path}: changed (${why}; not shown)`;
      if (fits(line)) parts.push(line);
      else notShown.push(f.path);
      dropped.push({ path: f.path, why: out ? out.reason : 'submodule' });
      continue;
    }
    const header = fileHeader(f);
    const hunks: string[] = [];
    const headerTokens = countTokens(header + '\n');
    if (used + headerTokens > budget) {
      notShown.push(f.path);
      dropped.push({ path: f.path, why: 'budget' });
      continue;
    }
    used += headerTokens;
    let skipped = 0;
    for (const h of f.hunks) {
      const t = hunkText(h);
      if (fits(t)) hunks.push(t);
      else skipped++;
    }
    if (hunks.length === 0 && f.hunks.length > 0) {
      used -= headerTokens;
      notShown.push(f.path);
      dropped.push({ path: f.path, why: 'budget' });
      continue;
    }
    if (skipped) dropped.push({ path: f.path, why: `budget: ${skipped} of ${f.hunks.length} hunks not shown` });
    parts.push([header, ...hunks].join('\n'));
  }
  // At most NAMED of them by name: a change of thousands of files would otherwise fill the context with its list.
  if (notShown.length)
    parts.push(
      `Also changed, not shown: ${notShown.slice(0, NAMED).join(', ')}${notShown.length > NAMED ? ` and ${notShown.length - NAMED} more files` : ''}`,
    );
  return { text: parts.join('\n'), tokens: used, dropped };
}

/** The repository's conventions, in words the model can follow. */
function conventions(style: CommitStyle | null | undefined, branch: string | null | undefined): string[] {
  const out: string[] = [];
  if (!style || style.subjects < 5) return out;
  if (style.conventional >= ON) {
    const types = style.types.slice(0, 6).map(([t]) => t);
    out.push(
      `Conventional Commits: "type(scope): description"${types.length ? `, with the types this repository uses (${types.join(', ')})` : ''}.`,
    );
  }
  if (style.capitalized >= ON) out.push('The subject starts with a capital letter.');
  else if (style.capitalized <= 1 - ON) out.push('The subject starts with a lower-case letter.');
  if (style.period <= 1 - ON) out.push('No period at the end of the subject.');
  const ticket = /([A-Z][A-Z0-9]+-\d+)/.exec(branch ?? '')?.[1];
  if (ticket && style.ticket.share >= ON) out.push(`Start the subject with the ticket ${ticket} (from the branch name).`);
  return out;
}

export function llmPrompt(files: readonly DiffFile[], o: LlmPromptOptions): LlmPrompt {
  const limit = o.subjectLimit ?? 72;
  const system = [
    'You write git commit messages. Given a change as a diff, reply with its commit message only, no other text.',
    `The subject line says what the change does, in the imperative mood, in at most ${limit} characters.`,
    o.body
      ? 'Below it, after a blank line, a short body (a few lines or bullets, wrapped at 72 characters) says why and what else changed, if the diff shows it.'
      : 'Reply with the subject line alone.',
    "Name only files and identifiers that are in the diff; do not guess reasons the diff does not show. Write in the language of the repository's earlier messages.",
    ...conventions(o.style, o.branch),
  ].join('\n');
  const messages: ChatMessage[] = [{ role: 'system', content: system }];
  for (const e of (o.examples ?? []).slice(0, EXAMPLES)) {
    const d = diffWithin(e.files, EXAMPLE_BUDGET, o.countTokens, o.filter);
    messages.push({ role: 'user', content: d.text });
    messages.push({ role: 'assistant', content: o.body ? e.message.trim() : e.message.trim().split('\n')[0]! });
  }
  const diff = diffWithin(files, o.budget, o.countTokens, o.filter);
  const recent = [...new Set(o.recentSubjects ?? [])].slice(0, RECENT);
  const user = [
    ...(recent.length ? ['My recent commit subjects here:', ...recent.map((s) => `- ${s}`), ''] : []),
    'The change:',
    diff.text,
  ].join('\n');
  messages.push({ role: 'user', content: user });
  if (o.typed) messages.push({ role: 'assistant', content: o.typed });
  return { messages, dropped: diff.dropped, diffTokens: diff.tokens, budget: o.budget };
}
