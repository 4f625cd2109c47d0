import type { DiffFile } from '../../git/types.js';
import { bleuOfTokens } from '../../eval/cmgMetrics.js';

/**
 * NNGen (Liu et al., "Neural-machine-translation-based commit message generation: how far are we?",
 * ASE 2018): the message of the nearest neighbour in the repository's own history. Diffs are bags of
 * words (term counts of the changed files' names and their added, removed and context lines); the k most
 * cosine-similar training diffs are re-ranked by BLEU-4 between the diffs, and their messages, in that
 * order, are the candidates. No model, no download: it works from the first second on any repository with
 * a history. The index keeps, per commit, its term counts (an inverted index for the cosine) and its first
 * `MAX_SEQ` tokens (for the BLEU re-ranking).
 */
export interface NngenCandidate {
  message: string;
  sha: string;
  cosine: number;
  bleu: number;
}

const MAX_SEQ = 512;
const TOKEN = /[A-Za-z_][A-Za-z0-9_]*|\d+|[^\s\w]/g;

/** The words of a diff as NNGen reads it: file names and every diff line's tokens, lower-cased. */
export function diffWords(files: readonly DiffFile[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    for (const t of f.path.match(TOKEN) ?? []) out.push(t.toLowerCase());
    if (f.binary || f.submodule) continue;
    for (const h of f.hunks) for (const l of h.lines) for (const t of l.slice(1).match(TOKEN) ?? []) out.push(t.toLowerCase());
  }
  return out;
}

export class NngenIndex {
  private readonly vocab = new Map<string, number>();
  private readonly postings: Array<Array<[number, number]>> = []; // term -> [(doc, count)]
  private readonly norms: number[] = [];
  private readonly seqs: Int32Array[] = [];
  readonly messages: string[] = [];
  readonly shas: string[] = [];

  get size(): number {
    return this.messages.length;
  }

  add(sha: string, message: string, words: readonly string[]): void {
    if (words.length === 0 || !message.trim()) return;
    const doc = this.messages.length;
    const counts = new Map<number, number>();
    const seq = new Int32Array(Math.min(words.length, MAX_SEQ));
    words.forEach((w, i) => {
      let id = this.vocab.get(w);
      if (id === undefined) {
        id = this.vocab.size;
        this.vocab.set(w, id);
        this.postings.push([]);
      }
      counts.set(id, (counts.get(id) ?? 0) + 1);
      if (i < MAX_SEQ) seq[i] = id;
    });
    let norm = 0;
    for (const [id, c] of counts) {
      this.postings[id]!.push([doc, c]);
      norm += c * c;
    }
    this.norms.push(Math.sqrt(norm));
    this.seqs.push(seq);
    this.messages.push(message.trim());
    this.shas.push(sha);
  }

  /** The neighbours' messages, best first: top `k` by cosine, re-ranked by BLEU-4 of the diffs; distinct messages. */
  query(words: readonly string[], o: { k?: number; exclude?: ReadonlySet<string> } = {}): NngenCandidate[] {
    const k = o.k ?? 5;
    const q = new Map<number, number>();
    for (const w of words) {
      const id = this.vocab.get(w);
      if (id !== undefined) q.set(id, (q.get(id) ?? 0) + 1);
    }
    // The query's norm counts every word, known to the index or not.
    let qn = 0;
    const all = new Map<string, number>();
    for (const w of words) all.set(w, (all.get(w) ?? 0) + 1);
    for (const c of all.values()) qn += c * c;
    qn = Math.sqrt(qn);
    const dots = new Float64Array(this.size);
    for (const [id, c] of q) for (const [doc, n] of this.postings[id]!) dots[doc]! += c * n;
    const scored: Array<[number, number]> = [];
    dots.forEach((d, doc) => {
      if (d > 0 && !o.exclude?.has(this.shas[doc]!)) scored.push([doc, d / (qn * this.norms[doc]!)]);
    });
    scored.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    const hyp = words.slice(0, MAX_SEQ).map((w) => String(this.vocab.get(w) ?? `?${w}`));
    const seen = new Set<string>();
    const out: NngenCandidate[] = [];
    for (const [doc, cosine] of scored.slice(0, k * 3)) {
      const message = this.messages[doc]!;
      const key = message.toLowerCase();
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ message, sha: this.shas[doc]!, cosine, bleu: bleuOfTokens([Array.from(this.seqs[doc]!, String)], hyp) });
      if (out.length === k) break;
    }
    return out.sort((a, b) => b.bleu - a.bleu || b.cosine - a.cosine);
  }
}
