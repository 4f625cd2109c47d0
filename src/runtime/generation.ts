import { ChangelingError } from '../util/errors.js';
import { seededRandom } from '../train/batching.js';

/**
 * Generation over one step interface, for encoder-decoder and decoder-only models alike: greedy decoding, beam
 * search and sampling as transformers' generate() runs them. A model gives a StepDecoder (one token per cache
 * row in, that row's next-token logits out, rows reordered between beam steps); each batch row has a prompt
 * (a seq2seq model's decoder prompt, or a decoder-only model's left-padded input), and new tokens, the minimum
 * and the length penalty count from its end.
 *
 * Logits processors, as transformers applies them: repetition penalty (on the raw logits for greedy and
 * sampling, on the log-probabilities in beam search, where transformers runs its processors after the
 * log-softmax), no EOS before the minimum number of new tokens, no repeated n-gram, only the allowed tokens;
 * for sampling then temperature, top-k and top-p.
 */
export interface GenerationOptions {
  maxNewTokens: number;
  noRepeatNgramSize?: number;
  minNewTokens?: number;
  /** > 1 makes tokens already in the sequence (prompt included) less likely, as transformers' RepetitionPenaltyLogitsProcessor. */
  repetitionPenalty?: number;
  decoderStartTokenId?: number;
  /** The whole decoder prompt, start token first (overrides decoderStartTokenId). */
  prompt?: readonly number[];
  /** Tokens allowed next for input row `row` after `generated` new tokens; null: any. */
  allowedTokens?: (row: number, generated: readonly number[]) => ReadonlySet<number> | null;
  /** Called with each new token of each row as it is chosen (greedy and sampling). */
  onToken?: (row: number, token: number) => void;
  /** True when a row should stop after these new tokens (stop strings); the row then ends as at EOS. */
  stop?: (row: number, generated: readonly number[]) => boolean;
  signal?: AbortSignal;
}

export interface BeamOptions extends GenerationOptions {
  numBeams: number;
  numReturnSequences?: number;
  lengthPenalty?: number;
  earlyStopping?: boolean | 'never';
}

export interface SamplingOptions extends GenerationOptions {
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  /** Candidates per input row (transformers' num_return_sequences with sampling). */
  numReturnSequences?: number;
}

export interface Hypothesis {
  /** The prompt and the new tokens, padded to the longest possible length. */
  tokens: number[];
  score: number;
  /** How many of `tokens` are the hypothesis itself (the rest is padding). */
  length: number;
}

/** What generation needs of a model. */
export interface DecodeInfo {
  vocabSize: number;
  eosTokenIds: readonly number[];
  padTokenId: number;
  /** Forced as the last token when the maximum length is reached (BART/PLBART's forced_eos_token_id). */
  forcedEosTokenId: number | null;
}

/** One token per cache row in, the raw next-token logits [rows, vocab] out. */
export interface StepDecoder {
  step(tokens: number[]): Promise<Float32Array>;
  /** Keeps the cache rows `rows`, in that order (beam search). */
  reorder(rows: number[]): Promise<void>;
}

const NEG = -1e9;

function checkSignal(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new ChangelingError('cancelled', 'generation was cancelled');
}

/** log(sum(exp(row))), stably: a row's log-softmax is row - logSumExp(row). */
export function logSumExp(row: ArrayLike<number>): number {
  const n = row.length;
  let m = -Infinity;
  for (let i = 0; i < n; i++) if (row[i]! > m) m = row[i]!;
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp(row[i]! - m);
  return m + Math.log(s);
}

/** transformers' RepetitionPenaltyLogitsProcessor: every token in `seq` (once each) divided or multiplied by the penalty. */
export function penaliseRepeats(row: Float64Array | Float32Array, seq: readonly number[], penalty: number | undefined): void {
  if (!penalty || penalty === 1) return;
  for (const t of new Set(seq)) {
    const v = row[t]!;
    row[t] = v < 0 ? v * penalty : v / penalty;
  }
}

/**
 * The logits processors that forbid tokens, in place on one row of scores: no EOS before the minimum number of
 * new tokens, no repeated n-gram, only the allowed tokens (each sets scores to -Infinity, so their order does not
 * matter).
 */
