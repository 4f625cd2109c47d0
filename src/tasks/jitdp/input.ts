import type { CodeTokenizer } from '../../models/tokenizer.js';

/**
 * The neural JIT-DP model's input, as the study builds it: the commit message (at most 64 tokens), then the
 * added lines, then the removed lines, within `maxLength` tokens. The sections are separated RoBERTa's own
 * way (`<s> message </s></s> added </s></s> removed </s>`) rather than with new [ADD]/[DEL] tokens, whose
 * embeddings would be random and frozen under LoRA. Each line is tokenized on its own so that every token
 * knows its line: `lineOf[i]` is the index in `lines` of token i, or -1 for message and special tokens.
 */
export interface ChangedLine {
  sign: '+' | '-';
  text: string;
  /** The hunk it is in, where known (CC2Vec reads changes hunk by hunk). */
  hunk?: number;
}

export interface EncodedChange {
  ids: number[];
  lineOf: number[];
}

const MESSAGE_TOKENS = 64;

export function encodeChange(tok: CodeTokenizer, message: string, lines: readonly ChangedLine[], maxLength: number): EncodedChange {
  const cls = tok.tokenId('<s>') ?? 0;
  const sep = tok.tokenId('</s>') ?? 2;
  const msg = tok.encode(message.trim(), { addSpecialTokens: false }).ids.slice(0, MESSAGE_TOKENS);
  const room = Math.max(0, maxLength - msg.length - 6);
  // Tokenize lines until each side could fill the room on its own (never more work than the input holds).
  const side = (sign: '+' | '-') => {
    const out: Array<{ line: number; ids: number[] }> = [];
    let n = 0;
    for (const [i, l] of lines.entries()) {
      if (l.sign !== sign || n >= room) continue;
      const ids = tok.encode(l.text, { addSpecialTokens: false }).ids;
      out.push({ line: i, ids });
      n += ids.length;
    }
    return { out, n };
  };
  const added = side('+');
  const removed = side('-');
  // Added lines first; the removed lines keep at least half the room when they need it.
  const forAdded = Math.min(added.n, Math.max(room - removed.n, Math.ceil(room / 2)));
  const forRemoved = Math.min(removed.n, room - forAdded);
  const ids = [cls, ...msg, sep, sep];
  const lineOf = new Array<number>(ids.length).fill(-1);
  const put = (parts: Array<{ line: number; ids: number[] }>, budget: number) => {
    for (const p of parts) {
      for (const id of p.ids) {
        if (budget-- <= 0) return;
        ids.push(id);
        lineOf.push(p.line);
      }
    }
  };
  put(added.out, forAdded);
  ids.push(sep, sep);
  lineOf.push(-1, -1);
  put(removed.out, forRemoved);
  ids.push(sep);
  lineOf.push(-1);
  return { ids, lineOf };
}

/** The changed lines of a dataset commit's kept text (with their hunks when the dataset recorded them). */
export function linesOfText(added: string, removed: string, hunks?: { added: number[]; removed: number[] }): ChangedLine[] {
  const split = (s: string, sign: '+' | '-', counts?: number[]): ChangedLine[] => {
    if (!s) return [];
    const lines = s.split('\n');
    if (!counts) return lines.map((text) => ({ sign, text }));
    const hunkOf: number[] = counts.flatMap((n, h) => new Array<number>(n).fill(h));
    return lines.map((text, i) => ({ sign, text, hunk: hunkOf[i] ?? counts.length - 1 }));
  };
  return [...split(added, '+', hunks?.added), ...split(removed, '-', hunks?.removed)];
}
