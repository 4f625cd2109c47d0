import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { serialize } from '../../../src/graph/serialize.js';
import { createSession } from '../../../src/runtime/session.js';
import { loadModelFolder, type ModelFolder } from '../../../src/models/modelFolder.js';
import { GraphWeights } from '../../../src/models/weights.js';
import { t5Decoder, t5Encoder } from '../../../src/models/t5.js';
import { bartDecoder, bartEncoder } from '../../../src/models/bart.js';
import { injectPrefixes } from '../../../src/peft/prefix/inject.js';
import { prefixConfigJson } from '../../../src/peft/prefix/config.js';
import { writeAdapter } from '../../../src/peft/files.js';
import { withAdapter } from '../../../src/peft/apply.js';
import { Seq2SeqRunner } from '../../../src/runtime/seq2seq.js';
import { rng } from '../../helpers/gradCheck.js';
import { GOLDENS, maxRelError } from '../../helpers/goldens.js';
import { tempDir } from '../../helpers/gitRepo.js';

const P = 3;

/** The full graph (encoder, decoder, head) of a model with prefixes as inputs or constants. */
function fullGraph(
  model: ModelFolder & { kind: 't5' | 'bart' },
  weights: Awaited<ReturnType<ModelFolder['loadWeights']>>,
  values?: Map<string, { shape: number[]; data: Float32Array }>,
) {
  const b = new GraphBuilder('full');
  const w = new GraphWeights(b, weights);
  const ids = b.input('input_ids', 'int64', ['batch', 'src']);
  const mask = b.input('attention_mask', 'int64', ['batch', 'src']);
  const dec = b.input('decoder_input_ids', 'int64', ['batch', 'tgt']);
  b.output(
    model.kind === 't5'
      ? t5Decoder(b, model.config, w, dec, t5Encoder(b, model.config, w, ids, mask, { maxLength: 64 }), mask, { maxLength: 64 })
      : bartDecoder(b, model.config, w, dec, bartEncoder(b, model.config, w, ids, mask), mask),
    'logits',
  );
  return { b, prefixes: injectPrefixes(b, P, values ? { values } : {}) };
}

for (const name of ['t5-tiny', 'plbart-tiny']) {
  test(`${name}: Changeling's every-attention prefixes generate: the runner's encoder, full decoder and cached step graphs all give the full graph's logits`, async () => {
    const dir = join(GOLDENS, name);
    const model = (await loadModelFolder(dir)) as ModelFolder & { kind: 't5' | 'bart' };
    const weights = await model.loadWeights();
    // Prefixes with values large enough to matter, saved as `changeling train --method prefix` saves them.
    const r = rng(11);
    const sites = fullGraph(model, weights).prefixes;
    const values = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const p of sites)
      for (const t of [p.key, p.value])
        values.set(t.name, {
          shape: t.shape as number[],
          data: Float32Array.from({ length: (t.shape as number[]).reduce((a, d) => a * d, 1) }, () => (r() * 2 - 1) * 2),
        });
    const adapterDir = join(tempDir(), 'prefix');
    await writeAdapter(
      adapterDir,
      prefixConfigJson(
        { numVirtualTokens: P },
        dir,
        'SEQ_2_SEQ_LM',
        sites.map((p) => p.site),
      ),
      Object.fromEntries(values),
    );
    const V = model.config.vocabSize;
    // Two inputs, the second padded; decoder inputs starting at the start token.
    const B = 2,
      S = 7,
      T = 5;
    const ids = BigInt64Array.from({ length: B * S }, (_, i) => BigInt(4 + ((i * 37) % (V - 8))));
    const mask = BigInt64Array.from({ length: B * S }, (_, i) => (i >= S + 4 ? 0n : 1n));
    const start = model.kind === 't5' ? model.config.decoderStartTokenId : (model.config.decoderStartTokenId ?? model.config.eosTokenId);
    const dec = BigInt64Array.from({ length: B * T }, (_, i) => (i % T === 0 ? BigInt(start) : BigInt(5 + ((i * 53) % (V - 10)))));
    const feeds = {
      input_ids: new ort.Tensor('int64', ids, [B, S]),
      attention_mask: new ort.Tensor('int64', mask, [B, S]),
      decoder_input_ids: new ort.Tensor('int64', dec, [B, T]),
    };
    const ref = (await (await createSession(serialize(fullGraph(model, weights, values).b))).run(feeds)).logits!.data as Float32Array;

    const runner = await Seq2SeqRunner.create(await withAdapter(model, adapterDir), { maxLength: 64 });
    const enc = await runner.encode(feeds.input_ids, feeds.attention_mask);
    const full = (await runner.decode(feeds.decoder_input_ids, enc, feeds.attention_mask)).data as Float32Array;
    assert.ok(maxRelError(full, ref) < 1e-4, `full decoder: ${maxRelError(full, ref)}`);
    // The cached step graph, one token at a time: prefixes before the cache and before the cross keys/values.
    const state = await runner.startDecoding(feeds.input_ids, feeds.attention_mask);
    for (let t = 0; t < T; t++) {
      const logits = await runner.stepDecoding(state, [Number(dec[t]!), Number(dec[T + t]!)]);
      for (let row = 0; row < B; row++) {
        const want = ref.subarray((row * T + t) * V, (row * T + t + 1) * V);
        const e = maxRelError(logits.subarray(row * V, (row + 1) * V), want);
        assert.ok(e < 1e-4, `step ${t}, row ${row}: ${e}`);
      }
      // The cache holds the tokens only; the prefixes are prepended inside the step.
      assert.equal(state.past['past.0.key']!.dims[2], t + 1);
    }
    // Greedy decoding runs, and differs from the base model's logits: the prefixes are there.
    const greedy = await runner.greedy(feeds.input_ids, feeds.attention_mask, 3);
    assert.equal(greedy.sequences.length, B);
    const plain = await Seq2SeqRunner.create(await loadModelFolder(dir), { maxLength: 64 });
    const base = (
      await plain.decode(feeds.decoder_input_ids, await plain.encode(feeds.input_ids, feeds.attention_mask), feeds.attention_mask)
    ).data as Float32Array;
    assert.ok(maxRelError(base, ref) > 1e-2, 'the prefixes change the logits');
  });
}