export function processScores(
  row: Float64Array | Float32Array,
  seq: readonly number[],
  promptLen: number,
  o: GenerationOptions,
  eos: number | readonly number[],
  batchRow: number,
): void {
  if (o.minNewTokens && seq.length - promptLen < o.minNewTokens) for (const e of typeof eos === 'number' ? [eos] : eos) row[e] = -Infinity;
  for (const t of bannedByNgrams(seq, o.noRepeatNgramSize ?? 0)) row[t] = -Infinity;
  const allowed = o.allowedTokens?.(batchRow, seq.slice(promptLen));
  if (allowed) for (let v = 0; v < row.length; v++) if (!allowed.has(v)) row[v] = -Infinity;
}

/** Tokens that would repeat an n-gram already in `seq` (transformers' NoRepeatNGramLogitsProcessor). */
function bannedByNgrams(seq: readonly number[], n: number): number[] {
  if (n <= 0 || seq.length + 1 < n) return [];
  const prefix = seq.slice(seq.length - n + 1).join(',');
  const banned: number[] = [];
  for (let i = 0; i + n <= seq.length; i++) if (seq.slice(i, i + n - 1).join(',') === prefix) banned.push(seq[i + n - 1]!);
  return banned;
}

/** Indices of the k largest values (descending; ties by lower index first). */
function topK(values: ArrayLike<number>, k: number): number[] {
  const idx: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (idx.length === k && v <= values[idx[k - 1]!]!) continue;
    let pos = idx.length;
    while (pos > 0 && values[idx[pos - 1]!]! < v) pos--;
    idx.splice(pos, 0, i);
    if (idx.length > k) idx.pop();
  }
  return idx;
}

function promptLength(prompts: readonly (readonly number[])[]): number {
  const n = prompts[0]?.length ?? 0;
  if (prompts.some((p) => p.length !== n))
    throw new ChangelingError('usage', 'generation: the prompts of one batch must have one length (pad them)');
  return n;
}

/**
 * Greedy decoding as transformers' generate(num_beams=1): sequences start with each row's prompt; finished rows
 * continue with padding; with forced_eos_token_id the last step is forced to EOS. Returns the raw (unprocessed)
 * logits of each step too.
 */
export async function greedyDecode(
  info: DecodeInfo,
  dec: StepDecoder,
  prompts: readonly (readonly number[])[],
  o: GenerationOptions,
): Promise<{ sequences: number[][]; stepLogits: Float32Array[] }> {
  return chooseEach(info, dec, prompts, o, argmax);
}

/** The index of a row's largest value (the first of equal ones). */
export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let v = 1; v < row.length; v++) if (row[v]! > row[best]!) best = v;
  return best;
}

/**
 * Sampling as transformers' generate(do_sample=True): the processors, then temperature, top-k and top-p, then
 * a draw from the softmax. Draws come from a seeded generator: the same seed gives the same tokens (not the same
 * as PyTorch's generator). Each input row gives `numReturnSequences` rows, one after another.
 */
export async function sampleDecode(
  info: DecodeInfo,
  dec: StepDecoder,
  prompts: readonly (readonly number[])[],
  o: SamplingOptions,
): Promise<{ sequences: number[][]; stepLogits: Float32Array[] }> {
  const rand = seededRandom(o.seed ?? 0);
  const temperature = o.temperature ?? 1;
  if (!(temperature > 0)) throw new ChangelingError('usage', `temperature must be above 0 (it is ${temperature})`);
  const topP = o.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) throw new ChangelingError('usage', `top_p must be in (0, 1] (it is ${topP})`);
  return chooseEach(info, dec, prompts, o, (row) => {
    const V = row.length;
    // Loops rather than callbacks over the vocabulary: this runs once a generated token over 151,936 values.
    const scores = new Float64Array(V);
    for (let v = 0; v < V; v++) scores[v] = row[v]! / temperature;
    if (o.topK && o.topK > 0 && o.topK < V) {
      const kth = scores[topK(scores, o.topK).at(-1)!]!;
      for (let v = 0; v < V; v++) if (scores[v]! < kth) scores[v] = -Infinity;
    }
    // A loop, not Math.max(...): a real vocabulary (Qwen's 151,936 tokens) is more arguments than a call takes.
    let max = -Infinity;
    for (let v = 0; v < V; v++) if (scores[v]! > max) max = scores[v]!;
    const p = new Float64Array(V);
    let total = 0;
    for (let v = 0; v < V; v++) total += p[v] = scores[v] === -Infinity ? 0 : Math.exp(scores[v]! - max);
    for (let v = 0; v < V; v++) p[v]! /= total;
    if (topP < 1) {
      dropOutsideNucleus(p, topP);
      let kept = 0;
      for (let v = 0; v < V; v++) kept += p[v]!;
      for (let v = 0; v < V; v++) p[v]! /= kept;
    }
    let r = rand();
    for (let v = 0; v < V; v++) {
      r -= p[v]!;
      if (r < 0 && p[v]! > 0) return v;
    }
    return topK(p, 1)[0]!;
  });
}

