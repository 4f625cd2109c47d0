import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { GraphBuilder } from '../graph/builder.js';
import { serialize } from '../graph/serialize.js';
import type { Tensor } from '../graph/ir.js';
import { t5Decoder, t5Encoder } from '../models/t5.js';
import { bartDecoder, bartEncoder } from '../models/bart.js';
import { GraphWeights } from '../models/weights.js';
import type { ModelFolder } from '../models/modelFolder.js';
import { ChangelingError } from '../util/errors.js';
import { createSession, ort, type SessionOptions } from './session.js';

/** What generation needs to know of an encoder-decoder checkpoint. */
export interface Seq2SeqInfo {
  vocabSize: number;
  dModel: number;
  padTokenId: number;
  eosTokenId: number;
  decoderStartTokenId: number;
  /** Forced as the last token when max_length is reached (BART/PLBART's forced_eos_token_id). */
  forcedEosTokenId: number | null;
}

type Seq2SeqFolder = Extract<ModelFolder, { kind: 't5' | 'bart' }>;

function describe(m: Seq2SeqFolder): Seq2SeqInfo {
  if (m.kind === 't5') {
    const c = m.config;
    return { vocabSize: c.vocabSize, dModel: c.dModel, padTokenId: c.padTokenId, eosTokenId: c.eosTokenId, decoderStartTokenId: c.decoderStartTokenId, forcedEosTokenId: null };
  }
  const c = m.config;
  return { vocabSize: c.vocabSize, dModel: c.dModel, padTokenId: c.padTokenId, eosTokenId: c.eosTokenId, decoderStartTokenId: c.decoderStartTokenId ?? c.eosTokenId, forcedEosTokenId: c.forcedEosTokenId };
}

/**
 * An encoder-decoder checkpoint (T5 or BART/PLBART) as two sessions, encoder and decoder+head, for
 * inspection and greedy generation. (Generation here re-runs the decoder over the whole prefix at each
 * step; the decoder-with-cache graph is the runtime's next step.)
 */
export class Seq2SeqRunner {
  readonly info: Seq2SeqInfo;

  private constructor(
    readonly model: Seq2SeqFolder,
    private readonly encoder: InferenceSession,
    private readonly decoder: InferenceSession,
  ) {
    this.info = describe(model);
  }

  static async create(model: ModelFolder, o: SessionOptions & { maxLength?: number } = {}): Promise<Seq2SeqRunner> {
    if (model.kind === 'roberta') throw new ChangelingError('usage', `${model.dir} is an encoder-only (RoBERTa) model: it does not generate`);
    const info = describe(model);
    const enc = (b: GraphBuilder, w: GraphWeights, ids: Tensor, mask: Tensor) => (model.kind === 't5' ? t5Encoder(b, model.config, w, ids, mask, o) : bartEncoder(b, model.config, w, ids, mask));
    const dec = (b: GraphBuilder, w: GraphWeights, d: Tensor, h: Tensor, mask: Tensor) => (model.kind === 't5' ? t5Decoder(b, model.config, w, d, h, mask, o) : bartDecoder(b, model.config, w, d, h, mask));
    const eb = new GraphBuilder('encoder');
    eb.output(enc(eb, new GraphWeights(eb, model.weights), eb.input('input_ids', 'int64', ['batch', 'src']), eb.input('attention_mask', 'int64', ['batch', 'src'])), 'encoder_last_hidden_state');
    const db = new GraphBuilder('decoder');
    const dids = db.input('decoder_input_ids', 'int64', ['batch', 'tgt']);
    const h = db.input('encoder_hidden_states', 'float32', ['batch', 'src', info.dModel]);
    const m = db.input('attention_mask', 'int64', ['batch', 'src']);
    db.output(dec(db, new GraphWeights(db, model.weights), dids, h, m), 'logits');
    const [encoder, decoder] = await Promise.all([createSession(serialize(eb), o), createSession(serialize(db), o)]);
    return new Seq2SeqRunner(model, encoder, decoder);
  }

  async encode(inputIds: OrtTensor, attentionMask: OrtTensor): Promise<OrtTensor> {
    return (await this.encoder.run({ input_ids: inputIds, attention_mask: attentionMask })).encoder_last_hidden_state!;
  }

  async decode(decoderInputIds: OrtTensor, encoderHidden: OrtTensor, attentionMask: OrtTensor): Promise<OrtTensor> {
    return (await this.decoder.run({ decoder_input_ids: decoderInputIds, encoder_hidden_states: encoderHidden, attention_mask: attentionMask })).logits!;
  }

  /**
   * Greedy decoding as transformers' generate(num_beams=1): sequences start with the decoder start
   * token; finished rows continue with padding; with forced_eos_token_id the last step is forced to EOS.
   * Returns the raw (unprocessed) logits of each step too.
   */
  async greedy(inputIds: OrtTensor, attentionMask: OrtTensor, maxNewTokens: number, o: { decoderStartTokenId?: number } = {}): Promise<{ sequences: number[][]; stepLogits: Float32Array[] }> {
    const rt = await ort();
    const { vocabSize: V, eosTokenId, padTokenId, forcedEosTokenId } = this.info;
    const decoderStartTokenId = o.decoderStartTokenId ?? this.info.decoderStartTokenId;
    const B = inputIds.dims[0]!;
    const enc = await this.encode(inputIds, attentionMask);
    const seqs = Array.from({ length: B }, () => [decoderStartTokenId]);
    const done = new Array<boolean>(B).fill(false);
    const stepLogits: Float32Array[] = [];
    for (let step = 0; step < maxNewTokens && !done.every(Boolean); step++) {
      const T = seqs[0]!.length;
      const dec = new rt.Tensor('int64', BigInt64Array.from(seqs.flat().map(BigInt)), [B, T]);
      const logits = (await this.decode(dec, enc, attentionMask)).data as Float32Array;
      const last = new Float32Array(B * V);
      for (let i = 0; i < B; i++) {
        const row = logits.subarray((i * T + T - 1) * V, (i * T + T) * V);
        last.set(row, i * V);
        let best = 0;
        for (let v = 1; v < V; v++) if (row[v]! > row[best]!) best = v;
        if (forcedEosTokenId !== null && step === maxNewTokens - 1) best = forcedEosTokenId;
        seqs[i]!.push(done[i] ? padTokenId : best);
        if (best === eosTokenId) done[i] = true;
      }
      stepLogits.push(last);
    }
    return { sequences: seqs, stepLogits };
  }
}
