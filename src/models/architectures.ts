import { ChangelingError } from '../util/errors.js';
import { parseBartConfig, parseRobertaConfig, parseT5Config, type BartConfig, type RobertaConfig, type T5Config } from './config.js';
import type { ShapeRule } from './expectedShapes.js';
import { bartRules } from './bart.js';
import { llamaShapeRules, parseLlamaConfig, type LlamaConfig } from './llama.js';
import { robertaRules } from './roberta.js';
import { t5Rules } from './t5.js';
import type { WeightQuantization } from '../graph/quantize.js';

/**
 * What an architecture is, in one record per model file, listed once here (as PEFT keeps one row per model):
 * the config.json `model_type`s it reads, its config parser, the shapes its weights must have, its shape
 * (encoder-decoder, encoder, decoder-only), PEFT's default LoRA targets for it, and the int8 quality gate's
 * verdict. Code that needs one of these asks the record instead of testing the architecture's name.
 */
export interface Architecture<K extends string, C> {
  kind: K;
  /** config.json's model_type values it reads. */
  modelTypes: readonly string[];
  family: 'encoder-decoder' | 'encoder' | 'decoder';
  parseConfig(raw: Record<string, unknown>, where: string): C;
  shapeRules(config: C): ShapeRule[];
  /** PEFT's default target_modules for LoRA on this architecture (the query and value projections). */
  loraTargets: readonly string[];
  /** Whether int8 weights passed the quality gate (`npm run bench -- gate`): `auto` precision uses them on the CPU. */
  int8Gate: boolean;
  /** How `int8` holds and multiplies the weights (graph/quantize.ts). */
  int8Form: WeightQuantization;
}

/** int8 arithmetic, activations quantized per call: the fastest int8 at the seed models' shapes (docs/performance.md). */
/** Signed here; `applyPrecision` makes it unsigned where this CPU's signed kernel saturates. */
const DYNAMIC_INT8: WeightQuantization = { kind: 'dynamic', unsigned: false };

export const ARCHITECTURES = [
  {
    kind: 't5',
    modelTypes: ['t5'],
    family: 'encoder-decoder',
    parseConfig: parseT5Config,
    shapeRules: t5Rules,
    loraTargets: ['q', 'v'],
    // CodeT5-small shapes with random weights: greedy sequences identical for under 95% of inputs.
    int8Gate: false,
    int8Form: DYNAMIC_INT8,
  } satisfies Architecture<'t5', T5Config>,
  {
    kind: 'bart',
    modelTypes: ['bart', 'plbart'],
    family: 'encoder-decoder',
    parseConfig: parseBartConfig,
    shapeRules: bartRules,
    loraTargets: ['q_proj', 'v_proj'],
    int8Gate: false, // not measured
    int8Form: DYNAMIC_INT8,
  } satisfies Architecture<'bart', BartConfig>,
  {
    kind: 'roberta',
    modelTypes: ['roberta'],
    family: 'encoder',
    parseConfig: parseRobertaConfig,
    shapeRules: robertaRules,
    loraTargets: ['query', 'value'],
    // CodeBERT-base shapes with a classifier: probabilities within 0.01 of fp32's.
    int8Gate: true,
    int8Form: DYNAMIC_INT8,
  } satisfies Architecture<'roberta', RobertaConfig>,
  {
    kind: 'llama',
    modelTypes: ['llama', 'qwen2'],
    family: 'decoder',
    parseConfig: parseLlamaConfig,
    shapeRules: llamaShapeRules,
    loraTargets: ['q_proj', 'v_proj'],
    // A tiny Qwen2 trained here, on held-out text (test/integration/models/llmPrecisionGate.test.ts): int8 weights in
    // blocks of 32 with the activations quantized per block (MatMulNBits, accuracy level 4; the embedding table in the
    // same blocks, GatherBlockQuantized) put fp32's first token first at 98.0% of the positions, mean KL 0.00025 nats:
    // within the gate (runtime/precision.ts, LLM_INT8_GATE).
    // The seed models' int8 (DynamicQuantizeMatMul, activations quantized per call as one tensor) did not: 94.2%.
    int8Gate: true,
    int8Form: { kind: 'nbits', bits: 8, block: 32, accuracy: 4 },
  } satisfies Architecture<'llama', LlamaConfig>,
] as const;

export type ModelKind = (typeof ARCHITECTURES)[number]['kind'];

/** The record of an architecture. */
export function architecture<K extends ModelKind>(kind: K): Extract<(typeof ARCHITECTURES)[number], { kind: K }> {
  return ARCHITECTURES.find((a) => a.kind === kind) as Extract<(typeof ARCHITECTURES)[number], { kind: K }>;
}

/** The record that reads a config.json model_type, or a clear error listing those that are supported. */
export function architectureFor(modelType: unknown, where: string): (typeof ARCHITECTURES)[number] {
  const found = ARCHITECTURES.find((a) => (a.modelTypes as readonly string[]).includes(String(modelType)));
  if (!found)
    throw new ChangelingError(
      'usage',
      `${where}: model_type "${String(modelType)}" is not supported (${ARCHITECTURES.flatMap((a) => a.modelTypes).join(', ')})`,
    );
  return found;
}
