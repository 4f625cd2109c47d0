import { loadModelFolder } from '../../models/modelFolder.js';
import { withAdapter } from '../../peft/apply.js';
import { CausalLmRunner } from '../../runtime/causalLm.js';
import type { Precision, ResolvedPrecision } from '../../runtime/precision.js';
import { gitText } from '../../git/run.js';
import type { Repository } from '../../git/repository.js';
import type { DiffFile } from '../../git/types.js';
import { loadLlmFolder, type LlmFolder, type PromptTarget, type RenderedPrompt } from './llmInput.js';

/** What writes commit messages from the chat prompt: a model folder run here, or a local server (`serverWriter.ts`). */
export interface ChatWriter {
  /** For people: the folder, or the server and its model. */
  readonly name: string;
  readonly prompt: PromptTarget;
  /** The raw continuations of the prompt, one per candidate (the typed text is not repeated in them). */
  write(prompt: RenderedPrompt, o?: WriteOptions): Promise<string[]>;
}

export interface WriteOptions {
  n?: number;
  seed?: number;
  maxNewTokens?: number;
  /** One candidate, the most likely token each step (evaluation), instead of sampling. */
  greedy?: boolean;
  signal?: AbortSignal;
  /** Each candidate's text so far, as it grows. */
  onToken?: (row: number, text: string) => void;
}

/**
 * A code LLM writing commit messages: n candidates sampled from the prompt (`llmInput.ts`) with a seed (the
 * model's own sampling defaults, else temperature 0.7 and top-p 0.95), shaped into a subject and, by setting,
 * a body wrapped at 72 columns, duplicates removed. Each candidate's names are checked against the change
 * (`unfaithfulNames`): a candidate that names a path or identifier found neither in the diff nor in the tree at
 * HEAD is ranked last and marked.
 */
export class LlmMessageWriter implements ChatWriter {
  readonly label = 'llm';
  private constructor(
    readonly llm: LlmFolder,
    private readonly runner: CausalLmRunner,
    /** The adapter tuned on this model, if any. */
    readonly adapter: string | null,
  ) {}

  /** `adapter`: a PEFT adapter folder tuned on this model (`changeling finetune --task cmg`), merged or added as it was trained. */
  static async create(dir: string, o: { provider?: string; precision?: Precision; adapter?: string } = {}): Promise<LlmMessageWriter> {
    const llm = await loadLlmFolder(dir);
    const folder = await loadModelFolder(dir);
    const runner = await CausalLmRunner.create(o.adapter ? await withAdapter(folder, o.adapter) : folder, {
      provider: o.provider,
      precision: o.precision,
      prefixCache: true,
    });
    return new LlmMessageWriter(llm, runner, o.adapter ?? null);
  }

  get name(): string {
    return this.adapter ? `${this.llm.dir} with the adapter ${this.adapter}` : this.llm.dir;
  }

  /** The precision the model's weights run in. */
  get precision(): ResolvedPrecision {
    return this.runner.precision;
  }

  get prompt(): PromptTarget {
    return this.llm;
  }

  async write(prompt: Pick<RenderedPrompt, 'inputIds'>, o: WriteOptions = {}): Promise<string[]> {
    const inputIds = prompt.inputIds;
    const d = this.runner.defaults;
    const generated: number[][] = [];
    const batch = { ids: [[...inputIds]], mask: [inputIds.map(() => 1)] };
    if (o.greedy) {
      const g = await this.runner.greedy(batch, { maxNewTokens: o.maxNewTokens ?? 128, signal: o.signal });
      return g.sequences.map((s) => this.llm.tokenizer.decode(s.slice(inputIds.length), { skipSpecialTokens: true }));
    }
    const r = await this.runner.sample(batch, {
      maxNewTokens: o.maxNewTokens ?? 128,
      numReturnSequences: o.n ?? 3,
      seed: o.seed ?? 0,
      temperature: d.temperature ?? 0.7,
      topP: d.topP ?? 0.95,
      ...(d.topK !== undefined ? { topK: d.topK } : {}),
      ...(d.repetitionPenalty !== undefined ? { repetitionPenalty: d.repetitionPenalty } : {}),
      signal: o.signal,
      onToken: (row, token) => {
        (generated[row] ??= []).push(token);
        o.onToken?.(row, this.llm.tokenizer.decode(generated[row]!, { skipSpecialTokens: true }));
      },
    });
    return r.sequences.map((s) => this.llm.tokenizer.decode(s.slice(inputIds.length), { skipSpecialTokens: true }));
  }
}

