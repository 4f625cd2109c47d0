import { test } from 'node:test';
import assert from 'node:assert/strict';
import { greedyDecode, sampleDecode, type StepDecoder } from '../../src/runtime/generation.js';

/** A decoder over a real-size vocabulary whose logits always favour token `v - 7` of the step number. */
function decoder(V: number): StepDecoder {
  let step = 0;
  return {
    async step(tokens) {
      const out = new Float32Array(tokens.length * V);
      for (let r = 0; r < tokens.length; r++) out[r * V + ((step * 7919) % (V - 10)) + 5] = 30;
      step++;
      return out;
    },
    async reorder() {},
  };
}

test("sampling and greedy decoding over Qwen's 151,936-token vocabulary (no argument-count limit)", async () => {
  const V = 151_936;
  const info = { vocabSize: V, eosTokenIds: [2], padTokenId: 0, forcedEosTokenId: null };
  const s = await sampleDecode(info, decoder(V), [[1, 3]], { maxNewTokens: 3, seed: 1, temperature: 0.7, topP: 0.9, topK: 50 });
  const g = await greedyDecode(info, decoder(V), [[1, 3]], { maxNewTokens: 3 });
  // A logit 30 above all others: sampling picks what greedy picks.
  assert.deepEqual(s.sequences, g.sequences);
  assert.deepEqual(g.sequences[0]!.slice(2), [5, 7924, ((2 * 7919) % (V - 10)) + 5]);
});