/**
 * Top-p as TopPLogitsWarper filters (at least one token kept): in ascending order of probability (the larger id first
 * among equal ones), the least likely tokens are dropped while their summed probability stays at most 1 - top_p. The
 * probabilities are sorted as numbers (a typed array's native sort), not the vocabulary's ids by a comparator: for
 * Qwen's 151,936 tokens that took about 70 ms a generated token. The same sums in the same order, so the same tokens.
 */
export function dropOutsideNucleus(p: Float64Array, topP: number): void {
  const V = p.length;
  const sorted = Float64Array.from(p).sort();
  let cum = 0;
  let dropped = 0;
  while (dropped < V - 1 && cum + sorted[dropped]! <= 1 - topP) cum += sorted[dropped++]!;
  if (dropped === 0) return;
  const cut = sorted[dropped - 1]!;
  let below = 0;
  for (let v = 0; v < V; v++) if (p[v]! < cut) below++;
  // Of the tokens at the cut value, the ones with the larger ids go first.
  let ties = dropped - below;
  for (let v = V - 1; v >= 0 && ties > 0; v--)
    if (p[v] === cut) {
      p[v] = 0;
      ties--;
    }
  for (let v = 0; v < V; v++) if (p[v]! < cut) p[v] = 0;
}

/** The loop greedy decoding and sampling share: processors on each row, `choose` picks the token. */
async function chooseEach(
  info: DecodeInfo,
  dec: StepDecoder,
  prompts: readonly (readonly number[])[],
  o: GenerationOptions,
  choose: (row: Float64Array) => number,
): Promise<{ sequences: number[][]; stepLogits: Float32Array[] }> {
  const { vocabSize: V, eosTokenIds, padTokenId, forcedEosTokenId } = info;
  const promptLen = promptLength(prompts);
  const B = prompts.length;
  const seqs = prompts.map((p) => [...p]);
  const done = new Array<boolean>(B).fill(false);
  const stepLogits: Float32Array[] = [];
  for (let step = 0; step < o.maxNewTokens && !done.every(Boolean); step++) {
    checkSignal(o.signal);
    const logits = await dec.step(seqs.map((s) => s.at(-1)!));
    stepLogits.push(Float32Array.from(logits));
    for (let i = 0; i < B; i++) {
      const row = Float64Array.from(logits.subarray(i * V, (i + 1) * V));
      penaliseRepeats(row, seqs[i]!, o.repetitionPenalty);
      processScores(row, seqs[i]!, promptLen, o, eosTokenIds, i);
      let token = choose(row);
      if (forcedEosTokenId !== null && step === o.maxNewTokens - 1) token = forcedEosTokenId;
      if (done[i]) {
        seqs[i]!.push(padTokenId);
        continue;
      }
      seqs[i]!.push(token);
      o.onToken?.(i, token);
      if (eosTokenIds.includes(token) || o.stop?.(i, seqs[i]!.slice(promptLen))) done[i] = true;
    }
  }
  return { sequences: seqs, stepLogits };
}

/**
 * Beam search as transformers 5 runs it (its vectorised `_beam_search`): 2K candidates a step from
 * log-softmax scores plus the running beam scores; the first K of them that end (EOS or max length)
 * become finished hypotheses scored sum / (generated length ^ length_penalty); the best K unfinished ones
 * run on; the early-stopping heuristic of `early_stopping=False`; logits processors for a minimum number
 * of new tokens, no-repeat n-grams and a forced EOS at the last step. `start(rows)` opens the cache with one
 * row per beam (`rows[i]` the batch row of cache row i); the cache is reordered between steps, so each step is
 * one cached run for all beams. Sequences are the prompt and the new tokens, padded to the longest returned.
 */
