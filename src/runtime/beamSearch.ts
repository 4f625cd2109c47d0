import type { Tensor as OrtTensor } from 'onnxruntime-node';
import type { Seq2SeqRunner } from './seq2seq.js';

/**
 * Beam search as transformers 5 runs it (its vectorised `_beam_search`): 2K candidates a step from
 * log-softmax scores plus the running beam scores; the first K of them that end (EOS or max length)
 * become finished hypotheses scored sum / (generated length ^ length_penalty); the best K unfinished ones
 * run on; the early-stopping heuristic of `early_stopping=False`; logits processors for a minimum number
 * of new tokens, no-repeat n-grams and a forced EOS at the last step. The self-attention cache is
 * reordered between steps, so each step is one cached decoder run for all beams.
 *
 * A decoder prompt (`prompt`: the start token, then history and typed text) is fed before the first
 * step, as transformers does with `decoder_input_ids`: new tokens, the minimum and the length penalty
 * count from its end, while no-repeat n-grams look at the whole sequence, prompt included.
 * `allowedTokens` is transformers' `prefix_allowed_tokens_fn` (PrefixConstrainedLogitsProcessor).
 */
export interface GenerationOptions {
  maxNewTokens: number;
  noRepeatNgramSize?: number;
  minNewTokens?: number;
  decoderStartTokenId?: number;
  /** The whole decoder prompt, start token first (overrides decoderStartTokenId). */
  prompt?: readonly number[];
  /** Tokens allowed next for input row `row` after `generated` new tokens; null: any. */
  allowedTokens?: (row: number, generated: readonly number[]) => ReadonlySet<number> | null;
}

export interface BeamOptions extends GenerationOptions {
  numBeams: number;
  numReturnSequences?: number;
  lengthPenalty?: number;
  earlyStopping?: boolean | 'never';
}

export interface Hypothesis {
  tokens: number[];
  score: number;
}

const NEG = -1e9;

/** log(sum(exp(row))), stably: a row's log-softmax is row - logSumExp(row). */
function logSumExp(row: Float32Array): number {
  const n = row.length;
  let m = -Infinity;
  for (let i = 0; i < n; i++) if (row[i]! > m) m = row[i]!;
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp(row[i]! - m);
  return m + Math.log(s);
}

/**
 * The logits processors of generation, in place on one row of scores: no EOS before the minimum number
 * of new tokens, no repeated n-gram, only the allowed tokens (each sets scores to -Infinity, so their
 * order does not matter).
 */
export function processScores(
  row: Float64Array | Float32Array,
  seq: readonly number[],
  promptLen: number,
  o: GenerationOptions,
  eosTokenId: number,
  batchRow: number,
): void {
  if (o.minNewTokens && seq.length - promptLen < o.minNewTokens) row[eosTokenId] = -Infinity;
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

export async function beamSearch(
  runner: Seq2SeqRunner,
  inputIds: OrtTensor,
  attentionMask: OrtTensor,
  o: BeamOptions,
): Promise<Hypothesis[][]> {
  const { vocabSize: V, eosTokenId, padTokenId, forcedEosTokenId } = runner.info;
  const K = o.numBeams;
  const B = inputIds.dims[0]!;
  const lp = o.lengthPenalty ?? 1;
  const early = o.earlyStopping ?? false;
  const prompt = o.prompt ?? [o.decoderStartTokenId ?? runner.info.decoderStartTokenId];
  const promptLen = prompt.length;
  const maxLength = promptLen + o.maxNewTokens;
  const rows = Array.from({ length: B * K }, (_, r) => Math.floor(r / K));
  const state = await runner.startDecoding(inputIds, attentionMask, rows, prompt);
  const running = Array.from({ length: B }, () => Array.from({ length: K }, (_, k) => ({ seq: [...prompt], score: k === 0 ? 0 : NEG })));
  const finished = Array.from({ length: B }, () => Array.from({ length: K }, () => ({ seq: [] as number[], score: NEG, done: false })));
  const unsatisfied = new Array<boolean>(B).fill(true);
  let curLen = promptLen;
  for (;;) {
    const logits = await runner.stepDecoding(
      state,
      running.flatMap((bs) => bs.map((x) => x.seq.at(-1)!)),
    );
    const reorder: number[] = [];
    let allHit = true;
    for (let b = 0; b < B; b++) {
      // Each beam's 2K best tokens hold the step's 2K best candidates (its scores only shift a row), so the
      // processors run on a copy of each row and the whole K x V table of scores is never built. The scores
      // are the log-softmax of the raw logits (processors then set -Infinity), as transformers computes them.
      const flat: number[] = [];
      const accs: number[] = [];
      for (let k = 0; k < K; k++) {
        const beam = running[b]![k]!;
        const raw = logits.subarray((b * K + k) * V, (b * K + k + 1) * V);
        const row = Float32Array.from(raw);
        processScores(row, beam.seq, promptLen, o, eosTokenId, b);
        let lse = logSumExp(raw);
        if (forcedEosTokenId !== null && curLen === maxLength - 1) {
          row.fill(-Infinity);
          row[forcedEosTokenId] = 0;
          lse = 0;
        }
        for (const v of topK(row, 2 * K).sort((p, q) => p - q)) {
          flat.push(k * V + v);
          accs.push(row[v]! - lse + beam.score);
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
          hit: token === eosTokenId || curLen + 1 >= maxLength,
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
    await runner.reorder(state, reorder);
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
    })),
  );
}
