import { fusedLlamaSupported } from '../models/llamaFused.js';
import type { ModelFolder } from '../models/modelFolder.js';

/**
 * Whether a model's inference graphs use onnxruntime's fused attention (MultiHeadAttention): T5 without graph
 * rewrites (Changeling's prefixes find attention by its parts), on the CPU provider (faster there than the composed
 * form: `npm run bench -- attention`; other providers keep the composed form, which every one of them runs), unless
 * CHANGELING_FUSED_ATTENTION=0 (kept for measuring the composed form). Not the Llama family: MultiHeadAttention takes
 * as many key heads as query heads, and repeating the cache's grouped heads for it at every decoding step cost more
 * than the fused prompt saved (the 0.5B, a 4,211-token prompt, 64 new tokens, int8: the first token 24.8 s instead of
 * 28.3, but 301 ms a token instead of 182 and the whole candidate 43.8 s instead of 39.7). The Llama family runs
 * GroupQueryAttention instead (models/llamaFused.ts: grouped keys as they are, the cache appended in place), where
 * onnxruntime takes the model (a head size that is a multiple of 16) and no PEFT prefix or graph rewrite applies.
 */
export function fusedAttentionFor(model: ModelFolder, provider: string | undefined): boolean {
  if (model.graphTransforms?.length || (provider ?? 'cpu') !== 'cpu' || process.env.CHANGELING_FUSED_ATTENTION === '0') return false;
  if (model.kind === 't5') return true;
  return model.kind === 'llama' && !model.decoderPrefix && fusedLlamaSupported(model.config);
}
