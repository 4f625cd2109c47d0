import { loadModelFolder, type ModelFolder } from '../../models/modelFolder.js';
import { CodeTokenizer } from '../../models/tokenizer.js';
import { withAdapter } from '../../peft/apply.js';
import { beamSearch } from '../../runtime/beamSearch.js';
import type { Precision, ResolvedPrecision } from '../../runtime/precision.js';
import { Seq2SeqRunner } from '../../runtime/seq2seq.js';
import { ort } from '../../runtime/session.js';
import type { DiffFile } from '../../git/types.js';
import type { FilterOptions } from '../../git/inputFilter.js';
import { ChangelingError } from '../../util/errors.js';
import { encoderInput, type EncoderInput } from './encoderInput.js';
import { decoderContext, PrefixConstraint } from './decoderContext.js';
import { cleanMessage } from './messageClean.js';
import { effectiveProfile, type InputFormat, type ModelProfile } from './profile.js';
import { notice } from '../../util/notices.js';

/**
 * Commit messages from a sequence-to-sequence model (CodeT5, PLBART; optionally with an adapter), fed as
 * its profile says it was trained (`changeling.json`: the input format, the generation settings, history):
 * `prepare` builds exactly what the model gets (the serialised change and its ids, the decoder prompt
 * with history and typed text, what was left out), `generate` runs beam search (transformers' algorithm)
 * with the profile's settings and returns the finished beams as n-best candidates: decoded, trimmed,
 * distinct (case- and space-insensitively), ranked by the beam score (length-normalised log-probability).
 * Typed text is completed: every candidate starts with it, and a partial last word constrains the first
 * generated word (the reference's prefix constraint).
 */
export interface ModelCandidate {
  message: string;
  /** The beam score: sum of token log-probabilities / length^lengthPenalty. */
  score: number;
}

export interface GenerateOptions {
  beams?: number;
  /** How many distinct candidates to return at most. */
  n?: number;
  maxNewTokens?: number;
}

export interface PrepareOptions {
  filter?: FilterOptions;
  /** The author's earlier messages, oldest first (raw: they are cleaned here as the model's training data was). */
  history?: readonly string[];
  /** Text the user has typed: the message's start, to be completed. */
  typed?: string;
}

export interface PreparedInput extends EncoderInput {
  decoderInputIds: number[];
  /** The partial last word of the typed text ('' when none). */
  prefix: string;
  typed: string;
  history: { used: number; offered: number };
}

export class MessageModel {
  private constructor(
    readonly model: ModelFolder,
    readonly tokenizer: CodeTokenizer,
    private readonly runner: Seq2SeqRunner,
    readonly profile: ModelProfile,
    readonly label: string,
  ) {}

  static async create(
    dir: string,
    o: { adapter?: string; maxInput?: number; provider?: string; inputFormat?: InputFormat; precision?: Precision } = {},
  ): Promise<MessageModel> {
    const base = await loadModelFolder(dir);
    if (base.kind === 'roberta')
      throw new ChangelingError('usage', `${dir} is an encoder-only (RoBERTa) model; commit messages need CodeT5 or PLBART`);
    const model = o.adapter ? await withAdapter(base, o.adapter) : base;
    const tokenizer = await CodeTokenizer.fromFolder(dir);
    if (tokenizer.size > base.config.vocabSize)
      throw new ChangelingError(
        'io',
        `${dir}: the tokenizer has ${tokenizer.size} ids but the model only ${base.config.vocabSize} embeddings; they do not belong together`,
      );
    let profile = await effectiveProfile(dir, o.adapter);
    if (o.inputFormat) profile = { ...profile, inputFormat: o.inputFormat };
    const positions = model.kind === 'bart' ? model.config.maxPositionEmbeddings : Infinity;
    profile = { ...profile, maxInput: Math.min(o.maxInput ?? profile.maxInput, positions) };
    const runner = await Seq2SeqRunner.create(model, { maxLength: 1024, provider: o.provider, precision: o.precision });
    return new MessageModel(model, tokenizer, runner, profile, o.adapter ? `model+adapter` : 'model');
  }

  get maxInput(): number {
    return this.profile.maxInput;
  }

  /** The precision the model's graphs run in. */
  get precision(): ResolvedPrecision {
    return this.runner.precision;
  }

  /** The CommitChronicle formats were collected from whitespace-insensitive diffs (git diff -w). */
  get wantsWhitespaceInsensitiveDiff(): boolean {
    return this.profile.inputFormat !== 'study';
  }

  get usesHistory(): boolean {
    return this.profile.history === 'author';
  }

  countTokens = (text: string): number => this.tokenizer.encode(text, { addSpecialTokens: false }).ids.length;

