import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadModelFolder } from '../../../src/models/modelFolder.js';
import { Seq2SeqRunner } from '../../../src/runtime/seq2seq.js';
import { maxRelError } from '../../helpers/goldens.js';

/**
 * T5 configs as transformers 4 and 5 write them (test/fixtures/t5-config-versions/make_goldens.py): a v1.1-style
 * model saved by transformers 5 says tie_word_embeddings: true and scale_decoder_outputs: false; the same
 * weights with a transformers-4 config say tie_word_embeddings: false. Both must give transformers' logits.
 */
const DIR = resolve('test/fixtures/t5-config-versions');
const G = JSON.parse(readFileSync(join(DIR, 'goldens.json'), 'utf8'));
const i64 = (m: number[][]) => new ort.Tensor('int64', BigInt64Array.from(m.flat().map(BigInt)), [m.length, m[0]!.length]);

for (const name of ['v5-untied', 'v4-untied', 'v5-tied']) {
  test(`T5 written by transformers (${name}: ${JSON.stringify(G.cases[name].config)}) gives transformers' logits`, async () => {
    const model = await loadModelFolder(join(DIR, name));
    assert.equal(model.kind, 't5');
    const runner = await Seq2SeqRunner.create(model);
    const ids = i64(G.input_ids);
    const mask = new ort.Tensor('int64', new BigInt64Array(G.input_ids[0].length).fill(1n), [1, G.input_ids[0].length]);
    const enc = await runner.encode(ids, mask);
    const logits = await runner.decode(i64(G.decoder_input_ids), enc, mask);
    const err = maxRelError(logits.data as Float32Array, G.cases[name].logits);
    assert.ok(err < 1e-4, `max relative error ${err}`);
  });
}
