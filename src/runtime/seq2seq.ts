import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { GraphBuilder } from '../graph/builder.js';
import type { Tensor } from '../graph/ir.js';
import { t5CrossKeyValues, t5Decoder, t5DecoderStep, t5Encoder } from '../models/t5.js';
import { bartCrossKeyValues, bartDecoder, bartDecoderStep, bartEncoder } from '../models/bart.js';
import { GraphWeights } from '../models/weights.js';
import { requireKind, type ModelFolder } from '../models/modelFolder.js';
import { ChangelingError } from '../util/errors.js';
import { createSessionFromFile, ort, type SessionOptions, collectGarbage } from './session.js';
import { cachedGraphs, modelFingerprint } from './graphCache.js';
import { greedyDecode, type DecodeInfo, type GenerationOptions } from './generation.js';
import { precisionPlan, type ResolvedPrecision } from './precision.js';
import { fusedAttentionFor } from './fusedAttention.js';
import { gatherRows } from './gatherRows.js';

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
    return {
      vocabSize: c.vocabSize,
      dModel: c.dModel,
      padTokenId: c.padTokenId,
      eosTokenId: c.eosTokenId,
      decoderStartTokenId: c.decoderStartTokenId,
      forcedEosTokenId: null,
    };
  }
  const c = m.config;
  return {
    vocabSize: c.vocabSize,
    dModel: c.dModel,
    padTokenId: c.padTokenId,
    eosTokenId: c.eosTokenId,
    decoderStartTokenId: c.decoderStartTokenId ?? c.eosTokenId,
    forcedEosTokenId: c.forcedEosTokenId,
  };
}

/**
 * An encoder-decoder checkpoint (T5 or BART/PLBART) as onnxruntime sessions: the encoder, the cross-attention
 * keys/values (computed once per input) and the cached decoder step (one new token per step, the
 * self-attention cache grown as it goes), which beam search drives; the whole-sequence decoder+head is opened
 * on demand, for inspection.
 */
export class Seq2SeqRunner {
  readonly info: Seq2SeqInfo;

  private constructor(
    readonly model: Seq2SeqFolder,
    private readonly encoder: InferenceSession,
    private readonly makeDecoder: () => Promise<InferenceSession>,
    private readonly crossKv: InferenceSession,
    private readonly step: InferenceSession,
    readonly cacheShape: { layers: number; heads: number; headDim: number },
    /** The precision its graphs run in. */
    readonly precision: ResolvedPrecision,
  ) {
    this.info = describe(model);
  }