  /** Exactly what the model gets for this change: encoder ids, decoder prompt, and what was left out. */
  prepare(files: readonly DiffFile[], o: PrepareOptions = {}): PreparedInput {
    const enc = encoderInput(files, {
      format: this.profile.inputFormat,
      tokenizer: this.tokenizer,
      maxInput: this.maxInput,
      filter: o.filter,
    });
    const typed = o.typed ?? '';
    const history = this.usesHistory ? (o.history ?? []).map(cleanMessage).filter(Boolean) : [];
    const dec = decoderContext(this.tokenizer, {
      startTokenId: this.runner.info.decoderStartTokenId,
      sepTokenId: this.tokenizer.tokenId('</s>') ?? this.runner.info.eosTokenId,
      history,
      typed,
      maxLength: this.profile.maxDecoderContext,
      maxNewTokens: this.profile.generation.maxNewTokens,
    });
    if (dec.cut)
      notice(
        `the typed message is longer than the model reads (${dec.cut.typedTokens} tokens): the model sees its last ${dec.cut.kept} tokens`,
      );
    return { ...enc, decoderInputIds: dec.ids, prefix: dec.prefix, typed, history: dec.history };
  }

  /**
   * One training example as the reference's train collator builds it: labels `<s> message </s>`; for a
   * model trained with history, the decoder reads `start <s> history_1 </s> ... message` and the history
   * positions are left out of the loss (-100). `history` is the author's earlier messages, oldest first.
   */
  trainingExample(
    files: readonly DiffFile[],
    target: string,
    history: readonly string[] = [],
    filter?: FilterOptions,
  ): { input_ids: number[]; labels: number[]; decoder_input_ids?: number[] } {
    const inputIds = this.prepare(files, { filter }).inputIds;
    const tok = this.tokenizer;
    const bos = tok.tokenId('<s>') ?? 1;
    const eos = tok.tokenId('</s>') ?? this.runner.info.eosTokenId;
    const max = this.profile.maxDecoderContext;
    const msg = tok.encode(target, { addSpecialTokens: false }).ids.slice(0, max - 2);
    if (!this.usesHistory) return { input_ids: inputIds, labels: [bos, ...msg, eos] };
    const picked: number[][] = [];
    let used = msg.length + 2;
    const cleaned = history.map(cleanMessage).filter(Boolean);
    for (let i = cleaned.length - 1; i >= 0; i--) {
      const ids = tok.encode(cleaned[i]!, { addSpecialTokens: false }).ids;
      if (used + ids.length + 1 > max) break;
      used += ids.length + 1;
      picked.push([...ids, eos]);
    }
    const hist = picked.reverse().flat();
    return {
      input_ids: inputIds,
      decoder_input_ids: [this.runner.info.decoderStartTokenId, bos, ...hist, ...msg],
      labels: [bos, ...hist.map(() => -100), ...msg, eos],
    };
  }

  async generate(input: PreparedInput, o: GenerateOptions = {}): Promise<ModelCandidate[]> {
    const rt = await ort();
    const ids = input.inputIds;
    const g = this.profile.generation;
    const shape = [1, ids.length];
    const beams = Math.max(o.beams ?? g.numBeams, o.n ?? 1);
    const prompt = input.decoderInputIds;
    const constraint = input.prefix ? new PrefixConstraint(this.tokenizer, input.prefix) : null;
    const hyps = (
      await beamSearch(
        this.runner,
        new rt.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), shape),
        new rt.Tensor('int64', new BigInt64Array(ids.length).fill(1n), shape),
        {
          numBeams: beams,
          numReturnSequences: beams,
          maxNewTokens: o.maxNewTokens ?? g.maxNewTokens,
          noRepeatNgramSize: g.noRepeatNgramSize,
          minNewTokens: g.minNewTokens,
          lengthPenalty: g.lengthPenalty,
          prompt,
          allowedTokens: constraint ? (_row, generated) => constraint.allowed(generated) : undefined,
        },
      )
    )[0]!;
    const seen = new Set<string>();
    const out: ModelCandidate[] = [];
    for (const h of [...hyps].sort((a, b) => b.score - a.score)) {
      const generated = this.tokenizer.decode(h.tokens.slice(prompt.length), { skipSpecialTokens: true });
      const message = completeTyped(input.typed, input.prefix, generated);
      const key = message.toLowerCase().replace(/\s+/g, ' ');
      if (!message || message === input.typed.trim() || seen.has(key)) continue;
      seen.add(key);
      out.push({ message, score: h.score });
      if (out.length === (o.n ?? 5)) break;
    }
    return out;
  }
}

/** The typed text, kept as typed, followed by what the model wrote after it (the partial word completed). */
export function completeTyped(typed: string, prefix: string, generated: string): string {
  if (!typed) return generated.trim();
  const rest = prefix && generated.startsWith(prefix) ? generated.slice(prefix.length) : generated;
  return (typed + rest).replace(/\s+$/, '');
}
