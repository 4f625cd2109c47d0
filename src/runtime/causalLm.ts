import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { GraphBuilder } from '../graph/builder.js';
import { llamaHead, llamaStack, type LlamaConfig } from '../models/llama.js';
import { fusedLlamaStack, fusedPositions } from '../models/llamaFused.js';
import { fusedAttentionFor } from './fusedAttention.js';
import { ANSWER_ROOM, emptyKv, reorderKv, resizeKv, roomFor, type KvBuffers, type KvShape } from './kvBuffers.js';
import { closeWeights, GraphWeights, type WeightMap } from '../models/weights.js';
import { requireKind, type ModelFolder } from '../models/modelFolder.js';
import { ChangelingError } from '../util/errors.js';
import { createSessionFromFile, ort, type SessionOptions, collectGarbage } from './session.js';
import { cachedGraphs, modelFingerprint } from './graphCache.js';
import { precisionPlan, type ResolvedPrecision } from './precision.js';
import { gatherRows } from './gatherRows.js';
import { readGenerationConfig, type GenerationDefaults } from '../models/generationConfig.js';
import { meanCrossEntropy } from './crossEntropy.js';
import {
  beamDecode,
  greedyDecode,
  sampleDecode,
  type BeamOptions,
  type DecodeInfo,
  type GenerationOptions,
  type Hypothesis,
  type SamplingOptions,
  type StepDecoder,
} from './generation.js';

/**
 * A decoder-only model (the Llama family) as one onnxruntime session: one cached graph serves the prompt (all
 * its tokens at once) and every later step (one token per row), so the weights are loaded once. Its inputs are
 * the new tokens, the attention mask over past and new tokens, their positions and the key/value cache; it
 * returns the logits of the positions asked for (`logits_positions`: the last for generation, all for
 * inspection) and the grown cache. Positions count from each row's first real token (attention-mask cumsum - 1,
 * padding at 1), as transformers' generate() counts them, so left-padded batches generate as they do.
 *
 * On the CPU the graph is the fused one where onnxruntime's operators take the model (models/llamaFused.ts:
 * GroupQueryAttention, SkipSimplifiedLayerNormalization; no PEFT prefix or graph rewrite): its inputs are the new
 * tokens right-padded, each row's length and the cache buffers (runtime/kvBuffers.ts); it returns only the new
 * tokens' keys and values, which are written into the buffers here. Callers see the same interface and the same
 * logits at every real position.
 */
export interface Batch {
  /** [rows][tokens], left-padded to one length. */
  ids: number[][];
  /** [rows][tokens], 1 for real tokens, 0 for padding. */
  mask: number[][];
}

interface State {
  /** The composed graph's cache. */
  past: Record<string, OrtTensor>;
  /** The attention mask of every cache row so far, row after row (the composed graph). */
  mask: number[][];
  /** The fused graph's cache. */
  kv: KvBuffers | null;
  /** The logits the prompt left for the first step, [rows, vocab]. */
  pending: Float32Array | null;
}

/** transformers' position ids for generation: cumsum(mask) - 1, and 1 where the mask is 0. */
export function positionsOf(mask: readonly (readonly number[])[]): number[][] {
  return mask.map((row) => {
    let n = 0;
    return row.map((m) => (m ? n++ : 1));
  });
}

/** The cache of the last one-row prompt: its ids, its key/value cache and its last logits. */
interface PromptCache {
  ids: number[];
  past: Record<string, OrtTensor>;
  kv: KvBuffers | null;
  last: Float32Array;
}

/** Shorter common starts are run afresh: reusing them saves less than it costs to cut the cache. */
const MIN_REUSE = 16;

export class CausalLmRunner {
  readonly info: DecodeInfo & { bosTokenId: number | null };
  /** With `prefixCache`: how many prompt tokens the last start took from the previous prompt's cache. */
  reused = 0;
  private cache: PromptCache | null = null;
  /** The sampling defaults of generation_config.json (temperature, top-p, ...), for callers that sample. */
  readonly defaults: GenerationDefaults;

