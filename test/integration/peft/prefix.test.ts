import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { gradients } from '../../../src/graph/grad.js';
import { serialize } from '../../../src/graph/serialize.js';
import { createSession } from '../../../src/runtime/session.js';
import { parseT5Config, readConfigJson } from '../../../src/models/config.js';
import { GraphWeights, loadSafetensors } from '../../../src/models/weights.js';
import { t5Decoder, t5Encoder } from '../../../src/models/t5.js';
import { parsePeftPrefixConfig, peftT5Prefix } from '../../../src/peft/prefix/peftPrefix.js';
import { readAdapter } from '../../../src/peft/files.js';
import { GOLDENS, maxRelError, readGoldens, scaledError, type GoldenTensor, goldenInt64 } from '../../helpers/goldens.js';

const dir = join(GOLDENS, 't5-tiny-peft-prefix');
const g = readGoldens('t5-tiny-peft-prefix');

test('PEFT prefix-tuning on T5 (decoder self-attention only, shared entries) loads and matches PEFT: logits, loss, gradient', async () => {
  const cfg = parseT5Config(await readConfigJson(dir));
  const adapter = await readAdapter(dir);
  const b = new GraphBuilder('t5-prefix');
  const w = new GraphWeights(b, await loadSafetensors(join(dir, 'model.safetensors')));
  const ids = b.input('input_ids', 'int64', ['batch', 'src']);
  const mask = b.input('attention_mask', 'int64', ['batch', 'src']);
  const dec = b.input('decoder_input_ids', 'int64', ['batch', 'tgt']);
  const labels = b.input('labels', 'int64', ['batch', 'tgt']);
  const prefix = peftT5Prefix(b, cfg, parsePeftPrefixConfig(adapter.config));
  const logits = t5Decoder(b, cfg, w, dec, t5Encoder(b, cfg, w, ids, mask, { maxLength: 64 }), mask, { maxLength: 64, selfPrefix: prefix });
  const loss = b.crossEntropy(logits, labels);
  b.output(logits, 'logits');
  b.output(loss, 'loss');
  b.output(gradients(b, loss, [prefix.embeddings])[0]!, 'grad');
  const s = await createSession(serialize(b));
  const E = adapter.weights.get('prompt_embeddings')!;
  assert.deepEqual(
    Array.from(E.data),
    g.prompt_embedding.data.map((v: number) => Math.fround(v)),
  );
  const r = await s.run({
    input_ids: goldenInt64(g.inputs.input_ids),
    attention_mask: goldenInt64(g.inputs.attention_mask),
    decoder_input_ids: goldenInt64(g.inputs.decoder_input_ids),
    labels: goldenInt64(g.inputs.labels),
    prompt_embeddings: new ort.Tensor('float32', E.data, E.shape),
  });
  assert.ok(maxRelError(r.logits!.data as Float32Array, g.forward.logits.data) < 1e-4);
  assert.ok(Math.abs(Number(r.loss!.data[0]) - Number(g.forward.loss)) < 1e-5, `loss ${r.loss!.data[0]} vs ${g.forward.loss}`);
  const grad = r.grad!.data as Float32Array;
  assert.ok(scaledError(grad, g.grads.prompt_embeddings.data) < 1e-4);
  // Columns of entries 2 and 3 (the dropped cross-attention prefixes) get exactly zero gradient, as in PEFT.
  for (let t = 0; t < 4; t++) for (let c = 128; c < 256; c++) assert.equal(grad[t * 256 + c], 0);
});
