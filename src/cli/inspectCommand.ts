import { join } from 'node:path';
import { loadSafetensors } from '../models/weights.js';
import { existsSync } from 'node:fs';
import { isVerbose, writeErr, writeOut } from './io.js';
import { parseArgs } from 'node:util';
import { loadModelFolder, type ModelFolder } from '../models/modelFolder.js';
import { CausalLmRunner, causalLmLoss } from '../runtime/causalLm.js';
import { Seq2SeqRunner } from '../runtime/seq2seq.js';
import { beamSearch } from '../runtime/beamSearch.js';
import { EncoderRunner } from '../runtime/encoderRunner.js';
import { ort } from '../runtime/session.js';
import { resolveProvider } from '../runtime/providers.js';
import { parsePrecision, type Precision } from '../runtime/precision.js';
import { withAdapter } from '../peft/apply.js';
import { ChangelingError } from '../util/errors.js';
import { printJson } from './io.js';
import { readJsonFile } from '../util/jsonFile.js';
import { meanCrossEntropy } from '../runtime/crossEntropy.js';

/** `changeling inspect`: its options, its help text (INSPECT_HELP) and what it prints. */

export const INSPECT_HELP = `changeling inspect --model DIR [--adapter LORA_DIR] --input FILE.json [--provider auto|cpu|cuda|webgpu|dml|coreml] [--precision fp32|int8|int4|auto] [--json]

  Runs a model folder (config.json + model.safetensors) on token ids and prints what other
  implementations can be compared with. FILE.json: {"input_ids": [[...]], "attention_mask": [[...]],
  "decoder_input_ids": [[...]] (optional), "labels": [[...]] (optional, -100 ignored),
  "generate": {"max_new_tokens": N, "num_beams": K, "num_return_sequences": R, "length_penalty": L,
  "no_repeat_ngram_size": N, "min_new_tokens": M, "decoder_start_token_id": ID} (optional)}. Output: {"encoder_last_hidden_state",
  "logits", "loss", "sequences"} (those that apply), each tensor {"dtype", "shape", "data"} flat row-major.
  --precision: fp32 by default here (the reference comparison); int8 and int4 run the quantized graphs.
  Architectures: T5 (CodeT5), BART/PLBART, RoBERTa (CodeBERT; "pooler_output", and classifier "logits"
  for sequence-classification checkpoints, with "labels" as one class per row), and decoder-only Llama and
  Qwen2 (left-padded "input_ids"; "position_ids" optional, else counted from each row's first real token;
  "labels" the shape of input_ids, shifted inside; "logits" at every position; "sequences" the padded prompt
  and the new tokens). Greedy and beam search (with beams, "sequences" holds num_return_sequences rows per
  input and "sequences_scores" their scores); for decoder-only models also "repetition_penalty" and sampling
  ("do_sample": true, "temperature", "top_p", "top_k", "seed": the same seed gives the same tokens).`;

type Matrix = number[][];
const tensorJson = (dtype: string, shape: readonly number[], data: ArrayLike<number | bigint>) => ({
  dtype,
  shape: [...shape],
  data: Array.from(data, Number),
});

function matrix(v: unknown, name: string): Matrix {
  const numbers = name === 'expert_features';
  if (
    !Array.isArray(v) ||
    v.length === 0 ||
    !v.every(
      (r) =>
        Array.isArray(r) && r.length === (v[0] as unknown[]).length && r.every((x) => (numbers ? Number.isFinite(x) : Number.isInteger(x))),
    )
  ) {
    throw new ChangelingError('usage', `"${name}" must be a non-empty rectangular array of ${numbers ? 'number' : 'integer'} rows`);
  }
  return v as Matrix;
}

/** The JIT-Fine head on the first token's state: out_proj_new([h0, tanh(manual_dense(features))]). */
function jitFineLogits(
  head: Map<string, { shape: number[]; data: Float32Array }>,
  h: Float32Array,
  B: number,
  S: number,
  H: number,
  feats: number[][],
): number[] {
  const get = (k: string) => {
    const t = head.get(`classifier.${k}`);
    if (!t) throw new ChangelingError('usage', `the adapter's extra_trainable.safetensors has no classifier.${k}: not a JIT-Fine head`);
    return t;
  };
  const dw = get('manual_dense.weight');
  const db = get('manual_dense.bias');
  const ow = get('out_proj_new.weight');
  const ob = get('out_proj_new.bias');
  const F = dw.shape[1]!;
  const D = dw.shape[0]!;
  if (ow.shape[1] !== H + D)
    throw new ChangelingError('usage', `the JIT-Fine head is for hidden size ${ow.shape[1]! - D}, the model has ${H}`);
  return Array.from({ length: B }, (_, b) => {
    if (feats[b]!.length !== F) throw new ChangelingError('usage', `"expert_features" rows need ${F} numbers`);
    let z = ob.data[0]!;
    for (let i = 0; i < H; i++) z += ow.data[i]! * h[b * S * H + i]!;
    for (let j = 0; j < D; j++) {
      let e = db.data[j]!;
      for (let k = 0; k < F; k++) e += dw.data[j * F + k]! * feats[b]![k]!;
      z += ow.data[H + j]! * Math.tanh(e);
    }
    return z;
  });
}

