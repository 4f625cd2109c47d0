import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { GraphBuilder } from '../graph/builder.js';
import { serialize } from '../graph/serialize.js';
import { t5Decoder, t5Encoder } from '../models/t5.js';
import { GraphWeights } from '../models/weights.js';
import type { ModelFolder } from '../models/modelFolder.js';
import { createSession, ort, type SessionOptions } from './session.js';

/**
 * A T5 checkpoint as two sessions, encoder and decoder+head, for inspection and greedy generation.
 * (Generation here re-runs the decoder over the whole prefix at each step; the decoder-with-cache graph
 * is the runtime issue's next step.)
 */
export class T5Runner {
  private constructor(
    readonly model: ModelFolder,
    private readonly encoder: InferenceSession,
    private readonly decoder: InferenceSession,
  ) {}

  static async create(model: ModelFolder, o: SessionOptions & { maxLength?: number } = {}): Promise<T5Runner> {
    const cfg = model.config;
    const eb = new GraphBuilder('t5-encoder');
    const ids = eb.input('input_ids', 'int64', ['batch', 'src']);
    const mask = eb.input('attention_mask', 'int64', ['batch', 'src']);
    eb.output(t5Encoder(eb, cfg, new GraphWeights(eb, model.weights), ids, mask, o), 'encoder_last_hidden_state');
    const db = new GraphBuilder('t5-decoder');
    const dids = db.input('decoder_input_ids', 'int64', ['batch', 'tgt']);
    const enc = db.input('encoder_hidden_states', 'float32', ['batch', 'src', cfg.dModel]);
    const dmask = db.input('attention_mask', 'int64', ['batch', 'src']);
    db.output(t5Decoder(db, cfg, new GraphWeights(db, model.weights), dids, enc, dmask, o), 'logits');
    const [encoder, decoder] = await Promise.all([createSession(serialize(eb), o), createSession(serialize(db), o)]);
    return new T5Runner(model, encoder, decoder);
  }

  async encode(inputIds: OrtTensor, attentionMask: OrtTensor): Promise<OrtTensor> {
    return (await this.encoder.run({ input_ids: inputIds, attention_mask: attentionMask })).encoder_last_hidden_state!;
  }

  async decode(decoderInputIds: OrtTensor, encoderHidden: OrtTensor, attentionMask: OrtTensor): Promise<OrtTensor> {
    return (await this.decoder.run({ decoder_input_ids: decoderInputIds, encoder_hidden_states: encoderHidden, attention_mask: attentionMask })).logits!;
  }

  /** Greedy decoding as transformers' generate(num_beams=1): sequences start with the decoder start token; finished rows are padded. */
  async greedy(inputIds: OrtTensor, attentionMask: OrtTensor, maxNewTokens: number): Promise<{ sequences: number[][]; stepLogits: Float32Array[] }> {
    const rt = await ort();
    const cfg = this.model.config;
    const B = inputIds.dims[0]!;
    const V = cfg.vocabSize;
    const enc = await this.encode(inputIds, attentionMask);
    const seqs = Array.from({ length: B }, () => [cfg.decoderStartTokenId]);
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
        seqs[i]!.push(done[i] ? cfg.padTokenId : best);
        if (best === cfg.eosTokenId) done[i] = true;
      }
      stepLogits.push(last);
    }
    return { sequences: seqs, stepLogits };
  }
}
