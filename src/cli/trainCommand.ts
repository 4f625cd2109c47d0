import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { FROZEN_MODES, trainAdapter, type TrainOptions } from '../peft/trainAdapter.js';
import { loadModelFolder } from '../models/modelFolder.js';
import { PROFILE_FILE, effectiveProfile, parseInputFormat, profileText } from '../tasks/cmg/profile.js';
import { folderTarget } from '../util/outputTarget.js';
import { ChangelingError } from '../util/errors.js';
import { TRAIN_BOUNDS, parseOption } from '../util/numbers.js';
import { parseRecomputeMode } from '../train/memory.js';
import { interruptSignal, printJson, writeOut, writeErr } from './io.js';
import { parseMethod } from '../peft/methods.js';
import { parseChoice } from '../util/text.js';

/** `changeling train`: its options, its help text (TRAIN_HELP) and what it prints. */

export const TRAIN_HELP = `changeling train --model DIR --method lora|adapter|prefix|fmft --data FILE.jsonl --out DIR [options]

  Trains one parameter-efficient method (or full fine-tuning) on a frozen model and saves it in Hugging
  Face PEFT's format (adapter_config.json + adapter_model.safetensors; full fine-tuning saves a model
  folder). Data lines: {"input_ids": [...], "labels": [...]} or {"text": "...", "target": "..."} for
  T5/BART (sequence to sequence), {"input_ids": [...] | "text": "...", "label": 0|1, "features": [14 numbers]}
  for RoBERTa (JIT-Fine head, binary cross-entropy), {"input_ids": [...], "labels": [...]} of one length for
  the Llama family (Qwen2, Llama: a causal LM, labels shifted inside, -100 not learnt; LoRA in PEFT's
  CAUSAL_LM format, e.g. --targets q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj; prefix-tuning
  as PEFT's past_key_values; adapters after o_proj and down_proj; fmft), or {"messages": [...]} chat rows
  rendered with the model's chat template and learnt on the assistant turns.

  --steps N | --epochs N   length of training (default 100 steps)
  --lr X                   learning rate (default: 1e-4 LoRA, 5e-4 adapter/prefix, 2e-5 fmft)
  --batch N                batch size (default 8)
  --seed N                 seed (runs are deterministic for a seed with dropout 0)
  --weight-decay X         AdamW decoupled weight decay (default 0.01)
  --clip X | --no-clip     global gradient-norm clipping (default 1.0)
  --schedule constant|linear   learning-rate schedule (default constant)
  --init DIR               start from an adapter in PEFT format instead of a fresh one
  LoRA:     --r N (8) --alpha N (32) --lora-dropout X (0) --targets q,v --rslora
            --layers 16-23 | 0,2,5   only the modules of these layers (PEFT's layers_to_transform)
  adapter:  --adapter-size N (128)
  prefix:   --prefix-tokens N (20)   prefixes in every attention (Li and Liang); on the Llama family
                                      PEFT's prefix-tuning (its past_key_values form, PEFT's files)
            --peft-prefix             T5: PEFT's prefix mode (decoder self-attention, PEFT's files)
  --input-format F         for T5/BART: the input format the data was made in (commitchronicle,
                           commitchronicle-codereviewer, study), written into what is saved (changeling.json)
                           so that suggest feeds it the same way; default: the base model's
  --recompute auto|blocks|attention|lean|none   what the backward computes again instead of the forward keeping
                           it, always with the same gradients. blocks: only each transformer block's input is
                           kept, and the block runs again in its backward (LoRA CodeBERT-base at 8 x 512: 0.63x
                           the peak memory at 0.72x the speed; the 0.5B code LLM, every token labelled: 0.86x at
                           0.89x of attention); attention: the attention probabilities (batch x heads x length^2 x
                           4 bytes each); lean: those and no memory arena; none: nothing. Default auto: blocks when
                           the probabilities would take more than an eighth of the free memory, else none
  --frozen fp32|int8|int8-fast   how the frozen weights are held while training: int8 keeps a quarter of their memory
                           (one scale per row; the backward dequantizes again where it needs them, so no fp32
                           copy lives across a step), the gradients PEFT computes over the same int8 weights;
                           int8-fast: also the products no gradient flows through (the layers below the tuned
                           ones) in int8 arithmetic: faster, not exact (activations quantized per call)
  --json                   print {"steps": [{"step", "loss"}...], "out", ...}`;

