import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { ChangelingError } from '../util/errors.js';
import { TEXT_CAP, readJsonFile, readTextFile } from '../util/jsonFile.js';
import { PLBART_LANGUAGE_CODES, PlbartTokenizer } from './plbartTokenizer.js';
import { SentencePieceProcessor } from './sentencepiece.js';
import { T5SentencePieceTokenizer } from './t5SpmTokenizer.js';

/**
 * The byte-level BPE tokenizers of CodeT5 and RoBERTa/CodeBERT, through @huggingface/tokenizers, from
 * a folder's tokenizer.json or its vocab.json + merges.txt (built into the same pipeline as transformers'
 * RobertaTokenizerFast). Extra special tokens (the study's `<add>`, `<del>`, `<keep>`, `[ADD]`, `[DEL]`)
 * are split out whole and get the next free ids. Pairs are assembled here as `<s> A </s></s> B </s>`
 * (RobertaProcessing), which the library drops for an empty pair.
 */
type TokenizerJson = {
  added_tokens: Array<{
    id: number;
    content: string;
    single_word: boolean;
    lstrip: boolean;
    rstrip: boolean;
    normalized: boolean;
    special: boolean;
  }>;
  post_processor: { type: string; cls?: [string, number]; sep?: [string, number]; [k: string]: unknown } | null;
  model: { vocab: Record<string, number>; [k: string]: unknown };
  [k: string]: unknown;
};

