import type { CodeTokenizer } from '../../models/tokenizer.js';

/**
 * What the decoder is given before it writes, as the CommitChronicle models' test collator builds it
 * (JetBrains-Research/commit_message_generation, DataCollatorTest with `generate_with_history`):
 *
 *   [decoder start] history_1 </s> ... history_k </s> typed-context
 *
 * History is the same author's earlier messages (cleaned as the dataset cleaned them), taken from the most
 * recent backwards while `room` lasts (the reference's budget: the message, one start token and
 * `maxNewTokens` must fit in `maxLength` with them; at generation time the message is what was typed), then
 * in their original order. Typed text is the completion context: when it ends inside a word, that word
 * is held back as the `prefix` the first generated word must start with, and the rest is the context
 * (words re-joined by single spaces, as the reference does).
 */
export interface DecoderContext {
  ids: number[];
  /** The partial last word, with its leading space when there is context; '' when none. */
  prefix: string;
  /** Set when the typed text was longer than the model reads: how many tokens it had, how many the model sees. */
  cut?: { typedTokens: number; kept: number };
  /** The typed text the context ids encode. */
  context: string;
  /** How many history messages were used, of how many offered. */
  history: { used: number; offered: number };
}

export interface DecoderContextOptions {
  startTokenId: number;
  sepTokenId: number;
  /** Earlier messages, oldest first. */
  history?: readonly string[];
  typed?: string;
  maxLength?: number;
  maxNewTokens?: number;
}

const PY_SPACE = /[\t\n\x0b\x0c\r\x1c-\x1f ]/;
const pyWords = (s: string) => s.split(/[\t\n\x0b\x0c\r\x1c-\x1f ]+/).filter(Boolean);

/** The longest typed text looked at (characters, from its end): more is never a message being written. */
const TYPED_CHARS_MAX = 16_384;

/** The reference's split of typed text into context and the partial word (`_process_msg_gen`). */
function splitTyped(typed: string): { context: string; prefix: string } {
  if (!typed) return { context: '', prefix: '' };
  if (PY_SPACE.test(typed.at(-1)!)) return { context: typed, prefix: '' };
  const w = pyWords(typed);
  const context = w.slice(0, -1).join(' ');
  const last = w.at(-1) ?? '';
  return { context, prefix: context ? ' ' + last : last };
}

export function decoderContext(tok: CodeTokenizer, o: DecoderContextOptions): DecoderContext {
  const maxLength = o.maxLength ?? 512;
  const encode = (s: string) => tok.encode(s, { addSpecialTokens: false }).ids;
  // What was typed is cut to what the model reads before it reaches onnxruntime: the context keeps its
  // last tokens (next to what is completed); the message itself keeps everything typed.
  const typed = (o.typed ?? '').slice(-TYPED_CHARS_MAX);
  const messageIds = encode(typed).slice(0, maxLength - 1);
  let used = messageIds.length + 1 + (o.maxNewTokens ?? 15);
  const { context, prefix } = splitTyped(typed);
  const room = Math.max(0, maxLength - 1 - (o.maxNewTokens ?? 15));
  const allContext = typed ? encode(context) : [];
  const contextIds = allContext.slice(Math.max(0, allContext.length - room));
  const cut = allContext.length > contextIds.length || typed.length < (o.typed ?? '').length;
  const picked: number[][] = [];
  const history = o.history ?? [];
  for (let i = history.length - 1; i >= 0; i--) {
    const ids = encode(history[i]!);
    if (used + ids.length + 1 > maxLength) break;
    used += ids.length + 1;
    picked.push([...ids, o.sepTokenId]);
  }
  picked.reverse();
  return {
    ids: [o.startTokenId, ...picked.flat(), ...contextIds],
    prefix,
    context,
    history: { used: picked.length, offered: history.length },
    ...(cut ? { cut: { typedTokens: allContext.length, kept: contextIds.length } } : {}),
  };
}

/**
 * The reference's prefix constraint (VocabPrefixTree + PrefixAllowedTokens): until the generated text
 * starts with the prefix, only tokens whose text (byte-level, with "Ġ" read as a space) starts with what is
 * left of the prefix, or is a start of it, may come next. Returns null when anything may come.
 */
export class PrefixConstraint {
  private readonly entries: Array<[string, number]>;

  constructor(
    private readonly tok: CodeTokenizer,
    readonly prefix: string,
  ) {
    const vocab = new Map(tok.vocabEntries());
    const keys = new Map<string, number>();
    for (const [t] of vocab) {
      const k = t.replace(/Ġ/g, ' ');
      if (!keys.has(k)) keys.set(k, vocab.get(k) ?? vocab.get(k.replace(/ /g, 'Ġ'))!);
    }
    this.entries = [...keys];
  }

  private tokensFor(rest: string): Set<number> {
    const out = new Set<number>();
    for (const [k, id] of this.entries) if ((k && rest.startsWith(k)) || k.startsWith(rest)) out.add(id);
    return out;
  }

  /** Tokens allowed after `generated` new tokens (null: any). */
  allowed(generated: readonly number[]): ReadonlySet<number> | null {
    if (!this.prefix) return null;
    const text = generated.length ? this.tok.decode([...generated]) : '';
    if (text.startsWith(this.prefix)) return null;
    // No token fits (a prefix the byte-level vocabulary spells differently): the reference would stop
    // with an error; here the constraint lifts.
    const s = this.tokensFor(this.prefix.slice(text.length));
    return s.size ? s : null;
  }
}