  private constructor(
    readonly model: Extract<ModelFolder, { kind: 'llama' }>,
    private readonly session: InferenceSession,
    padTokenId: number,
    eosTokenIds: readonly number[],
    readonly precision: ResolvedPrecision,
    defaults: GenerationDefaults,
    private readonly prefixCache: boolean,
    /** The fused graph (GroupQueryAttention, SkipSimplifiedLayerNormalization), or the composed one. */
    readonly fused: boolean,
    /** int8's block size, as measured on this machine (runtime/llmInt8Form.ts); null in other precisions. */
    readonly int8Block: number | null,
  ) {
    const c = model.config;
    this.info = {
      vocabSize: c.vocabSize,
      eosTokenIds,
      padTokenId,
      forcedEosTokenId: null,
      bosTokenId: defaults.bosTokenId ?? c.bosTokenId,
    };
    this.defaults = defaults;
  }

  /**
   * EOS and pad ids: given, else generation_config.json's, else config.json's; the pad id falls back to the
   * first EOS id, as transformers does. `prefixCache`: keep the key/value cache of the last one-row prompt,
   * so that a prompt beginning the same way (the same change asked again, the same instructions) runs only
   * its new tokens; the logits then agree with a full run to float rounding, not to the bit.
   */
  static async create(
    folder: ModelFolder,
    o: SessionOptions & {
      eosTokenIds?: readonly number[];
      padTokenId?: number | null;
      prefixCache?: boolean;
      /** `composed`: the composed attention even where the fused one runs (explicit position ids need it). */
      attention?: 'fused' | 'composed';
    } = {},
  ): Promise<CausalLmRunner> {
    const model = requireKind(folder, ['llama'], 'the decoder-only runtime');
    const c = model.config;
    // int8's block size measured on this machine at the MLP's shape (runtime/llmInt8Form.ts).
    const plan = await precisionPlan(o.precision, 'llama', o.provider, { shape: { k: c.hiddenSize, n: c.intermediateSize } });
    const precision = plan.precision;
    const fused = o.attention !== 'composed' && fusedAttentionFor(model, o.provider);
    // The deferred weights' files stay open until the graph is written (its float32 initializers are read then).
    let opened: WeightMap | null = null;
    const g = await cachedGraphs(
      `llama-${fused ? 'gqa-' : ''}${plan.key}${modelFingerprint(model.dir, model.weightsPath, { precision, fused, extra: model.cacheExtra ?? null })}`,
      async () => {
        // Deferred: each matrix read from the file as it is quantized, so the model is never whole in float32 here.
        const weights = (opened = await model.loadWeights({ deferred: true }));
        if (fused) {
          const b = fusedGraph(c, weights);
          plan.apply(b);
          return { graphs: { decoder: b }, meta: {} };
        }
        const b = new GraphBuilder('causal-lm');
        const kvShape = ['batch', c.numKeyValueHeads, 'past', c.headDim];
        const inputs = {
          inputIds: b.input('input_ids', 'int64', ['batch', 'new']),
          attentionMask: b.input('attention_mask', 'int64', ['batch', 'total']),
          positionIds: b.input('position_ids', 'int64', ['batch', 'new']),
          past: Array.from({ length: c.numLayers }, (_, i) => ({
            key: b.input(`past.${i}.key`, 'float32', kvShape),
            value: b.input(`past.${i}.value`, 'float32', kvShape),
          })),
        };
        const at = b.input('logits_positions', 'int64', ['positions']);
        const w = new GraphWeights(b, weights);
        const { hidden, present } = llamaStack(b, c, w, inputs);
        b.output(llamaHead(b, c, w, b.gather(hidden, at, 1)), 'logits');
        present.forEach((kv, i) => {
          b.output(kv.key, `present.${i}.key`);
          b.output(kv.value, `present.${i}.value`);
        });
        for (const t of model.graphTransforms ?? []) t(b);
        plan.apply(b);
        return { graphs: { decoder: b }, meta: {} };
      },
    ).finally(() => closeWeights(opened));
    if (g.built) {
      model.releaseWeights?.();
      collectGarbage();
    }
    const defaults = await readGenerationConfig(model.dir, c.vocabSize);
    const eos = o.eosTokenIds ?? defaults.eosTokenIds ?? c.eosTokenIds;
    const pad = o.padTokenId ?? defaults.padTokenId ?? c.padTokenId ?? eos[0];
    if (pad === undefined)
      throw new ChangelingError('usage', `${model.dir}: neither the generation config nor config.json names a pad or EOS token`);
    return new CausalLmRunner(
      model,
      await createSessionFromFile(g.files.decoder!, o),
      pad,
      eos,
      precision,
      defaults,
      o.prefixCache ?? false,
      fused,
      plan.int8Form?.kind === 'nbits' ? plan.int8Form.block : null,
    );
  }

