import { SentencePieceProcessor } from './sentencepiece.js';
import { addTokens, encodeAroundSpecials } from './addedTokens.js';

/**
 * PLBART's tokenizer as transformers' PLBartTokenizer computes it, over the checkpoint's SentencePiece model
 * (`sentencepiece.bpe.model`): fairseq's ids (`<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3, then every piece
 * one place up from its SentencePiece id, SentencePiece's own `<unk>` mapping to 3), the language codes of the
 * "base" vocabulary after the pieces (`__java__`, `__python__`, `__en_XX__`), then `<mask>`; special tokens
 * appended as PLBART does: `</s>` and, with a source language, its code.
 */
export const PLBART_LANGUAGE_CODES = {
  base: ['__java__', '__python__', '__en_XX__'],
  multi: ['__java__', '__python__', '__en_XX__', '__javascript__', '__php__', '__ruby__', '__go__'],
} as const;

const FAIRSEQ: Record<string, number> = { '<s>': 0, '<pad>': 1, '</s>': 2, '<unk>': 3 };
const OFFSET = 1;

export class PlbartTokenizer {
  private readonly langIds = new Map<string, number>();
  private readonly added = new Map<string, number>();
  readonly maskId: number;

  constructor(
    private readonly sp: SentencePieceProcessor,
    codes: readonly string[] = PLBART_LANGUAGE_CODES.base,
    private srcLang: string | null = null,
  ) {
    codes.forEach((c, i) => this.langIds.set(c, sp.size + OFFSET + i));
    this.maskId = sp.size + OFFSET + codes.length;
  }

  get size(): number {
    return Math.max(this.maskId, ...this.added.values()) + 1;
  }

  private fromPiece(spId: number): number {
    return spId === 0 ? FAIRSEQ['<unk>']! : spId + OFFSET;
  }

  tokenId(token: string): number | undefined {
    if (token in FAIRSEQ) return FAIRSEQ[token];
    if (token === '<mask>') return this.maskId;
    const lang = this.langIds.get(token) ?? this.added.get(token);
    if (lang !== undefined) return lang;
    const i = this.sp.model.pieces.findIndex((p) => p.piece === token);
    return i < 0 ? undefined : this.fromPiece(i);
  }

  vocabEntries(): Array<[string, number]> {
    const out = new Map<string, number>();
    this.sp.model.pieces.forEach((p, i) => out.set(p.piece, this.fromPiece(i)));
    for (const [t, id] of Object.entries(FAIRSEQ)) out.set(t, id);
    for (const [t, id] of this.langIds) out.set(t, id);
    out.set('<mask>', this.maskId);
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
    const specials = [...this.added.keys(), ...this.langIds.keys(), '<mask>'];
    const ids = encodeAroundSpecials(
      text,
      specials,
      (c) => this.sp.encode(c).map((i) => this.fromPiece(i)),
      (t) => this.tokenId(t)!,
    );
    if (o.addSpecialTokens ?? true) {
      ids.push(FAIRSEQ['</s>']!);
      if (this.srcLang && this.langIds.has(this.srcLang)) ids.push(this.langIds.get(this.srcLang)!);
    }
    return { ids, tokens: ids.map((i) => this.token(i)) };
  }

  private token(id: number): string {
    for (const [t, v] of Object.entries(FAIRSEQ)) if (v === id) return t;
    for (const [t, v] of this.langIds) if (v === id) return t;
    for (const [t, v] of this.added) if (v === id) return t;
    if (id === this.maskId) return '<mask>';
    return this.sp.model.pieces[id - OFFSET]?.piece ?? '<unk>';
  }

  /** As transformers' SentencePiece backend: the tokens joined, "▁" read as a space, trimmed. */
  decode(ids: number[], o: { skipSpecialTokens?: boolean } = {}): string {
    const special = new Set([...Object.values(FAIRSEQ), ...this.langIds.values(), this.maskId, ...this.added.values()]);
    const text = ids
      .filter((id) => !(o.skipSpecialTokens && special.has(id)))
      .map((id) => this.token(id))
      .join('')
      .replaceAll('\u2581', ' ')
      .trim();
    // transformers' clean_up_tokenization, on by default for PLBart.
    return text
      .replaceAll(' .', '.')
      .replaceAll(' ?', '?')
      .replaceAll(' !', '!')
      .replaceAll(' ,', ',')
      .replaceAll(" ' ", "'")
      .replaceAll(" n't", "n't")
      .replaceAll(" 'm", "'m")
      .replaceAll(" 's", "'s")
      .replaceAll(" 've", "'ve")
      .replaceAll(" 're", "'re");
  }
}
