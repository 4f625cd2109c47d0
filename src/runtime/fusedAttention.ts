import type { ModelFolder } from '../models/modelFolder.js';

/**
 * Whether a model's inference graphs use onnxruntime's fused attention (MultiHeadAttention): T5 without graph
 * rewrites (Changeling's prefixes find attention by its parts), on the CPU provider (faster there than the composed
 * form: `npm run bench -- attention`; other providers keep the composed form, which every one of them runs), unless
 * CHANGELING_FUSED_ATTENTION=0 (kept for measuring the composed form). Not the Llama family: MultiHeadAttention takes
 * as many key heads as query heads, and repeating the cache's grouped heads for it at every decoding step cost more
 * than the fused prompt saved (the 0.5B, a 4,211-token prompt, 64 new tokens, int8: the first token 24.8 s instead of
 * 28.3, but 301 ms a token instead of 182 and the whole candidate 43.8 s instead of 39.7). GroupQueryAttention reads
 * grouped keys as they are; using it needs its own cache layout and padding rules (the next engine work).
 */
export function fusedAttentionFor(model: ModelFolder, provider: string | undefined): boolean {
  return (
    model.kind === 't5' && !model.graphTransforms?.length && (provider ?? 'cpu') === 'cpu' && process.env.CHANGELING_FUSED_ATTENTION !== '0'
  );
}