  static async create(folder: ModelFolder, o: SessionOptions & { maxLength?: number } = {}): Promise<Seq2SeqRunner> {
    if (folder.kind === 'roberta')
      throw new ChangelingError('usage', `${folder.dir} is an encoder-only (RoBERTa) model: it does not generate`);
    const model = requireKind(folder, ['t5', 'bart'], 'the encoder-decoder runtime');
    const info = describe(model);
    const cache =
      model.kind === 't5'
        ? { layers: model.config.numDecoderLayers, heads: model.config.numHeads, headDim: model.config.dKv }
        : {
            layers: model.config.decoderLayers,
            heads: model.config.decoderHeads,
            headDim: model.config.dModel / model.config.decoderHeads,
          };
    const maxLength = o.maxLength ?? 2048;
    const plan = await precisionPlan(o.precision, model.kind, o.provider);
    const precision = plan.precision;
    // Fused attention where nothing rewrites the graphs afterwards (the rewrites find attention by its parts).
    const fusedAttention = fusedAttentionFor(model, o.provider);
    const g = await cachedGraphs(
      `${model.kind}-${plan.key}${modelFingerprint(model.dir, model.weightsPath, { maxLength, precision, fused: fusedAttention, extra: model.cacheExtra ?? null })}`,
      async () => {
        const weights = await model.loadWeights();
        const mo = { maxLength };
        const enc = (b: GraphBuilder, w: GraphWeights, ids: Tensor, mask: Tensor) =>
          model.kind === 't5'
            ? t5Encoder(b, model.config, w, ids, mask, { ...mo, fusedAttention })
            : bartEncoder(b, model.config, w, ids, mask);
        const dec = (b: GraphBuilder, w: GraphWeights, d: Tensor, h: Tensor, mask: Tensor) =>
          model.kind === 't5' ? t5Decoder(b, model.config, w, d, h, mask, mo) : bartDecoder(b, model.config, w, d, h, mask);
        const eb = new GraphBuilder('encoder');
        eb.output(
          enc(
            eb,
            new GraphWeights(eb, weights),
            eb.input('input_ids', 'int64', ['batch', 'src']),
            eb.input('attention_mask', 'int64', ['batch', 'src']),
          ),
          'encoder_last_hidden_state',
        );
        const db = new GraphBuilder('decoder');
        const dids = db.input('decoder_input_ids', 'int64', ['batch', 'tgt']);
        const h = db.input('encoder_hidden_states', 'float32', ['batch', 'src', info.dModel]);
        const m = db.input('attention_mask', 'int64', ['batch', 'src']);
        db.output(dec(db, new GraphWeights(db, weights), dids, h, m), 'logits');
        // The cached decoder: cross-attention keys/values once per input, then one token per step.
        const cb = new GraphBuilder('cross-kv');
        const ch = cb.input('encoder_hidden_states', 'float32', ['batch', 'src', info.dModel]);
        const cw = new GraphWeights(cb, weights);
        (model.kind === 't5' ? t5CrossKeyValues(cb, model.config, cw, ch) : bartCrossKeyValues(cb, model.config, cw, ch)).forEach(
          (kv, i) => {
            cb.output(kv.key, `cross.${i}.key`);
            cb.output(kv.value, `cross.${i}.value`);
          },
        );
        const sb = new GraphBuilder('decoder-step');
        const token = sb.input('decoder_input_ids', 'int64', ['batch', 'new']);
        // The source side (mask, cross keys and values) has either one row per decoder row or one row for
        // all of them (the beams of one input share it: 'sources' is 1, and each step reads it once).
        const sm = sb.input('attention_mask', 'int64', ['sources', 'src']);
        const kvShape = (rows: string, len: string) => [rows, cache.heads, len, cache.headDim];
        const cross = Array.from({ length: cache.layers }, (_, i) => ({
          key: sb.input(`cross.${i}.key`, 'float32', kvShape('sources', 'src')),
          value: sb.input(`cross.${i}.value`, 'float32', kvShape('sources', 'src')),
        }));
        const past = Array.from({ length: cache.layers }, (_, i) => ({
          key: sb.input(`past.${i}.key`, 'float32', kvShape('batch', 'past')),
          value: sb.input(`past.${i}.value`, 'float32', kvShape('batch', 'past')),
        }));
        const sw = new GraphWeights(sb, weights);
        const stepOut =
          model.kind === 't5'
            ? t5DecoderStep(sb, model.config, sw, token, cross, sm, past, { ...mo, fusedAttention })
            : bartDecoderStep(sb, model.config, sw, token, cross, sm, past);
        sb.output(stepOut.logits, 'logits');
        stepOut.present.forEach((kv, i) => {
          sb.output(kv.key, `present.${i}.key`);
          sb.output(kv.value, `present.${i}.value`);
        });
        for (const t of model.graphTransforms ?? []) for (const b of [eb, db, cb, sb]) t(b);
        for (const b of [eb, db, cb, sb]) plan.apply(b);
        return { graphs: { encoder: eb, decoder: db, crossKv: cb, step: sb }, meta: {} };
      },
    );
    if (g.built) {
      model.releaseWeights?.();
      collectGarbage();
    }
    // The full-sequence decoder (logits for given decoder inputs) is opened only when asked for.
    const [encoder, crossKv, step] = await Promise.all(['encoder', 'crossKv', 'step'].map((n) => createSessionFromFile(g.files[n]!, o)));
    return new Seq2SeqRunner(model, encoder!, () => createSessionFromFile(g.files.decoder!, o), crossKv!, step!, cache, precision);
  }