  private get config(): LlamaConfig {
    return this.model.config;
  }

  /** Cache slots before any token: a PEFT prefix's (the same for every row), else none. */
  private get base(): number {
    return this.model.decoderPrefix?.length ?? 0;
  }

  /** The cache before any token: empty, or a PEFT prefix's keys and values repeated for every row. */
  private async emptyCache(rows: number): Promise<Record<string, OrtTensor>> {
    const rt = await ort();
    const c = this.config;
    const P = this.base;
    const prefix = this.model.decoderPrefix?.layers;
    const past: Record<string, OrtTensor> = {};
    for (let i = 0; i < c.numLayers; i++)
      for (const kv of ['key', 'value'] as const) {
        const data = new Float32Array(rows * c.numKeyValueHeads * P * c.headDim);
        if (prefix) for (let r = 0; r < rows; r++) data.set(prefix[i]![kv], (r * data.length) / rows);
        past[`past.${i}.${kv}`] = new rt.Tensor('float32', data, [rows, c.numKeyValueHeads, P, c.headDim]);
      }
    return past;
  }

  /** The attention mask over the cache's first slots and the rows' tokens, and the tokens' positions after them. */
  private withBase(mask: readonly (readonly number[])[]): { mask: number[][]; positions: number[][] } {
    const full = mask.map((m) => [...new Array<number>(this.base).fill(1), ...m]);
    return { mask: full, positions: positionsOf(full).map((p) => p.slice(this.base)) };
  }

