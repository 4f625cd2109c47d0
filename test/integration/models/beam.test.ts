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
        numBeams: a.num_beams, numReturnSequences: a.num_return_sequences, maxNewTokens: a.max_new_tokens,
        lengthPenalty: a.length_penalty, noRepeatNgramSize: a.no_repeat_ngram_size, minNewTokens: a.min_new_tokens,
        decoderStartTokenId: BEAMS[folder].decoder_start_token_id ?? undefined,
      });
      const flat = r.flat();
      const width = Math.max(...c.sequences.map((s: number[]) => s.length));
      assert.deepEqual(flat.map((h) => h.tokens.slice(0, width)), c.sequences, JSON.stringify(a));
      flat.forEach((h, i) => assert.ok(Math.abs(h.score - c.sequences_scores[i]) < 1e-4, `${JSON.stringify(a)} score ${i}: ${h.score} vs ${c.sequences_scores[i]}`));
    }
  });
}
