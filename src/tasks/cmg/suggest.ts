import { commitDiff, walkHistory } from '../../git/history.js';
import type { Repository } from '../../git/repository.js';
import { requireCommits } from '../../git/repository.js';
import { stagedDiff } from '../../git/staged.js';
import type { DiffFile } from '../../git/types.js';
import type { FilterOptions } from '../../git/inputFilter.js';
import { ChangelingError } from '../../util/errors.js';
import { HeadCache } from '../../util/headCache.js';
import type { MessageModel, PreparedInput } from './generate.js';
import { NngenIndex, diffWords } from './nngen.js';
import { applyStyle, learnStyle, type CommitStyle } from './style.js';
import type { LlmPrompt } from './llmPrompt.js';
import { fitLlmPrompt, type PromptTarget, type RenderedPrompt } from './llmInput.js';
import { diffTextOf, faithfulnessCheck, shapeMessage, type ChatWriter } from './llmWriter.js';

/**
 * `changeling suggest`: commit-message candidates for the staged change (or a commit, from the history
 * before it): a model's n-best when one is configured, and NNGen's nearest neighbours from the repository's
 * own history always (no model needed). One walk over the newest `history` commits builds both the NNGen
 * index and the repository's style, which is then applied to every candidate (unless `style: false`).
 * Subjects longer than `subjectLimit` are cut at a word boundary.
 */
export interface Suggestion {
  message: string;
  source: 'model' | 'model+adapter' | 'llm' | 'nngen';
  /** Where it came from, for people: the neighbour commit and its similarity, or the beam score. */
  detail: string;
  /** The candidate before the style rules and the subject limit, when they changed it. */
  original?: string;
  /** The LLM's: the paths and identifiers it names that are neither in the change nor in the tree at HEAD. */
  unfaithful?: string[];
  /** NNGen's: the earlier commit whose message this is, and its author date (ISO 8601). */
  commit?: { sha: string; date: string };
}

export interface SuggestResult {
  target: string;
  files: number;
  candidates: Suggestion[];
  /** What the model did not see of a large change (null: it saw all of it, or no model ran). */
  inputNote: string | null;
  style: CommitStyle | null;
  indexed: number;
}

export interface SuggestOptions {
  model?: MessageModel | null;
  /** A code LLM writing from the whole diff (`llmWriter.ts`, or a local server: `serverWriter.ts`), instead of or beside a seq2seq model. */
  llm?: ChatWriter | null;
  /** With the LLM: the first candidate as it is written, shaped as a message (for a live view). */
  onPartial?: (message: string) => void;
  /** With the LLM: a body below the subject (default true), the sampling seed, the diff's token budget. */
  body?: boolean;
  seed?: number;
  budget?: number;
  n?: number;
  beams?: number;
  maxNewTokens?: number;
  style?: boolean;
  subjectLimit?: number;
  /** How many of the newest commits NNGen and the style learn from (default 5,000). */
  history?: number;
  filter?: FilterOptions;
  branch?: string | null;
  /** Text already typed: model candidates complete it, NNGen's are kept only when they start with it. */
  typed?: string;
  signal?: AbortSignal;
  onProgress?: (text: string) => void;
}

/** The staged change, every change to tracked files (staged or not: what committing all changes commits), or a commit. */
export type SuggestTarget = { kind: 'staged' } | { kind: 'worktree' } | { kind: 'commit'; rev: string };

/** A subject cut to `limit` characters at a word boundary (the body, if any, is kept). */
const DANGLING = /\s+(a|an|the|and|or|but|if|of|to|in|on|at|for|with|by|from|as|is|are|was|be|when|that|which|only|not|into)$/i;

