import { loadModelFolder, type ModelFolder } from '../../models/modelFolder.js';
import { CodeTokenizer } from '../../models/tokenizer.js';
import { withAdapter } from '../../peft/apply.js';
import { beamSearch } from '../../runtime/beamSearch.js';
import { Seq2SeqRunner } from '../../runtime/seq2seq.js';
import { ort } from '../../runtime/session.js';
import type { DiffFile } from '../../git/types.js';
import type { FilterOptions } from '../../git/inputFilter.js';
import { ChangelingError } from '../../util/errors.js';
import { modelInput, type ModelInput } from './input.js';

/**
 * Commit messages from a sequence-to-sequence model (CodeT5, PLBART; optionally with a LoRA adapter merged
 * in): the change as the study's marked diff within the model's input length, beam search (transformers'
 * algorithm), and the finished beams as n-best candidates: decoded, trimmed, distinct (case- and
 * space-insensitively), ranked by the beam score (length-normalised log-probability).
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

export class MessageModel {
  private constructor(
    readonly model: ModelFolder,
    readonly tokenizer: CodeTokenizer,
    private readonly runner: Seq2SeqRunner,
    readonly maxInput: number,
    readonly label: string,
  ) {}

  static async create(dir: string, o: { adapter?: string; maxInput?: number; provider?: string } = {}): Promise<MessageModel> {
    const base = await loadModelFolder(dir);
    if (base.kind === 'roberta') throw new ChangelingError('usage', `${dir} is an encoder-only (RoBERTa) model; commit messages need CodeT5 or PLBART`);
    const model = o.adapter ? await withAdapter(base, o.adapter) : base;
    const tokenizer = await CodeTokenizer.fromFolder(dir);
    const runner = await Seq2SeqRunner.create(model, { maxLength: 1024, provider: o.provider });
    const positions = model.kind === 'bart' ? model.config.maxPositionEmbeddings : Infinity;
    return new MessageModel(model, tokenizer, runner, Math.min(o.maxInput ?? 512, positions), o.adapter ? `model+adapter` : 'model');
  }

  countTokens = (text: string): number => this.tokenizer.encode(text, { addSpecialTokens: false }).ids.length;

  /** The change as this model's input (special tokens take two of the budget). */
  input(files: readonly DiffFile[], filter?: FilterOptions): ModelInput {
    return modelInput(files, { budget: this.maxInput - 2, countTokens: this.countTokens, filter });
  }

  async generate(text: string, o: GenerateOptions = {}): Promise<ModelCandidate[]> {
    const rt = await ort();
    const ids = this.tokenizer.encode(text).ids.slice(0, this.maxInput);
    const shape = [1, ids.length];
    const beams = o.beams ?? 5;
    const hyps = (await beamSearch(this.runner, new rt.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), shape), new rt.Tensor('int64', new BigInt64Array(ids.length).fill(1n), shape), {
      numBeams: beams, numReturnSequences: beams, maxNewTokens: o.maxNewTokens ?? 64, noRepeatNgramSize: 0,
    }))[0]!;
    const seen = new Set<string>();
    const out: ModelCandidate[] = [];
    for (const h of [...hyps].sort((a, b) => b.score - a.score)) {
      const message = this.tokenizer.decode(h.tokens, { skipSpecialTokens: true }).trim();
      const key = message.toLowerCase().replace(/\s+/g, ' ');
      if (!message || seen.has(key)) continue;
      seen.add(key);
      out.push({ message, score: h.score });
      if (out.length === (o.n ?? 5)) break;
    }
    return out;
  }
}