/** tokenizer.json for RobertaTokenizerFast's pipeline over vocab.json + merges.txt. */
function fromVocabMerges(vocab: Record<string, number>, mergesText: string, specials: string[]): TokenizerJson {
  const merges = mergesText
    .split('\n')
    .filter((l) => l && !l.startsWith('#version'))
    .map((l) => l.split(' ') as [string, string]);
  const id = (t: string) => vocab[t];
  const cls = id('<s>') !== undefined ? '<s>' : null;
  const sep = id('</s>') !== undefined ? '</s>' : null;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials
      .filter((t) => id(t) !== undefined)
      .map((t) => ({
        id: id(t)!,
        content: t,
        single_word: false,
        lstrip: t === '<mask>',
        rstrip: false,
        normalized: false,
        special: true,
      })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor:
      cls && sep
        ? { type: 'RobertaProcessing', sep: [sep, id(sep)!], cls: [cls, id(cls)!], trim_offsets: true, add_prefix_space: false }
        : null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

export class BpeTokenizer {
  private tok: Tokenizer;

  private constructor(private readonly json: TokenizerJson) {
    this.tok = new Tokenizer(json as never, {});
  }

  /** A folder's tokenizer; whatever is wrong with its files (not a tokenizer, wrong types, a library error) is one clear error naming it. */
  static async fromFolder(dir: string): Promise<CodeTokenizer> {
    try {
      const t = await BpeTokenizer.fromFolderUnchecked(dir);
      t.encode('a b');
      return t;
    } catch (err) {
      if (err instanceof ChangelingError) throw err;
      throw new ChangelingError('io', `${dir} has no usable tokenizer: ${(err as Error)?.message?.split('\n')[0] ?? String(err)}`);
    }
  }

  private static async fromFolderUnchecked(dir: string): Promise<CodeTokenizer> {
    // PLBART ships a SentencePiece model and no tokenizer.json or vocab.json.
    const spm = join(dir, 'sentencepiece.bpe.model');
    if (!existsSync(join(dir, 'tokenizer.json')) && !existsSync(join(dir, 'vocab.json')) && existsSync(spm)) {
      const codes =
        ((await readJsonFile(join(dir, 'tokenizer_config.json')).catch(() => ({}))) as { language_codes?: string }).language_codes ===
        'multi'
          ? PLBART_LANGUAGE_CODES.multi
          : PLBART_LANGUAGE_CODES.base;
      return new PlbartTokenizer(await SentencePieceProcessor.fromFile(spm), codes);
    }
    // T5 checkpoints that ship only a SentencePiece model (CodeTrans).
    const spiece = join(dir, 'spiece.model');
    if (!existsSync(join(dir, 'tokenizer.json')) && !existsSync(join(dir, 'vocab.json')) && existsSync(spiece)) {
      const extra = ((await readJsonFile(join(dir, 'tokenizer_config.json')).catch(() => ({}))) as { extra_ids?: number }).extra_ids;
      return new T5SentencePieceTokenizer(
        await SentencePieceProcessor.fromFile(spiece),
        Number.isInteger(extra) && extra! >= 0 && extra! <= 1000 ? extra : 100,
      );
    }
    const tj = join(dir, 'tokenizer.json');
    if (existsSync(tj)) {
      const json = (await readJsonFile(tj, { max: TEXT_CAP })) as TokenizerJson;
      if (
        !json ||
        typeof json !== 'object' ||
        !json.model ||
        typeof json.model.vocab !== 'object' ||
        !Array.isArray(json.added_tokens ?? [])
      )
        throw new ChangelingError('io', `${tj} is not a tokenizer (no model vocabulary)`);
      return new BpeTokenizer(json);
    }
    const vj = join(dir, 'vocab.json');
    const mt = join(dir, 'merges.txt');
    if (!existsSync(vj) || !existsSync(mt))
      throw new ChangelingError('not-found', `${dir} has no tokenizer.json, nor vocab.json and merges.txt`);
    const vocab = (await readJsonFile(vj, { max: TEXT_CAP })) as Record<string, number>;
    if (!vocab || typeof vocab !== 'object' || Array.isArray(vocab) || !Object.values(vocab).every((v) => Number.isInteger(v) && v >= 0))
      throw new ChangelingError('io', `${vj} is not a vocabulary (an object of token ids)`);
    const merges = await readTextFile(mt);
    const t = new BpeTokenizer(fromVocabMerges(vocab, merges, ['<s>', '<pad>', '</s>', '<unk>', '<mask>']));
    const added = join(dir, 'added_tokens.json');
    if (existsSync(added)) {
      const extra = (await readJsonFile(added)) as Record<string, number>;
      for (const [content, id] of Object.entries(extra).sort((a, b) => a[1] - b[1]))
        t.json.added_tokens.push({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
      t.tok = new Tokenizer(t.json as never, {});
    }
    return t;
  }

  /** Number of ids, added tokens included. */
  get size(): number {
    let max = -1;
    for (const v of Object.values(this.json.model.vocab)) max = Math.max(max, v);
    for (const a of this.json.added_tokens) max = Math.max(max, a.id);
    return max + 1;
  }

  /** Every token string with its id, added tokens included (transformers' get_vocab()). */
  vocabEntries(): Array<[string, number]> {
    const out = new Map<string, number>(Object.entries(this.json.model.vocab));
    for (const a of this.json.added_tokens) out.set(a.content, a.id);
    return [...out];
  }

  tokenId(token: string): number | undefined {
    return this.json.added_tokens.find((a) => a.content === token)?.id ?? this.json.model.vocab[token];
  }

  /** Adds special tokens that are not known yet; returns their ids (the model's embeddings must grow to `size`). */
  addSpecialTokens(tokens: string[]): number[] {
    const ids = tokens.map((t) => {
      const known = this.tokenId(t);
      if (known !== undefined) return known;
      const id = this.size;
      this.json.added_tokens.push({ id, content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
      return id;
    });
    this.tok = new Tokenizer(this.json as never, {});
    return ids;
  }

  encode(text: string, o: { pair?: string; addSpecialTokens?: boolean } = {}): { ids: number[]; tokens: string[] } {
    const special = o.addSpecialTokens ?? true;
    const pp = this.json.post_processor;
    if (o.pair === undefined || !special || pp?.type !== 'RobertaProcessing') {
      const r = this.tok.encode(text, { add_special_tokens: special, ...(o.pair !== undefined ? { text_pair: o.pair } : {}) });
      return { ids: r.ids, tokens: r.tokens };
    }
    const a = this.tok.encode(text, { add_special_tokens: false });
    const b = this.tok.encode(o.pair, { add_special_tokens: false });
    const [cls, clsId] = pp.cls!;
    const [sep, sepId] = pp.sep!;
    return { ids: [clsId, ...a.ids, sepId, sepId, ...b.ids, sepId], tokens: [cls, ...a.tokens, sep, sep, ...b.tokens, sep] };
  }

  decode(ids: number[], o: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return '';
    return this.tok.decode(ids, { skip_special_tokens: o.skipSpecialTokens ?? false, clean_up_tokenization_spaces: false });
  }
}

/** The tokenizer of a model folder: byte-level BPE (CodeT5, RoBERTa), PLBART's SentencePiece, or T5's SentencePiece. */
export type CodeTokenizer = BpeTokenizer | PlbartTokenizer | T5SentencePieceTokenizer;
export const CodeTokenizer = { fromFolder: (dir: string): Promise<CodeTokenizer> => BpeTokenizer.fromFolder(dir) };
