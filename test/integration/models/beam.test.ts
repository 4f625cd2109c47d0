import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadModelFolder } from '../../../src/models/modelFolder.js';
import { Seq2SeqRunner } from '../../../src/runtime/seq2seq.js';
import { beamSearch } from '../../../src/runtime/beamSearch.js';
import { GOLDENS, readGoldens, goldenInt64 } from '../../helpers/goldens.js';

const BEAMS = JSON.parse(readFileSync(resolve('test/fixtures/beam/beam_goldens.json'), 'utf8'));

for (const folder of ['t5-tiny', 'plbart-tiny']) {
  test(`beam search on ${folder} returns transformers' n-best lists and scores`, async () => {
    const g = readGoldens(folder);
    const runner = await Seq2SeqRunner.create(await loadModelFolder(join(GOLDENS, folder)));
    for (const c of BEAMS[folder].cases) {
      const a = c.args;
      const r = await beamSearch(runner, goldenInt64(g.inputs.input_ids), goldenInt64(g.inputs.attention_mask), {
        numBeams: a.num_beams,
        numReturnSequences: a.num_return_sequences,
        maxNewTokens: a.max_new_tokens,
        lengthPenalty: a.length_penalty,
        noRepeatNgramSize: a.no_repeat_ngram_size,
        minNewTokens: a.min_new_tokens,
        decoderStartTokenId: BEAMS[folder].decoder_start_token_id ?? undefined,
      });
      const flat = r.flat();
      const width = Math.max(...c.sequences.map((s: number[]) => s.length));
      assert.deepEqual(
        flat.map((h) => h.tokens.slice(0, width)),
        c.sequences,
        JSON.stringify(a),
      );
      flat.forEach((h, i) =>
        assert.ok(
          Math.abs(h.score - c.sequences_scores[i]) < 1e-4,
          `${JSON.stringify(a)} score ${i}: ${h.score} vs ${c.sequences_scores[i]}`,
        ),
      );
    }
  });
}

const PROMPTS = JSON.parse(readFileSync(resolve('test/fixtures/beam/prompt_goldens.json'), 'utf8'));

for (const folder of ['t5-tiny', 'plbart-tiny']) {
  test(`greedy and beam search on ${folder} with a decoder prompt, a prefix constraint, no-repeat n-grams and a minimum length match transformers`, async () => {
    const g = readGoldens(folder);
    const model = await loadModelFolder(join(GOLDENS, folder));
    const runner = await Seq2SeqRunner.create(model);
    const V = runner.info.vocabSize;
    const even = new Set(Array.from({ length: 150 }, (_, i) => 2 * i));
    const first = (t: ort.Tensor) => new ort.Tensor('int64', (t.data as BigInt64Array).slice(0, t.dims[1]!), [1, t.dims[1]!]);
    const ids = first(goldenInt64(g.inputs.input_ids));
    const mask = first(goldenInt64(g.inputs.attention_mask));
    for (const c of PROMPTS[folder].cases) {
      const a = c.args;
      const o = {
        maxNewTokens: a.max_new_tokens,
        noRepeatNgramSize: a.no_repeat_ngram_size,
        minNewTokens: a.min_new_tokens,
        prompt: c.prompt,
        allowedTokens: c.constrained ? (_row: number, generated: readonly number[]) => (generated.length < 2 ? even : null) : undefined,
      };
      const what = JSON.stringify({ prompt: c.prompt, ...a, constrained: c.constrained });
      if (a.num_beams === 1) {
        const r = await runner.greedy(ids, mask, a.max_new_tokens, o);
        assert.deepEqual(r.sequences, c.sequences, what);
      } else {
        const flat = (
          await beamSearch(runner, ids, mask, { ...o, numBeams: a.num_beams, numReturnSequences: a.num_return_sequences })
        ).flat();
        const width = Math.max(...c.sequences.map((s: number[]) => s.length));
        assert.deepEqual(
          flat.map((h) => h.tokens.slice(0, width)),
          c.sequences,
          what,
        );
        flat.forEach((h, i) =>
          assert.ok(Math.abs(h.score - c.sequences_scores[i]) < 1e-4, `${what} score ${i}: ${h.score} vs ${c.sequences_scores[i]}`),
        );
      }
    }
    assert.ok(V > 300);
  });
}

test("generation with a PEFT prefix-tuning adapter: every step's logits are PEFT's (t5-tiny-peft-prefix goldens), and beams run on it", async () => {
  const { withAdapter } = await import('../../../src/peft/apply.js');
  const dir = join(GOLDENS, 't5-tiny-peft-prefix');
  const g = readGoldens('t5-tiny-peft-prefix');
  const model = await withAdapter(await loadModelFolder(dir), dir);
  assert.equal(model.decoderPrefix?.length, 4);
  const runner = await Seq2SeqRunner.create(model);
  const ids = g.inputs.input_ids;
  const mask = g.inputs.attention_mask;
  const dec = g.inputs.decoder_input_ids;
  const [B, S] = ids.shape as [number, number];
  const T = dec.shape[1] as number;
  const V = runner.info.vocabSize;
  const want = g.forward.logits.data as number[];
  let worst = 0;
  for (let b = 0; b < B; b++) {
    const row = (t: { data: number[] }) =>
      new ort.Tensor('int64', BigInt64Array.from(t.data.slice(b * S, (b + 1) * S).map(BigInt)), [1, S]);
    const state = await runner.startDecoding(row(ids), row(mask));
    for (let t = 0; t < T; t++) {
      const logits = await runner.stepDecoding(state, [dec.data[b * T + t]]);
      const ref = want.slice((b * T + t) * V, (b * T + t + 1) * V);
      for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(logits[v]! - ref[v]!) / (1 + Math.abs(ref[v]!)));
    }
  }
  assert.ok(worst < 1e-4, `max relative error ${worst}`);
  const hyps = (
    await beamSearch(
      runner,
      new ort.Tensor('int64', BigInt64Array.from(ids.data.slice(0, S).map(BigInt)), [1, S]),
      new ort.Tensor('int64', BigInt64Array.from(mask.data.slice(0, S).map(BigInt)), [1, S]),
      { numBeams: 3, numReturnSequences: 3, maxNewTokens: 6 },
    )
  ).flat();
  assert.equal(hyps.length, 3);
});