  /** One run: new tokens after the cache in `past`; returns the logits at `at` (indices into the new tokens) and the grown cache. */
  private async run(
    ids: number[][],
    mask: number[][],
    positions: number[][],
    past: Record<string, OrtTensor>,
    at: number[],
  ): Promise<{ logits: OrtTensor; present: Record<string, OrtTensor> }> {
    const rt = await ort();
    const i64 = (rows: number[][]) => new rt.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0]!.length]);
    checkIds(ids, this.config.vocabSize);
    const out = (await this.session.run({
      input_ids: i64(ids),
      attention_mask: i64(mask),
      position_ids: i64(positions),
      logits_positions: new rt.Tensor('int64', BigInt64Array.from(at.map(BigInt)), [at.length]),
      ...past,
    })) as Record<string, OrtTensor>;
    const present: Record<string, OrtTensor> = {};
    for (let i = 0; i < this.config.numLayers; i++)
      for (const kv of ['key', 'value']) present[`past.${i}.${kv}`] = out[`present.${i}.${kv}`]!;
    return { logits: out.logits!, present };
  }

  /** Logits [batch, tokens, vocab] at every position (positions from the mask unless given). */
  async forward(batch: Batch, positionIds?: number[][]): Promise<OrtTensor> {
    checkBatch(batch);
    const T = batch.ids[0]!.length;
    const full = this.withBase(batch.mask);
    if (this.fused) {
      if (positionIds && JSON.stringify(positionIds) !== JSON.stringify(full.positions))
        throw new ChangelingError('usage', 'explicit position ids need the composed attention (attention: "composed")');
      return this.forwardFused(batch);
    }
    const r = await this.run(
      batch.ids,
      full.mask,
      positionIds ?? full.positions,
      await this.emptyCache(batch.ids.length),
      Array.from({ length: T }, (_, t) => t),
    );
    return r.logits;
  }

  /** Runs the prompt (all of it at once) and keeps its last logits for the first step; `rows` repeats batch rows (beams). */
  private async start(batch: Batch, rows?: number[]): Promise<State> {
    checkBatch(batch);
    const T = batch.ids[0]!.length;
    const cacheable = this.prefixCache && batch.ids.length === 1 && batch.mask[0]!.every((m) => m === 1);
    if (!cacheable) this.reused = 0;
    const state: State = cacheable ? await this.startCached(batch.ids[0]!) : await this.startAfresh(batch);
    if (rows) await this.reorder(state, rows);
    return state;
  }

  private async startAfresh(batch: Batch): Promise<State> {
    if (this.fused) {
      const { kv, rows } = await this.promptFused(batch, ANSWER_ROOM);
      const logits = await this.runFused(rows.padded, rows.real, kv, rows.last);
      return { past: {}, mask: [], kv, pending: logits };
    }
    const { mask, positions } = this.withBase(batch.mask);
    const T = batch.ids[0]!.length;
    const r = await this.run(batch.ids, mask, positions, await this.emptyCache(batch.ids.length), [T - 1]);
    return { past: r.present, mask, kv: null, pending: r.logits.data as Float32Array };
  }

  /** One unpadded prompt: what it shares with the cached prompt is taken from the cache, the rest is run. */
  private async startCached(ids: number[]): Promise<State> {
    const T = ids.length;
    const c = this.cache;
    let L = 0;
    if (c) while (L < T && L < c.ids.length && c.ids[L] === ids[L]) L++;
    const P = this.base;
    const mask = [new Array<number>(P + T).fill(1)];
    if (c && L === T && c.ids.length === T) {
      this.reused = T;
      // The fused cache's buffers are shared: decoding appends after the prompt's slots, which stay as they are.
      return { past: c.past, mask, kv: c.kv && { ...c.kv, lengths: [T] }, pending: c.last };
    }
    L = Math.min(L, T - 1); // at least the last token runs, for its logits
    if (!c || L < MIN_REUSE) L = 0;
    if (this.fused) {
      const rt = await ort();
      const kv = c?.kv && L ? resizeKv(rt, this.kvShape, c.kv, L, T + ANSWER_ROOM) : emptyKv(rt, this.kvShape, 1, T + ANSWER_ROOM);
      const last = await this.runFused([ids.slice(L)], [T - L], kv, [T - L - 1]);
      this.reused = L;
      this.cache = { ids: [...ids], past: {}, kv: { ...kv, lengths: [T] }, last };
      return { past: {}, mask, kv, pending: last };
    }
    const past = c && L ? await this.cutCache(c.past, P + L) : await this.emptyCache(1);
    const r = await this.run([ids.slice(L)], mask, [Array.from({ length: T - L }, (_, t) => P + L + t)], past, [T - L - 1]);
    this.reused = L;
    const last = r.logits.data as Float32Array;
    this.cache = { ids: [...ids], past: r.present, kv: null, last };
    return { past: r.present, mask, kv: null, pending: last };
  }

  /** The first `L` positions of a one-row key/value cache. */
  private async cutCache(past: Record<string, OrtTensor>, L: number): Promise<Record<string, OrtTensor>> {
    const P = past['past.0.key']!.dims[2]!;
    // The composed graph's cache is one of exactly its length; no rotary table bounds it.
    const shape = { ...this.kvShape, maxPositions: Infinity };
    return resizeKv(await ort(), shape, { tensors: past, capacity: P, lengths: [P] }, L, L).tensors;
  }

  /** The first call returns the prompt's logits; every later call feeds one token per row. */
  private async step(state: State, tokens: number[]): Promise<Float32Array> {
    if (state.pending) {
      const p = state.pending;
      state.pending = null;
      return p;
    }
    if (state.kv) {
      const kv = (state.kv = roomFor(await ort(), this.kvShape, state.kv, Math.max(...state.kv.lengths) + 1));
      return this.runFused(
        tokens.map((t) => [t]),
        tokens.map(() => 1),
        kv,
        tokens.map((_, r) => r),
      );
    }
    for (const m of state.mask) m.push(1);
    const positions = state.mask.map((m) => [m.reduce((a, b) => a + b, 0) - 1]);
    const r = await this.run(
      tokens.map((t) => [t]),
      state.mask,
      positions,
      state.past,
      [0],
    );
    state.past = r.present;
    return r.logits.data as Float32Array;
  }

  private async reorder(state: State, rows: number[]): Promise<void> {
    const rt = await ort();
    const V = this.config.vocabSize;
    for (const k of Object.keys(state.past)) state.past[k] = gatherRows(rt, state.past[k]!, rows);
    if (state.kv) state.kv = reorderKv(rt, state.kv, rows);
    else state.mask = rows.map((r) => [...state.mask[r]!]);
    if (state.pending) {
      const p = state.pending;
      state.pending = new Float32Array(rows.length * V);
      rows.forEach((r, i) => state.pending!.set(p.subarray(r * V, (r + 1) * V), i * V));
    }
  }

  private get kvShape(): KvShape {
    const c = this.config;
    return { layers: c.numLayers, kvHeads: c.numKeyValueHeads, headDim: c.headDim, maxPositions: fusedPositions(c) };
  }

  /**
   * A left-padded batch as the fused graph takes it: each row's real tokens first, then padding; how many each row
   * has; where its last one is in the flattened [rows x tokens] (for the logits); and empty buffers with `room`
   * slots after the longest row.
   */
  private async promptFused(
    batch: Batch,
    room: number,
  ): Promise<{ kv: KvBuffers; rows: { padded: number[][]; real: number[]; last: number[]; S: number } }> {
    const tokens = batch.ids.map((row, b) => row.filter((_, t) => batch.mask[b]![t] === 1));
    if (tokens.some((t) => t.length === 0)) throw new ChangelingError('usage', 'a row of the input has no tokens (its mask is all 0)');
    const S = Math.max(...tokens.map((t) => t.length));
    const padded = tokens.map((t) => [...t, ...new Array<number>(S - t.length).fill(this.info.padTokenId)]);
    const real = tokens.map((t) => t.length);
    const kv = emptyKv(await ort(), this.kvShape, batch.ids.length, S + room);
    return { kv, rows: { padded, real, last: real.map((n, b) => b * S + n - 1), S } };
  }

  /** Logits at every position of a left-padded batch through the fused graph (a padding position gets its row's first token's). */
  private async forwardFused(batch: Batch): Promise<OrtTensor> {
    const { kv, rows } = await this.promptFused(batch, 0);
    const at = batch.mask.flatMap((m, b) => {
      let n = 0;
      return m.map((x) => b * rows.S + (x === 1 ? n++ : 0));
    });
    const logits = await this.runFused(rows.padded, rows.real, kv, at);
    return new (await ort()).Tensor('float32', logits, [batch.ids.length, batch.ids[0]!.length, this.config.vocabSize]);
  }

  /**
   * One run of the fused graph: `ids` right-padded, `real[r]` of row r's are tokens, appended to the cache after its
   * `kv.lengths[r]` tokens (a first prompt starts every row at slot 0, as GroupQueryAttention places it; a row's
   * padding lands in free slots); returns the logits at `at` (indices into the flattened [rows x new]).
   */
  private async runFused(ids: number[][], real: number[], kv: KvBuffers, at: number[]): Promise<Float32Array> {
    const rt = await ort();
    checkIds(ids, this.config.vocabSize);
    const S = ids[0]!.length;
    const after = kv.lengths.map((l, r) => l + real[r]!);
    const starts = kv.lengths; // each row's new tokens go right after its cached ones (slot 0 in a first prompt)
    const slots = BigInt64Array.from(starts.flatMap((s0) => Array.from({ length: S }, (_, s) => BigInt(s0 + s))));
    const out = (await this.session.run({
      input_ids: new rt.Tensor('int64', BigInt64Array.from(ids.flat().map(BigInt)), [ids.length, S]),
      seqlens_k: new rt.Tensor('int32', Int32Array.from(after.map((n) => n - 1)), [after.length]),
      total_sequence_length: new rt.Tensor('int32', Int32Array.from([Math.max(...after)]), []),
      new_slots: new rt.Tensor('int64', slots, [ids.length, S]),
      logits_rows: new rt.Tensor('int64', BigInt64Array.from(at.map(BigInt)), [at.length]),
      ...kv.tensors,
    })) as Record<string, OrtTensor>;
    // The new keys and values into the buffers: row b's S slots from starts[b] on, for each of its heads.
    const { kvHeads: KV, headDim: D } = this.kvShape;
    for (let i = 0; i < this.config.numLayers; i++)
      for (const part of ['key', 'value']) {
        const src = out[`new.${i}.${part}`]!.data as Float32Array;
        const dst = kv.tensors[`past.${i}.${part}`]!.data as Float32Array;
        for (let h = 0; h < ids.length * KV; h++)
          dst.set(src.subarray(h * S * D, (h + 1) * S * D), (h * kv.capacity + starts[Math.floor(h / KV)]!) * D);
      }
    kv.lengths = after;
    return out.logits!.data as Float32Array;
  }

  private decoder(state: State): StepDecoder {
    return { step: (t) => this.step(state, t), reorder: (r) => this.reorder(state, r) };
  }

  /** Greedy decoding: the padded prompt, then the new tokens (finished rows padded), as generate() returns them. */
  async greedy(batch: Batch, o: GenerationOptions): Promise<{ sequences: number[][]; stepLogits: Float32Array[] }> {
    return greedyDecode(this.info, this.decoder(await this.start(batch)), batch.ids, o);
  }

  /** Sampling; `numReturnSequences` rows per input row, one after another. */
  async sample(batch: Batch, o: SamplingOptions): Promise<{ sequences: number[][]; stepLogits: Float32Array[] }> {
    const n = o.numReturnSequences ?? 1;
    const rows = batch.ids.flatMap((_, b) => new Array<number>(n).fill(b));
    return sampleDecode(
      this.info,
      this.decoder(await this.start(batch, rows)),
      rows.map((r) => batch.ids[r]!),
      o,
    );
  }

  /** Beam search: per input row its best `numReturnSequences` hypotheses, each padded to the longest returned. */
  async beam(batch: Batch, o: BeamOptions): Promise<Hypothesis[][]> {
    const hyps = await beamDecode(this.info, async (rows) => this.decoder(await this.start(batch, rows)), batch.ids, o);
    const longest = Math.max(...hyps.flat().map((h) => h.length));
    return hyps.map((hs) => hs.map((h) => ({ ...h, tokens: h.tokens.slice(0, longest) })));
  }
}

