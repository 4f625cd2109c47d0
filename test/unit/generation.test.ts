import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dropOutsideNucleus, greedyDecode, sampleDecode, type StepDecoder } from '../../src/runtime/generation.js';
import { seededRandom } from '../../src/train/batching.js';

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

test('top-p without sorting the vocabulary: the tokens TopPLogitsWarper keeps, ties and zeros included', () => {
  // The rule as written before, by sorting the ids (the larger id first among equal probabilities).
  const reference = (q: Float64Array, topP: number) => {
    const p = Float64Array.from(q);
    const order = Array.from({ length: p.length }, (_, i) => i).sort((a, b) => p[a]! - p[b]! || b - a);
    let cum = 0;
    for (let i = 0; i < p.length - 1; i++) {
      cum += p[order[i]!]!;
      if (cum > 1 - topP) break;
      p[order[i]!] = 0;
    }
    return p;
  };
  const rand = seededRandom(11);
  for (let trial = 0; trial < 300; trial++) {
    const V = 1 + Math.floor(rand() * 400);
    // Peaked, flat, with repeated values (ties) and with zeros (what top-k leaves).
    const raw = Float64Array.from({ length: V }, () => {
      const x = rand();
      return trial % 3 === 0 ? Math.round(x * 4) : trial % 3 === 1 ? Math.exp(12 * x) : x < 0.3 ? 0 : x;
    });
    const total = raw.reduce((a, b) => a + b, 0) || 1;
    const p = Float64Array.from(raw, (x) => (total ? x / total : 1 / V));
    const topP = [0.1, 0.5, 0.8, 0.9, 0.95, 0.999][trial % 6]!;
    const got = Float64Array.from(p);
    dropOutsideNucleus(got, topP);
    assert.deepEqual(got, reference(p, topP), `trial ${trial}, V ${V}, top_p ${topP}`);
    assert.ok(got.some((x) => x > 0) || p.every((x) => x === 0), 'at least one token kept');
  }
});