export function limitSubject(message: string, limit: number): string {
  const [subject, ...body] = message.split('\n');
  if (subject!.length <= limit) return message;
  const cut = subject!.slice(0, limit + 1);
  const at = cut.lastIndexOf(' ');
  let short = (at > limit / 2 ? cut.slice(0, at) : subject!.slice(0, limit)).replace(/[\s,;:(-]+$/, '');
  // Do not end on a word that promises more ("... only if Transfer-Encoding is").
  for (let i = 0; i < 3 && DANGLING.test(short); i++) short = short.replace(DANGLING, '').replace(/[\s,;:(-]+$/, '');
  return [short, ...body].join('\n');
}

/** A neighbour's message without its own pull-request or issue number ("... (#4893)"), which is not this change's. */
export const withoutReference = (subject: string) => subject.replace(/\s*\((?:#|GH-|gh-)\d+\)\s*$|\s+#\d+\s*$/, '').trim() || subject;

const indexes = new HeadCache<{
  index: NngenIndex;
  messages: string[];
  authors: string[];
  paths: string[][];
  dates: Map<string, string>;
}>();

/** One walk: the NNGen index and the style's material from the same commits (kept while `rev` stays). */
function historyIndex(repo: Repository, rev: string | null, history: number, o: Pick<SuggestOptions, 'signal' | 'onProgress'>) {
  return indexes.get(repo.root, rev, String(history), async () => {
    const index = new NngenIndex();
    const messages: string[] = [];
    const authors: string[] = [];
    const paths: string[][] = [];
    const dates = new Map<string, string>();
    if (rev) {
      let seen = 0;
      for await (const c of walkHistory(repo, { rev, max: history, noMerges: true, maxDiffBytes: 64 << 10, signal: o.signal })) {
        index.add(c.sha, c.message.split('\n')[0]!.trim(), diffWords(c.files));
        messages.push(c.message);
        authors.push(c.author.email.toLowerCase());
        paths.push(c.files.map((f) => f.path));
        dates.set(c.sha, c.authorDate);
        if (++seen % 500 === 0) o.onProgress?.(`reading history: ${seen} commits`);
      }
    }
    return { index, messages, authors, paths, dates };
  });
}

/** The change to describe: the staged one (by the configured author) or a commit (by its author), and the history before it. */
async function targetChange(
  repo: Repository,
  target: SuggestTarget,
  o: { signal?: AbortSignal; ignoreWhitespace?: boolean } = {},
): Promise<{ files: DiffFile[]; historyRev: string | null; self: string | null; author: string }> {
  if (target.kind === 'staged' || target.kind === 'worktree') {
    const files = (await stagedDiff(repo, { ...o, worktree: target.kind === 'worktree' })).files;
    if (files.length === 0 && !o.ignoreWhitespace)
      throw new ChangelingError(
        'nothing-staged',
        target.kind === 'staged'
          ? 'nothing is staged: stage a change first (git add), or name a commit with --commit REV'
          : 'there is nothing to describe: no tracked file is changed',
      );
    const author = (await repo.git.raw(['config', 'user.email']).catch(() => '')).trim().toLowerCase();
    return { files, historyRev: repo.head, self: null, author };
  }
  requireCommits(repo);
  const c = await commitDiff(repo, target.rev, o);
  return { files: c.files, historyRev: c.parents[0] ?? null, self: c.sha, author: c.author.email.toLowerCase() };
}

/**
 * Exactly what `model` gets for the target (what `changeling input` prints and `suggest` feeds): the diff
 * read as the model's format wants it, the author's history when the model uses it, the typed text.
 */
export async function modelInputFor(
  repo: Repository,
  target: SuggestTarget,
  model: MessageModel,
  o: Pick<SuggestOptions, 'filter' | 'typed' | 'history' | 'signal' | 'onProgress'>,
  known?: { files: DiffFile[]; author: string; messages: string[]; authors: string[] },
): Promise<PreparedInput> {
  const t = known ?? (await targetChange(repo, target, { signal: o.signal }));
  const files = model.wantsWhitespaceInsensitiveDiff
    ? (await targetChange(repo, target, { signal: o.signal, ignoreWhitespace: true })).files
    : t.files;
  let history: string[] = [];
  if (model.usesHistory) {
    const h = known ?? (await historyIndex(repo, (t as { historyRev: string | null }).historyRev, o.history ?? 5000, o));
    history = authorHistory(h.messages, h.authors, t.author);
  }
  return model.prepare(files, { filter: o.filter, typed: o.typed, history });
}

/** The author's messages among the walked ones (newest first), oldest first as the reference orders history. */
function authorHistory(messages: readonly string[], authors: readonly string[], author: string): string[] {
  if (!author) return [];
  return messages.filter((_, i) => authors[i] === author).reverse();
}

export async function suggestMessages(repo: Repository, target: SuggestTarget, o: SuggestOptions = {}): Promise<SuggestResult> {
  const change = await targetChange(repo, target, { signal: o.signal });
  const { files, historyRev, self, author } = change;
  const n = o.n ?? 5;
  const typed = o.typed ?? '';
  const { index, messages, authors, paths, dates } = await historyIndex(repo, historyRev, o.history ?? 5000, o);
  const style = o.style === false || typed ? null : learnStyle(messages, paths);
  const raw: Suggestion[] = [];
  let inputNote: string | null = null;
  if (o.model) {
    o.onProgress?.('generating with the model...');
    const input = await modelInputFor(repo, target, o.model, { ...o, typed }, { files, author, messages, authors });
    inputNote = input.note;
    for (const c of await o.model.generate(input, { n, beams: o.beams, maxNewTokens: o.maxNewTokens }))
      raw.push({ message: c.message, source: o.model.label as Suggestion['source'], detail: `beam score ${c.score.toFixed(3)}` });
  }
  if (o.llm) {
    o.onProgress?.('writing with the code LLM...');
    const p = await llmInputFor(
      repo,
      target,
      o.llm.prompt,
      { ...o, typed, budget: o.budget, body: o.body, maxNewTokens: o.maxNewTokens },
      change,
    );
    const cut = p.dropped.filter((d) => d.why.startsWith('budget')).map((d) => d.path);
    if (cut.length)
      inputNote = `the diff was over the model's budget of ${p.budget} tokens: ${cut.slice(0, 5).join(', ')}${cut.length > 5 ? ` and ${cut.length - 5} more` : ''} not shown in full`;
    const unfaithfulNames = faithfulnessCheck(diffTextOf(files), repo, o.signal);
    const written: Suggestion[] = [];
    const onToken =
      o.onPartial && ((row: number, text: string) => row === 0 && o.onPartial!(shapeMessage(text, typed, { body: o.body ?? true })));
    for (const raw of await o.llm.write(p, {
      n,
      seed: o.seed,
      maxNewTokens: o.maxNewTokens,
      signal: o.signal,
      onToken: onToken || undefined,
    })) {
      const message = shapeMessage(raw, typed, { body: o.body ?? true });
      if (!message) continue;
      const unfaithful = await unfaithfulNames(message);
      written.push({
        message,
        source: 'llm',
        detail: unfaithful.length
          ? `names ${unfaithful
              .slice(0, 3)
              .map((x) => `"${x}"`)
              .join(', ')}, which neither the change nor the tree has`
          : `written by ${o.llm.name} from the whole diff`,
        unfaithful,
      });
    }
    // Faithful candidates first; the others stay, marked, at the end.
    raw.push(...written.filter((c) => !c.unfaithful!.length), ...written.filter((c) => c.unfaithful!.length));
  }
  const startsTyped = (m: string) => !typed || m.toLowerCase().startsWith(typed.trim().toLowerCase());
  for (const c of index.query(diffWords(files), { k: n, exclude: self ? new Set([self]) : undefined })) {
    const message = withoutReference(c.message);
    if (startsTyped(message))
      raw.push({
        message,
        source: 'nngen',
        detail: `like ${c.sha.slice(0, 10)} (words of the diffs ${(c.cosine * 100).toFixed(0)}% alike, their lines ${(c.bleu * 100).toFixed(0)}%)`,
        commit: { sha: c.sha, date: dates.get(c.sha) ?? '' },
      });
  }
  const ctx = { paths: files.map((f) => f.path), branch: o.branch ?? repo.branch };
  const seen = new Set<string>();
  const candidates: Suggestion[] = [];
  for (const s of raw) {
    let message = style ? applyStyle(s.message, style, ctx) : s.message;
    message = limitSubject(message, o.subjectLimit ?? 72);
    const key = message.toLowerCase().replace(/\s+/g, ' ');
    if (seen.has(key)) continue;
    seen.add(key);
    candidates.push(message === s.message ? s : { ...s, message, original: s.message });
  }
  return {
    target: self ?? target.kind,
    files: files.length,
    candidates: candidates.slice(0, o.model || o.llm ? 2 * n : n),
    inputNote,
    style,
    indexed: index.size,
  };
}

/**
 * What a code LLM gets for the target (`changeling input --model <llm>`): the turns (`llmPrompt.ts`) with the
 * repository's three most similar earlier commits as examples, the author's recent subjects and the diff
 * within the budget, which is cut further so that the whole prompt leaves `maxNewTokens` of the context.
 */
export async function llmInputFor(
  repo: Repository,
  target: SuggestTarget,
  m: PromptTarget,
  o: Pick<SuggestOptions, 'filter' | 'typed' | 'history' | 'signal' | 'onProgress' | 'subjectLimit' | 'branch'> & {
    budget?: number;
    body?: boolean;
    maxNewTokens?: number;
  } = {},
  /** The target's change when the caller has read it already (suggest), so that git is not asked twice. */
  known?: Awaited<ReturnType<typeof targetChange>>,
): Promise<LlmPrompt & RenderedPrompt> {
  const t = known ?? (await targetChange(repo, target, { signal: o.signal }));
  const h = await historyIndex(repo, t.historyRev, o.history ?? 5000, o);
  const examples: Array<{ message: string; files: DiffFile[] }> = [];
  for (const c of h.index.query(diffWords(t.files), { k: 3, exclude: t.self ? new Set([t.self]) : undefined }))
    examples.push({ message: withoutReference(c.message), files: (await commitDiff(repo, c.sha, { signal: o.signal })).files });
  const recentSubjects = authorHistory(h.messages, h.authors, t.author)
    .reverse()
    .map((x) => x.split('\n')[0]!.trim());
  const base = {
    countTokens: (text: string) => m.countTokens(text),
    style: learnStyle(h.messages, h.paths),
    subjectLimit: o.subjectLimit,
    body: o.body ?? true,
    branch: o.branch ?? repo.branch,
    examples,
    recentSubjects,
    filter: o.filter,
    typed: o.typed,
  };
  return fitLlmPrompt(t.files, base, m, { budget: o.budget, maxNewTokens: o.maxNewTokens, typed: !!o.typed });
}