function checkIds(ids: number[][], vocab: number): void {
  for (const row of ids)
    for (const t of row)
      if (!Number.isInteger(t) || t < 0 || t >= vocab)
        throw new ChangelingError('usage', `token id ${t} is outside the vocabulary (0 to ${vocab - 1})`);
}

/**
 * The fused inference graph (models/llamaFused.ts): new tokens [batch, new] right-padded, `seqlens_k` and
 * `total_sequence_length` as GroupQueryAttention takes them, the cache buffers and the new tokens' slots in them; out
 * come the new tokens' keys and values and the logits of the rows `logits_rows` names in the flattened [batch x new].
 */
function fusedGraph(c: LlamaConfig, weights: WeightMap): GraphBuilder {
  const b = new GraphBuilder('causal-lm-fused');
  const w = new GraphWeights(b, weights);
  const kvShape = ['batch', c.numKeyValueHeads, 'capacity', c.headDim];
  const cache = Array.from({ length: c.numLayers }, (_, i) => ({
    key: b.input(`past.${i}.key`, 'float32', kvShape),
    value: b.input(`past.${i}.value`, 'float32', kvShape),
  }));
  const { hidden, newKeys } = fusedLlamaStack(b, c, w, {
    inputIds: b.input('input_ids', 'int64', ['batch', 'new']),
    seqlensK: b.input('seqlens_k', 'int32', ['batch']),
    totalLength: b.input('total_sequence_length', 'int32', []),
    cache,
    newSlots: b.input('new_slots', 'int64', ['batch', 'new']),
  });
  const rows = b.input('logits_rows', 'int64', ['rows']);
  b.output(llamaHead(b, c, w, b.gather(b.reshape(hidden, [-1, c.hiddenSize]), rows)), 'logits');
  newKeys.forEach((kv, i) => {
    b.output(kv.key, `new.${i}.key`);
    b.output(kv.value, `new.${i}.value`);
  });
  return b;
}

function checkBatch(batch: Batch): void {
  const T = batch.ids[0]?.length ?? 0;
  if (!T) throw new ChangelingError('usage', 'the input has no tokens');
  if (batch.ids.some((r) => r.length !== T) || batch.mask.length !== batch.ids.length || batch.mask.some((r) => r.length !== T))
    throw new ChangelingError('usage', 'input_ids and attention_mask must be rows of one length (pad them)');
}

/**
 * transformers' causal LM loss: labels shifted left inside (position t predicts label t + 1), -100 ignored, the
 * mean over every counted token of the batch. `logits` [batch, tokens, vocab], `labels` [batch][tokens].
 */
export function causalLmLoss(logits: Float32Array, labels: readonly (readonly number[])[], vocab: number): number {
  return meanCrossEntropy(
    logits,
    labels.map((row) => [...row.slice(1), -100]),
    vocab,
  );
}