export async function trainCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      model: { type: 'string' },
      method: { type: 'string' },
      data: { type: 'string' },
      out: { type: 'string' },
      steps: { type: 'string' },
      epochs: { type: 'string' },
      lr: { type: 'string' },
      batch: { type: 'string' },
      seed: { type: 'string' },
      'weight-decay': { type: 'string' },
      clip: { type: 'string' },
      'no-clip': { type: 'boolean', default: false },
      schedule: { type: 'string' },
      init: { type: 'string' },
      r: { type: 'string' },
      alpha: { type: 'string' },
      'lora-dropout': { type: 'string' },
      targets: { type: 'string' },
      rslora: { type: 'boolean', default: false },
      layers: { type: 'string' },
      'adapter-size': { type: 'string' },
      'prefix-tokens': { type: 'string' },
      'peft-prefix': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      'input-format': { type: 'string' },
      recompute: { type: 'string' },
      frozen: { type: 'string' },
    },
  });
  for (const k of ['model', 'method', 'data', 'out'] as const) if (!values[k]) throw new ChangelingError('usage', `train needs --${k}`);
  if (values.schedule && values.schedule !== 'constant' && values.schedule !== 'linear')
    throw new ChangelingError('usage', '--schedule must be constant or linear');
  const inputFormat = values['input-format'] ? parseInputFormat(values['input-format']) : undefined;
  const options: TrainOptions = {
    model: resolve(values.model!),
    method: parseMethod(values.method),
    data: resolve(values.data!),
    out: resolve(values.out!),
    steps: parseOption('steps', values.steps, TRAIN_BOUNDS.steps),
    epochs: parseOption('epochs', values.epochs, TRAIN_BOUNDS.epochs),
    lr: parseOption('lr', values.lr, TRAIN_BOUNDS.lr),
    batch: parseOption('batch', values.batch, TRAIN_BOUNDS.batch),
    seed: parseOption('seed', values.seed, { integer: true, min: 0 }),
    weightDecay: parseOption('weight-decay', values['weight-decay'], TRAIN_BOUNDS.weightDecay),
    clip: values['no-clip'] ? null : parseOption('clip', values.clip, TRAIN_BOUNDS.clip),
    schedule: values.schedule as 'constant' | 'linear' | undefined,
    init: values.init ? resolve(values.init) : undefined,
    lora: {
      r: parseOption('r', values.r, { min: 1, max: 4096, integer: true }),
      alpha: parseOption('alpha', values.alpha, { min: 0, minExclusive: true, max: 1e6 }),
      dropout: parseOption('lora-dropout', values['lora-dropout'], { min: 0, max: 0.99 }),
      targets: values.targets
        ?.split(',')
        .map((t) => t.trim())
        .filter(Boolean),
      rslora: values.rslora,
      layers: values.layers === undefined ? undefined : parseLayers(values.layers),
    },
    adapterSize: parseOption('adapter-size', values['adapter-size'], { min: 1, max: 1 << 16, integer: true }),
    prefixTokens: parseOption('prefix-tokens', values['prefix-tokens'], { min: 1, max: 4096, integer: true }),
    peftPrefix: values['peft-prefix'],
    recompute: parseRecomputeMode(values.recompute),
    frozen: values.frozen === undefined ? undefined : parseChoice(values.frozen, FROZEN_MODES, '--frozen'),
    signal: interruptSignal(),
    onStep: values.json ? undefined : (step, loss) => writeErr(`step ${step}: loss ${loss.toFixed(5)}\n`),
  };
  folderTarget(values.out!, '--out');
  // What it saves is fed as its data was made: the base model's profile, or the format named here.
  const files: Record<string, string> = {};
  const kind = (await loadModelFolder(resolve(values.model!))).kind;
  if (kind !== 'roberta' && kind !== 'llama') {
    const base = await effectiveProfile(resolve(values.model!));
    files[PROFILE_FILE] = profileText({ ...base, ...(inputFormat ? { inputFormat } : {}), source: resolve(values.model!) });
  }
  const r = await trainAdapter({ ...options, files });
  if (values.json) await printJson(r);
  else
    await writeOut(
      `saved ${values.method} to ${r.out} (${r.trainableParameters.toLocaleString('en')} trainable parameters, ${r.steps.length} \
steps, ${r.seconds.toFixed(1)} s, peak RSS ${r.peakRssMiB} MiB${
        r.blocksRecomputed
          ? ', whole blocks recomputed in the backward'
          : r.attention.recomputed
            ? `, attention recomputed: ${Math.round(r.attention.keptBytes / 2 ** 20)} MiB not kept`
            : ''
      })\n`,
    );
  return 0;
}

/** `--layers`: layer indexes as a list (0,2,5) or ranges (16-23), for PEFT's layers_to_transform. */
function parseLayers(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',').map((x) => x.trim())) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m || (m[2] !== undefined && Number(m[2]) < Number(m[1])) || Number(m[2] ?? m[1]) > 10_000)
      throw new ChangelingError('usage', `--layers takes layer numbers and ranges such as 0,2,5 or 16-23, not "${text}"`);
    for (let i = Number(m[1]); i <= Number(m[2] ?? m[1]); i++) out.push(i);
  }
  return [...new Set(out)].sort((a, b) => a - b);
}