  async encode(inputIds: OrtTensor, attentionMask: OrtTensor): Promise<OrtTensor> {
    return (await this.encoder.run({ input_ids: inputIds, attention_mask: attentionMask })).encoder_last_hidden_state!;
  }

  private decoder: Promise<InferenceSession> | null = null;

  async decode(decoderInputIds: OrtTensor, encoderHidden: OrtTensor, attentionMask: OrtTensor): Promise<OrtTensor> {
    if (this.model.decoderPrefix) return this.decodeByStepping(decoderInputIds, encoderHidden, attentionMask);
    this.decoder ??= this.makeDecoder();
    return (
      await (
        await this.decoder
      ).run({ decoder_input_ids: decoderInputIds, encoder_hidden_states: encoderHidden, attention_mask: attentionMask })
    ).logits!;
  }

  /**
   * Starts cached decoding for a batch: encoder states, cross keys/values, and the self-attention cache.
   * With a decoder prompt (start token, history, typed text), all of it but its last token is run through
   * the decoder in one block first, once per input row, so that the first step feeds the prompt's last token.
   */
  /** Logits for given decoder inputs through the cached step graph, one position at a time (a prefix-tuned decoder starts from its prefix). */
  private async decodeByStepping(decoderInputIds: OrtTensor, encoderHidden: OrtTensor, attentionMask: OrtTensor): Promise<OrtTensor> {
    const rt = await ort();
    const [B, T] = decoderInputIds.dims as [number, number];
    const state = await this.stateFrom(encoderHidden, attentionMask);
    const ids = decoderInputIds.data as BigInt64Array;
    const V = this.info.vocabSize;
    const out = new Float32Array(B * T * V);
    for (let t = 0; t < T; t++) {
      const logits = await this.stepDecoding(
        state,
        Array.from({ length: B }, (_, b) => Number(ids[b * T + t]!)),
      );
      for (let b = 0; b < B; b++) out.set(logits.subarray(b * V, (b + 1) * V), (b * T + t) * V);
    }
    return new rt.Tensor('float32', out, [B, T, V]);
  }

  /** A decoding state from encoder states: cross keys/values and the self-attention cache (the prefix, if any). */
  private async stateFrom(enc: OrtTensor, mask: OrtTensor): Promise<DecodingState> {
    const rt = await ort();
    const cross = (await this.crossKv.run({ encoder_hidden_states: enc })) as Record<string, OrtTensor>;
    const B = mask.dims[0]!;
    const past: Record<string, OrtTensor> = {};
    const { layers, heads, headDim } = this.cacheShape;
    const prefix = this.model.decoderPrefix;
    const P = prefix?.length ?? 0;
    const rowsOf = (one: Float32Array) => {
      const o = new Float32Array(B * one.length);
      for (let r = 0; r < B; r++) o.set(one, r * one.length);
      return o;
    };
    for (let i = 0; i < layers; i++) {
      // A prefix-tuned decoder starts from its prefix keys and values; otherwise from an empty cache.
      past[`past.${i}.key`] = new rt.Tensor('float32', prefix ? rowsOf(prefix.layers[i]!.key) : new Float32Array(0), [
        B,
        heads,
        P,
        headDim,
      ]);
      past[`past.${i}.value`] = new rt.Tensor('float32', prefix ? rowsOf(prefix.layers[i]!.value) : new Float32Array(0), [
        B,
        heads,
        P,
        headDim,
      ]);
    }
    return { cross, mask, past };
  }