export async function inspectCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      adapter: { type: 'string' },
      input: { type: 'string' },
      provider: { type: 'string', default: 'auto' },
      precision: { type: 'string', default: 'fp32' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const precision = parsePrecision(values.precision);
  if (!values.model || !values.input) throw new ChangelingError('usage', 'inspect needs --model DIR and --input FILE.json');
  let spec: Record<string, unknown>;
  {
    spec = (await readJsonFile(values.input, { what: '--input' })) as Record<string, unknown>;
  }
  const rt = await ort();
  let provider: string;
  try {
    // Which provider was chosen, and why others were not: with --verbose only.
    provider = await resolveProvider(values.provider, isVerbose() ? (l) => writeErr(`${l}\n`) : undefined);
  } catch (err) {
    throw new ChangelingError('usage', (err as Error).message);
  }
  const base = await loadModelFolder(values.model);
  const model = values.adapter ? await withAdapter(base, values.adapter) : base;
  const vocab = model.config.vocabSize;
  // Token ids are checked against the vocabulary here: a wrong one is the user's input, not a crash.
  const inVocab = (m: Matrix, name: string, allow: number[] = []) => {
    const bad = m.flat().find((x) => (x < 0 || x >= vocab) && !allow.includes(x));
    if (bad !== undefined)
      throw new ChangelingError('usage', `"${name}" has the id ${bad}, outside this model's vocabulary (0 to ${vocab - 1})`);
    return m;
  };
  const ids = inVocab(matrix(spec.input_ids, 'input_ids'), 'input_ids');
  if (spec.decoder_input_ids) inVocab(matrix(spec.decoder_input_ids, 'decoder_input_ids'), 'decoder_input_ids');
  if (spec.labels && model.kind !== 'roberta') inVocab(matrix(spec.labels, 'labels'), 'labels', [-100]);
  const g0 = spec.generate as Record<string, unknown> | undefined;
  if (g0 !== undefined) {
    const bound = (k: string, lo: number, hi: number) => {
      const v = g0[k];
      if (v !== undefined && !(Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi))
        throw new ChangelingError('usage', `generate.${k} must be a whole number from ${lo} to ${hi} (it is ${JSON.stringify(v)})`);
    };
    bound('num_beams', 1, 64);
    bound('num_return_sequences', 1, 64);
    bound('max_new_tokens', 1, 1024);
    bound('min_new_tokens', 0, 1024);
    bound('no_repeat_ngram_size', 0, 16);
    bound('decoder_start_token_id', 0, vocab - 1);
    bound('top_k', 0, vocab);
    bound('seed', 0, 2 ** 31 - 1);
    for (const [k, lo, hi] of [
      ['temperature', 0, Infinity],
      ['top_p', 0, 1],
      ['repetition_penalty', 0, Infinity],
    ] as const) {
      const v = g0[k];
      if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v > lo && v <= hi))
        throw new ChangelingError(
          'usage',
          `generate.${k} must be a number above ${lo}${hi < Infinity ? ` and at most ${hi}` : ''} (it is ${JSON.stringify(v)})`,
        );
    }
    if (g0.do_sample !== undefined && typeof g0.do_sample !== 'boolean')
      throw new ChangelingError('usage', 'generate.do_sample must be true or false');
    if (typeof g0.length_penalty === 'number' && !Number.isFinite(g0.length_penalty))
      throw new ChangelingError('usage', 'generate.length_penalty must be a finite number');
  }
  const mask = spec.attention_mask ? matrix(spec.attention_mask, 'attention_mask') : ids.map((r) => r.map(() => 1));
  const i64 = (m: Matrix) => new rt.Tensor('int64', BigInt64Array.from(m.flat().map(BigInt)), [m.length, m[0]!.length]);
  const out: Record<string, unknown> = {};
  if (model.kind === 'roberta') {
    const runner = await EncoderRunner.create(model, { provider, precision });
    const r = await runner.run(i64(ids), i64(mask));
    out.encoder_last_hidden_state = tensorJson('float32', r.last_hidden_state!.dims, r.last_hidden_state!.data as Float32Array);
    // An adapter trained with the JIT-Fine head (changeling train on classification data) keeps the head
    // beside it (extra_trainable.safetensors): with "expert_features" in the input, its logit and probability.
    const headFile = values.adapter ? join(values.adapter, 'extra_trainable.safetensors') : '';
    if (headFile && existsSync(headFile) && spec.expert_features !== undefined) {
      const head = await loadSafetensors(headFile);
      const feats = matrix(spec.expert_features as unknown, 'expert_features');
      const h = r.last_hidden_state!;
      const [B, S, H] = h.dims as [number, number, number];
      if (feats.length !== B) throw new ChangelingError('usage', '"expert_features" needs one row per input row');
      const logits = jitFineLogits(head, h.data as Float32Array, B, S, H, feats);
      out.jitfine_logits = tensorJson('float32', [B], logits);
      out.jitfine_probabilities = tensorJson(
        'float32',
        [B],
        logits.map((z) => 1 / (1 + Math.exp(-z))),
      );
    }
    if (r.pooler_output) out.pooler_output = tensorJson('float32', r.pooler_output.dims, r.pooler_output.data as Float32Array);
    if (r.logits) {
      out.logits = tensorJson('float32', r.logits.dims, r.logits.data as Float32Array);
      if (spec.labels !== undefined) {
        const labels = (Array.isArray(spec.labels) ? (spec.labels as unknown[]).flat() : []) as number[];
        if (labels.length !== ids.length || !labels.every(Number.isInteger))
          throw new ChangelingError('usage', '"labels" for a classifier must give one class per row');
        out.loss = meanCrossEntropy(r.logits.data as Float32Array, [labels], r.logits.dims[1]!);
      }
    } else if (spec.labels !== undefined)
      throw new ChangelingError('usage', `${values.model} has no classification head: "labels" cannot be scored`);
    if (spec.generate) throw new ChangelingError('usage', `${values.model} is an encoder-only model: it does not generate`);
  } else if (model.kind === 'llama') {
    Object.assign(out, await inspectCausalLm(model, spec, ids, mask, { provider, precision }));
  } else {
    const runner = await Seq2SeqRunner.create(model, { maxLength: 2048, provider, precision });
    const info = runner.info;
    const labels = spec.labels ? matrix(spec.labels, 'labels') : null;
    let dec = spec.decoder_input_ids ? matrix(spec.decoder_input_ids, 'decoder_input_ids') : null;
    if (!dec && labels)
      dec = shiftRight(labels, model.kind === 'bart' && model.config.modelType === 'plbart', info.decoderStartTokenId, info.padTokenId);
    const enc = await runner.encode(i64(ids), i64(mask));
    out.encoder_last_hidden_state = tensorJson('float32', enc.dims, enc.data as Float32Array);
    if (dec) {
      const logits = await runner.decode(i64(dec), enc, i64(mask));
      out.logits = tensorJson('float32', logits.dims, logits.data as Float32Array);
      if (labels) out.loss = meanCrossEntropy(logits.data as Float32Array, labels, info.vocabSize);
    }
    const gen = spec.generate as
      | {
          max_new_tokens?: number;
          num_beams?: number;
          num_return_sequences?: number;
          length_penalty?: number;
          no_repeat_ngram_size?: number;
          min_new_tokens?: number;
          decoder_start_token_id?: number;
        }
      | undefined;
    if (gen && (gen.num_beams ?? 1) > 1) {
      const r = (
        await beamSearch(runner, i64(ids), i64(mask), {
          numBeams: gen.num_beams!,
          maxNewTokens: gen.max_new_tokens ?? 20,
          numReturnSequences: gen.num_return_sequences ?? 1,
          lengthPenalty: gen.length_penalty,
          noRepeatNgramSize: gen.no_repeat_ngram_size,
          minNewTokens: gen.min_new_tokens,
          decoderStartTokenId: gen.decoder_start_token_id,
        })
      ).flat();
      const width = Math.max(...r.map((h) => h.tokens.length));
      out.sequences = tensorJson(
        'int64',
        [r.length, width],
        r.flatMap((h) => [...h.tokens, ...new Array(width - h.tokens.length).fill(info.padTokenId)]),
      );
      out.sequences_scores = tensorJson(
        'float32',
        [r.length],
        r.map((h) => h.score),
      );
    } else if (gen) {
      const r = await runner.greedy(i64(ids), i64(mask), gen.max_new_tokens ?? 20, {
        decoderStartTokenId: gen.decoder_start_token_id,
        minNewTokens: gen.min_new_tokens,
        noRepeatNgramSize: gen.no_repeat_ngram_size,
      });
      out.sequences = tensorJson('int64', [r.sequences.length, r.sequences[0]!.length], r.sequences.flat());
    }
  }
  if (values.json) await printJson(out);
  else {
    const lines = Object.entries(out).map(([k, v]) =>
      typeof v === 'number' ? `${k}: ${v}` : `${k}: ${(v as { dtype: string }).dtype}[${(v as { shape: number[] }).shape.join(', ')}]`,
    );
    await writeOut(lines.join('\n') + '\n');
  }
  return 0;
}

