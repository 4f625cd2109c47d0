import type { Tensor as OrtTensor } from 'onnxruntime-node';
import type { Seq2SeqRunner } from './seq2seq.js';
import { beamDecode, type BeamOptions, type Hypothesis } from './generation.js';

/**
 * Beam search on an encoder-decoder model (generation.ts's beamDecode over the runner's cached decoder step).
 * A decoder prompt (`prompt`: the start token, then history and typed text) is fed before the first step, as
 * transformers does with `decoder_input_ids`: new tokens, the minimum and the length penalty count from its
 * end, while no-repeat n-grams look at the whole sequence, prompt included.
 */
export type { BeamOptions, GenerationOptions, Hypothesis } from './generation.js';

export async function beamSearch(
  runner: Seq2SeqRunner,
  inputIds: OrtTensor,
  attentionMask: OrtTensor,
  o: BeamOptions,
): Promise<Hypothesis[][]> {
  const prompt = o.prompt ?? [o.decoderStartTokenId ?? runner.info.decoderStartTokenId];
  const B = inputIds.dims[0]!;
  return beamDecode(
    runner.decodeInfo,
    async (rows) => {
      const state = await runner.startDecoding(inputIds, attentionMask, rows, prompt);
      return { step: (t) => runner.stepDecoding(state, t), reorder: (r) => runner.reorder(state, r) };
    },
    Array.from({ length: B }, () => prompt),
    o,
  );
}
