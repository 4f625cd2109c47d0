import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadModelFolder } from '../../../src/models/modelFolder.js';
import { CausalLmRunner, causalLmLoss } from '../../../src/runtime/causalLm.js';
import { scaledError, type GoldenTensor } from '../../helpers/goldens.js';

/** Qwen2 and Llama checkpoints against transformers' own outputs (test/fixtures/decoder/make_goldens.py). */
const DECODER = resolve('test/fixtures/decoder');
const rows = (t: GoldenTensor): number[][] => {
  const [B, T] = t.shape as [number, number];
  return Array.from({ length: B }, (_, b) => t.data.slice(b * T, (b + 1) * T));
};

for (const folder of ['qwen2-tiny', 'llama-tiny', 'qwen2-hd64']) {
  const g = JSON.parse(readFileSync(join(DECODER, folder, 'goldens.json'), 'utf8'));
  const batch = { ids: rows(g.input_ids), mask: rows(g.attention_mask) };
  const open = async () =>
    CausalLmRunner.create(await loadModelFolder(join(DECODER, folder)), { eosTokenIds: g.eos_token_id, padTokenId: g.pad_token_id });

  test(`${folder} (${g.weights} weights): logits at every position of a left-padded batch and the loss, as transformers computes them`, async () => {
    const runner = await open();
    const logits = await runner.forward(batch, rows(g.position_ids));
    assert.deepEqual(logits.dims, g.logits.shape);
    const err = scaledError(logits.data as Float32Array, g.logits.data);
    assert.ok(err < 1e-5, `logits: ${err} relative to the largest logit`);
    const loss = causalLmLoss(logits.data as Float32Array, rows(g.labels), runner.info.vocabSize);
    assert.ok(Math.abs(loss - g.loss) < 1e-5, `loss ${loss} vs ${g.loss}`);
  });

  test(`${folder}: generate() through the cache: 20 greedy tokens, the processors, beam search sequences and scores`, async () => {
    const runner = await open();
    const greedy = await runner.greedy(batch, { maxNewTokens: g.greedy.max_new_tokens });
    assert.deepEqual(greedy.sequences, rows(g.greedy.sequences));
    const gp = g.greedy_processors;
    const processed = await runner.greedy(batch, {
      maxNewTokens: gp.max_new_tokens,
      minNewTokens: gp.min_new_tokens,
      noRepeatNgramSize: gp.no_repeat_ngram_size,
      repetitionPenalty: gp.repetition_penalty,
    });
    assert.deepEqual(processed.sequences, rows(gp.sequences));
    for (const key of ['beam', 'beam_ngram']) {
      const c = g[key];
      const hyps = await runner.beam(batch, {
        numBeams: c.num_beams,
        numReturnSequences: c.num_return_sequences,
        maxNewTokens: c.max_new_tokens,
        minNewTokens: c.min_new_tokens,
        noRepeatNgramSize: c.no_repeat_ngram_size,
        lengthPenalty: c.length_penalty,
      });
      const flat = hyps.flat();
      assert.deepEqual(
        flat.map((h) => h.tokens),
        rows(c.sequences),
        key,
      );
      flat.forEach((h, i) =>
        assert.ok(Math.abs(h.score - c.sequences_scores.data[i]) < 1e-4, `${key} score ${i}: ${h.score} vs ${c.sequences_scores.data[i]}`),
      );
    }
  });
}