  async startDecoding(inputIds: OrtTensor, attentionMask: OrtTensor, rows?: number[], prompt?: readonly number[]): Promise<DecodingState> {
    const rt = await ort();
    const state = await this.stateFrom(await this.encode(inputIds, attentionMask), attentionMask);
    let { cross, mask } = state;
    const { past } = state;
    const B = mask.dims[0]!;
    if (prompt && prompt.length > 1)
      await this.stepDecoding(
        state,
        Array.from({ length: B }, () => prompt.slice(0, -1)),
      );
    if (rows) {
      // Beams: row r of the batch repeated, one copy per beam, in the self-attention cache; the source
      // side too, unless every beam comes from one input, which then keeps one copy that all beams read.
      const shared = rows.length > 0 && rows.every((r) => r === rows[0]);
      const sourceRows = shared ? [rows[0]!] : rows;
      cross = Object.fromEntries(Object.entries(cross).map(([k, v]) => [k, gatherRows(rt, v, sourceRows)]));
      mask = gatherRows(rt, attentionMask, sourceRows);
      for (const k of Object.keys(past)) past[k] = gatherRows(rt, past[k]!, rows);
      return { cross, mask, past };
    }
    return state;
  }

  /**
   * Feeds one token per row (or a block of tokens per row, all rows the same length); returns the raw
   * logits of the last fed position [rows, vocab] and advances the cache.
   */
  async stepDecoding(state: DecodingState, tokens: number[] | number[][]): Promise<Float32Array> {
    const rt = await ort();
    const block = tokens.map((t) => (typeof t === 'number' ? [t] : t));
    const n = block[0]?.length ?? 1;
    const out = (await this.step.run({
      decoder_input_ids: new rt.Tensor('int64', BigInt64Array.from(block.flat().map(BigInt)), [block.length, n]),
      attention_mask: state.mask,
      ...state.cross,
      ...state.past,
    })) as Record<string, OrtTensor>;
    for (let i = 0; i < this.cacheShape.layers; i++) {
      state.past[`past.${i}.key`] = out[`present.${i}.key`]!;
      state.past[`past.${i}.value`] = out[`present.${i}.value`]!;
    }
    const logits = out.logits!.data as Float32Array;
    if (n === 1) return logits;
    const V = this.info.vocabSize;
    const last = new Float32Array(block.length * V);
    for (let r = 0; r < block.length; r++) last.set(logits.subarray((r * n + n - 1) * V, (r * n + n) * V), r * V);
    return last;
  }

  /** Keeps the cache rows `rows` (in that order): beam search's reordering. No copy when every row keeps its place. */
  async reorder(state: DecodingState, rows: number[]): Promise<void> {
    const rt = await ort();
    for (const k of Object.keys(state.past)) state.past[k] = gatherRows(rt, state.past[k]!, rows);
  }

  /**
   * Greedy decoding as transformers' generate(num_beams=1), one cached step per token: sequences start
   * with the decoder prompt (by default the start token); the same logits processors as beam search (a
   * minimum of new tokens, no-repeat n-grams, allowed tokens); finished rows continue with padding; with
   * forced_eos_token_id the last step is forced to EOS. Returns the raw (unprocessed) logits of each step too.
   */
  async greedy(
    inputIds: OrtTensor,
    attentionMask: OrtTensor,
    maxNewTokens: number,
    o: Omit<GenerationOptions, 'maxNewTokens'> = {},
  ): Promise<{ sequences: number[][]; stepLogits: Float32Array[] }> {
    const prompt = o.prompt ?? [o.decoderStartTokenId ?? this.info.decoderStartTokenId];
    const B = inputIds.dims[0]!;
    const state = await this.startDecoding(inputIds, attentionMask, undefined, prompt);
    return greedyDecode(
      this.decodeInfo,
      { step: (t) => this.stepDecoding(state, t), reorder: (r) => this.reorder(state, r) },
      Array.from({ length: B }, () => prompt),
      { ...o, maxNewTokens },
    );
  }

  /** What generation.ts needs of this model. */
  get decodeInfo(): DecodeInfo {
    const { vocabSize, eosTokenId, padTokenId, forcedEosTokenId } = this.info;
    return { vocabSize, eosTokenIds: [eosTokenId], padTokenId, forcedEosTokenId };
  }
}

export interface DecodingState {
  /** Cross-attention keys and values, and the source mask: one row per cache row, or one row for all. */
  cross: Record<string, OrtTensor>;
  mask: OrtTensor;
  past: Record<string, OrtTensor>;
}