/** A model's answer as a commit message: no fences or quotes around it, the typed start kept, a subject and an optional wrapped body. */
export function shapeMessage(raw: string, typed: string, o: { body?: boolean } = {}): string {
  let text = (typed + raw).replace(/\r/g, '').trim();
  text = text.replace(/^```[a-z]*\n?|\n?```$/g, '').trim();
  const lines = text.split('\n');
  const subject = lines[0]!
    .replace(/^(commit message|subject)\s*:\s*/i, '')
    .replace(/^["'`](.*)["'`]$/, '$1')
    .trim();
  if (!o.body) return subject;
  const body = wrap(lines.slice(1).join('\n').trim(), 72);
  return body ? `${subject}\n\n${body}` : subject;
}

/** Paragraphs and bullets wrapped at `width` columns (words longer than the width stay whole). */
export function wrap(text: string, width: number): string {
  return text
    .split('\n')
    .map((line) => {
      const indent = /^(\s*(?:[-*] )?)/.exec(line)![1]!;
      const words = line.slice(indent.length).split(/\s+/).filter(Boolean);
      const out: string[] = [];
      let cur = indent;
      let empty = true;
      for (const w of words) {
        if (!empty && cur.length + 1 + w.length > width) {
          out.push(cur.trimEnd());
          cur = ' '.repeat(indent.length) + w;
        } else cur += (empty ? '' : ' ') + w;
        empty = false;
      }
      if (!empty || !out.length) out.push(cur.trimEnd());
      return out.join('\n');
    })
    .join('\n');
}

/**
 * The names a message mentions that a reader would take as code: words in backticks, and words with `_`, a
 * dot between letters, a slash, `()` or a capital inside them (camelCase). A name is faithful when it occurs in
 * the diff (`diffText`, paths included) or in the tree at HEAD (a path, or text in a tracked file: git grep).
 */
export function mentionedNames(message: string): string[] {
  const names = new Set<string>();
  for (const m of message.matchAll(/`([^`\n]{1,120})`/g)) names.add(m[1]!.trim());
  for (const raw of message.replace(/`[^`\n]*`/g, ' ').split(/[\s,;:!?"'()[\]{}<>]+/)) {
    const w = raw.replace(/^[.]+|[.]+$/g, '');
    if (w.length < 3 || /^https?:/i.test(w)) continue;
    if (/[A-Za-z]/.test(w) && /_|\/|[A-Za-z]\.[A-Za-z]|[a-z][A-Z]/.test(w)) names.add(w);
  }
  for (const m of message.matchAll(/\b([A-Za-z_$][\w$]*)\(\)/g)) names.add(m[1]!);
  return [...names].filter(Boolean);
}

/**
 * Whether a name is in the tree at HEAD: a path (the tree listed once) or text in a tracked file (git grep, once per
 * name). One lookup serves every change checked against the same HEAD (an evaluation's commits, a change's candidates).
 */
export function treeLookup(repo: Repository, signal?: AbortSignal): (name: string) => Promise<boolean> {
  let paths: Promise<string[]> | null = null;
  const inTree = new Map<string, Promise<boolean>>();
  return (name) => {
    if (!repo.head) return Promise.resolve(false);
    const head = repo.head;
    let known = inTree.get(name);
    if (!known) {
      known = (async () => {
        paths ??= gitText(repo.root, ['ls-tree', '-r', '--name-only', head], signal)
          .catch(() => '')
          .then((t) => t.split('\n'));
        if ((await paths).some((p) => p === name || p.endsWith(`/${name}`))) return true;
        return gitText(repo.root, ['grep', '-q', '-F', '-e', name, head, '--'], signal)
          .then(() => true)
          .catch(() => false);
      })();
      inTree.set(name, known);
    }
    return known;
  };
}

/**
 * A checker for the candidates of one change: a name is faithful when the diff has it, else when the tree at HEAD does
 * (`tree`, which callers checking many changes share).
 */
export function faithfulnessCheck(
  diffText: string,
  repo: Repository,
  signal?: AbortSignal,
  tree = treeLookup(repo, signal),
): (message: string) => Promise<string[]> {
  return async (message) => {
    const out: string[] = [];
    for (const name of mentionedNames(message)) if (!diffText.includes(name) && !(await tree(name))) out.push(name);
    return out;
  };
}

/** A change as the text its names are looked up in: the paths, the hunks' function headings and lines. */
export const diffTextOf = (files: readonly DiffFile[]) =>
  files.map((f) => [f.oldPath ?? '', f.path, ...f.hunks.flatMap((h) => [h.section, ...h.lines])].join('\n')).join('\n');

/** The names `message` mentions that are neither in the change nor in the tree at HEAD. */
export function unfaithfulNames(message: string, diffText: string, repo: Repository, signal?: AbortSignal): Promise<string[]> {
  return faithfulnessCheck(diffText, repo, signal)(message);
}