export async function beamDecode(
  info: DecodeInfo,
  start: (rows: number[]) => Promise<StepDecoder>,
  prompts: readonly (readonly number[])[],
  o: BeamOptions,
): Promise<Hypothesis[][]> {
  const { vocabSize: V, eosTokenIds, padTokenId, forcedEosTokenId } = info;
  const K = o.numBeams;
  const B = prompts.length;
  const lp = o.lengthPenalty ?? 1;
  const early = o.earlyStopping ?? false;
  const promptLen = promptLength(prompts);
  const maxLength = promptLen + o.maxNewTokens;
  const dec = await start(Array.from({ length: B * K }, (_, r) => Math.floor(r / K)));
  const running = prompts.map((prompt) => Array.from({ length: K }, (_, k) => ({ seq: [...prompt], score: k === 0 ? 0 : NEG })));
  const finished = Array.from({ length: B }, () => Array.from({ length: K }, () => ({ seq: [] as number[], score: NEG, done: false })));
  const unsatisfied = new Array<boolean>(B).fill(true);
  let curLen = promptLen;
  for (;;) {
    checkSignal(o.signal);
    const logits = await dec.step(running.flatMap((bs) => bs.map((x) => x.seq.at(-1)!)));
    const reorder: number[] = [];
    let allHit = true;
    for (let b = 0; b < B; b++) {
      // Each beam's 2K best tokens hold the step's 2K best candidates (its scores only shift a row), so the
      // whole K x V table of scores is never built. The scores are the log-softmax of the raw logits, then the
      // processors, as transformers computes them.
      const flat: number[] = [];
      const accs: number[] = [];
      for (let k = 0; k < K; k++) {
        const beam = running[b]![k]!;
        const raw = logits.subarray((b * K + k) * V, (b * K + k + 1) * V);
        const lse = logSumExp(raw);
        const row = Float64Array.from(raw, (x) => x - lse);
        penaliseRepeats(row, beam.seq, o.repetitionPenalty);
        processScores(row, beam.seq, promptLen, o, eosTokenIds, b);
        if (forcedEosTokenId !== null && curLen === maxLength - 1) {
          row.fill(-Infinity);
          row[forcedEosTokenId] = 0;
        }
        for (const v of topK(row, 2 * K).sort((p, q) => p - q)) {
          flat.push(k * V + v);
          accs.push(row[v]! + beam.score);
        }
      }
      const cands = topK(accs, 2 * K).map((j) => {
        const i = flat[j]!;
        const beam = running[b]![Math.floor(i / V)]!;
        const token = i % V;
        return {
          from: Math.floor(i / V),
          seq: [...beam.seq, token],
          score: accs[j]!,
          hit: eosTokenIds.includes(token) || curLen + 1 >= maxLength,
        };
      });
      if (!cands.every((c) => c.hit)) allHit = false;
      // Finished: the first K candidates that stop, length-normalised, merged with earlier ones.
      const full = finished[b]!.every((f) => f.done) && early === true;
      const merged = [
        ...finished[b]!,
        ...cands.map((c, i) => ({
          seq: c.seq,
          score: c.score / (curLen + 1 - promptLen) ** lp + (full ? NEG : 0) + (unsatisfied[b] ? 0 : NEG) + (c.hit && i < K ? 0 : NEG),
          done: c.hit && i < K,
        })),
      ];
      finished[b] = topK(
        Float64Array.from(merged, (m) => m.score),
        K,
      ).map((i) => merged[i]!);
      // Running: the best K candidates that did not stop.
      const runScores = Float64Array.from(cands, (c) => c.score + (c.hit ? NEG : 0));
      running[b] = topK(runScores, K).map((i) => {
        reorder.push(b * K + cands[i]!.from);
        return { seq: cands[i]!.seq, score: runScores[i]! };
      });
    }
    await dec.reorder(reorder);
    curLen++;
    for (let b = 0; b < B; b++) {
      const best = running[b]![0]!.score / (early === 'never' && lp > 0 ? maxLength - promptLen : curLen - promptLen) ** lp;
      const worstAll = Math.min(...finished[b]!.map((f) => f.score));
      unsatisfied[b] = unsatisfied[b]! && finished[b]!.some((f) => best > (f.done ? worstAll : NEG));
    }
    const open = !(finished.every((fs) => fs.every((f) => f.done)) && early === true);
    if (!unsatisfied.some(Boolean) || !open || allHit || curLen >= maxLength) break;
  }
  const n = o.numReturnSequences ?? 1;
  return finished.map((fs) =>
    fs.slice(0, n).map((f) => ({
      tokens: f.seq.length ? [...f.seq, ...new Array(Math.max(0, maxLength - f.seq.length)).fill(padTokenId)].slice(0, maxLength) : [],
      score: f.score,
      length: f.seq.length,
    })),
  );
}
