import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyQwen2 } from '../test/helpers/tinyModels.js';

/**
 * The code LLM's benchmark models: Qwen2.5-Coder-0.5B's and 1.5B's shapes (`writeTinyQwen2` at those shapes: random f32
 * weights, the 151,936-word vocabulary and head, the test tokenizer), written once into the temporary folder and shared
 * by every bench that runs them (cmg-llm, train-llm, train-history --llm, llm). `layers`: the top 8, which finetune tunes.
 */
export const QWEN_SHAPES = {
  '0.5b': {
    name: 'Qwen2.5-Coder-0.5B (494M parameters)',
    layers: '16-23',
    of: 24,
    model: { hidden: 896, layers: 24, heads: 14, kvHeads: 2, intermediate: 4864, vocab: 151936, context: 32768, eos: 151645 },
  },
  '1.5b': {
    name: 'Qwen2.5-Coder-1.5B (1.54B parameters)',
    layers: '20-27',
    of: 28,
    model: { hidden: 1536, layers: 28, heads: 12, kvHeads: 2, intermediate: 8960, vocab: 151936, context: 32768, eos: 151645 },
  },
} as const;
export type QwenShapes = keyof typeof QWEN_SHAPES;

export function qwenShapes(value: string | null | undefined): QwenShapes {
  if (!value || !(value in QWEN_SHAPES)) throw new Error('--shapes (or --llm) is 0.5b or 1.5b');
  return value as QwenShapes;
}

/** The model folder at those shapes (written on first use). */
export function qwenShapesDir(shapes: QwenShapes): string {
  const dir = join(tmpdir(), 'changeling-bench-cmg-llm', `qwen2.5-coder-${shapes}-shapes`);
  if (!existsSync(join(dir, 'config.json'))) writeTinyQwen2(dir, QWEN_SHAPES[shapes].model);
  return dir;
}