/**
 * A decoder-only model: logits at every position (positions from the attention mask as generate() counts them,
 * unless "position_ids" gives them), the loss of "labels" (same shape as input_ids, shifted inside), and
 * "sequences" as generate() returns them: the padded prompt, then the new tokens.
 */
async function inspectCausalLm(
  model: Extract<ModelFolder, { kind: 'llama' }>,
  spec: Record<string, unknown>,
  ids: Matrix,
  mask: Matrix,
  o: { provider: string; precision: Precision },
): Promise<Record<string, unknown>> {
  // The composed attention: logits at every position, padding included, as transformers computes them, and explicit
  // positions (the fused attention counts them from each row's first token itself and skips padding).
  const runner = await CausalLmRunner.create(model, { ...o, attention: 'composed' });
  const out: Record<string, unknown> = {};
  const same = (m: Matrix, name: string) => {
    if (m.length !== ids.length || m[0]!.length !== ids[0]!.length)
      throw new ChangelingError('usage', `"${name}" must have the shape of input_ids`);
    return m;
  };
  same(mask, 'attention_mask');
  if (spec.decoder_input_ids) throw new ChangelingError('usage', `${model.dir} is a decoder-only model: it has no decoder_input_ids`);
  const positions = spec.position_ids ? same(matrix(spec.position_ids, 'position_ids'), 'position_ids') : undefined;
  const batch = { ids, mask };
  const logits = await runner.forward(batch, positions);
  out.logits = tensorJson('float32', logits.dims, logits.data as Float32Array);
  if (spec.labels)
    out.loss = causalLmLoss(logits.data as Float32Array, same(matrix(spec.labels, 'labels'), 'labels'), runner.info.vocabSize);
  const gen = spec.generate as Record<string, number | boolean | undefined> | undefined;
  if (!gen) return out;
  const common = {
    maxNewTokens: (gen.max_new_tokens as number | undefined) ?? 20,
    minNewTokens: gen.min_new_tokens as number | undefined,
    noRepeatNgramSize: gen.no_repeat_ngram_size as number | undefined,
    repetitionPenalty: gen.repetition_penalty as number | undefined,
  };
  if (((gen.num_beams as number | undefined) ?? 1) > 1) {
    const r = (
      await runner.beam(batch, {
        ...common,
        numBeams: gen.num_beams as number,
        numReturnSequences: gen.num_return_sequences as number | undefined,
        lengthPenalty: gen.length_penalty as number | undefined,
      })
    ).flat();
    out.sequences = tensorJson(
      'int64',
      [r.length, r[0]!.tokens.length],
      r.flatMap((h) => h.tokens),
    );
    out.sequences_scores = tensorJson(
      'float32',
      [r.length],
      r.map((h) => h.score),
    );
    return out;
  }
  const r = gen.do_sample
    ? await runner.sample(batch, {
        ...common,
        temperature: gen.temperature as number | undefined,
        topP: gen.top_p as number | undefined,
        topK: gen.top_k as number | undefined,
        seed: gen.seed as number | undefined,
        numReturnSequences: gen.num_return_sequences as number | undefined,
      })
    : await runner.greedy(batch, common);
  out.sequences = tensorJson('int64', [r.sequences.length, r.sequences[0]!.length], r.sequences.flat());
  return out;
}

/**
 * Decoder inputs from labels, as transformers makes them: T5 and BART prepend the decoder start token; PLBART's
 * shift_tokens_right moves each row's last non-pad token (its language code) to the front.
 */
function shiftRight(labels: Matrix, languageCodeFirst: boolean, start: number, pad: number): Matrix {
  return labels.map((row) => {
    const r = row.map((v) => (v === -100 ? pad : v));
    if (!languageCodeFirst) return [start, ...r.slice(0, -1)];
    let last = r.length - 1;
    while (last > 0 && r[last] === pad) last--;
    return [r[last]!, ...r.slice(0, -1)];
  });
}
