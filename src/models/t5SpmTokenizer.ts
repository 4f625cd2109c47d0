import type { SentencePieceProcessor } from './sentencepiece.js';
import { addTokens, encodeAroundSpecials } from './addedTokens.js';

/**
 * T5's tokenizer over a SentencePiece model (`spiece.model`, as CodeTrans and other SentencePiece T5
 * checkpoints ship it), as transformers' T5Tokenizer computes it: the pieces' own ids (`<pad>`=0, `</s>`=1,
 * `<unk>`=2), then 100 sentinels counting down from the end (`<extra_id_0>` is the last id), `</s>` appended.
 */
const SPECIAL: Record<string, number> = { '<pad>': 0, '</s>': 1, '<unk>': 2 };

export class T5SentencePieceTokenizer {
  private readonly added = new Map<string, number>();

  constructor(
    private readonly sp: SentencePieceProcessor,
    readonly extraIds = 100,
  ) {}

  get size(): number {
    return Math.max(this.sp.size + this.extraIds - 1, ...this.added.values()) + 1;
  }

  private sentinel(token: string): number | undefined {
    const m = /^<extra_id_(\d+)>$/.exec(token);
    if (!m || Number(m[1]) >= this.extraIds) return undefined;
    return this.sp.size + this.extraIds - 1 - Number(m[1]);
  }

  tokenId(token: string): number | undefined {
    if (token in SPECIAL) return SPECIAL[token];
    const s = this.sentinel(token) ?? this.added.get(token);
    if (s !== undefined) return s;
    const i = this.sp.model.pieces.findIndex((p) => p.piece === token);
    return i < 0 ? undefined : i;
  }

  vocabEntries(): Array<[string, number]> {
    const out = new Map<string, number>();
    this.sp.model.pieces.forEach((p, i) => out.set(p.piece, i));
    for (let i = 0; i < this.extraIds; i++) out.set(`<extra_id_${i}>`, this.sp.size + this.extraIds - 1 - i);
    for (const [t, id] of this.added) out.set(t, id);
    return [...out];
  }

  addSpecialTokens(tokens: string[]): number[] {
    return addTokens(
      tokens,
      (t) => this.tokenId(t),
      this.added,
      () => this.size,
    );
  }

  encode(text: string, o: { pair?: string; addSpecialTokens?: boolean } = {}): { ids: number[]; tokens: string[] } {
    const specials = [...this.added.keys(), ...Array.from({ length: this.extraIds }, (_, i) => `<extra_id_${i}>`)];
    const ids = encodeAroundSpecials(
      text,
      specials,
      (c) => this.sp.encode(c),
      (t) => this.tokenId(t)!,
    );
    if (o.addSpecialTokens ?? true) ids.push(SPECIAL['</s>']!);
    return { ids, tokens: ids.map((i) => this.token(i)) };
  }

  private token(id: number): string {
    for (const [t, v] of Object.entries(SPECIAL)) if (v === id) return t;
    for (const [t, v] of this.added) if (v === id) return t;
    if (id >= this.sp.size && id < this.sp.size + this.extraIds) return `<extra_id_${this.sp.size + this.extraIds - 1 - id}>`;
    return this.sp.model.pieces[id]?.piece ?? '<unk>';
  }

  /** As transformers' Metaspace decoder: pieces joined, "▁" read as a space, the leading one dropped. */
  decode(ids: number[], o: { skipSpecialTokens?: boolean } = {}): string {
    const special = new Set([...Object.values(SPECIAL), ...this.added.values()]);
    const isSentinel = (id: number) => id >= this.sp.size && id < this.sp.size + this.extraIds;
    const text = ids
      .filter((id) => !(o.skipSpecialTokens && (special.has(id) || isSentinel(id))))
      .map((id) => this.token(id))
      .join('')
      .replaceAll('\u2581', ' ');
    return text.startsWith(' ') ? text.slice(1) : text;
  }
}
