import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { gradients } from '../../../src/graph/grad.js';
import { serialize } from '../../../src/graph/serialize.js';
import { createSession } from '../../../src/runtime/session.js';
import { parseBartConfig, readConfigJson } from '../../../src/models/config.js';
import { GraphWeights, loadSafetensors } from '../../../src/models/weights.js';
import { bartDecoder, bartEncoder } from '../../../src/models/bart.js';
import { GOLDENS, maxRelError, readGoldens, scaledError, type GoldenTensor, goldenInt64 } from '../../helpers/goldens.js';

const dir = join(GOLDENS, 'plbart-tiny');
const g = readGoldens('plbart-tiny');

test('PLBART reproduces transformers: encoder states, logits with final_logits_bias, loss and gradients (plbart-tiny goldens)', async () => {
  const cfg = parseBartConfig(await readConfigJson(dir));
  const weights = await loadSafetensors(join(dir, 'model.safetensors'));
  const gradNames = Object.keys(g.train.grads);
  const b = new GraphBuilder('plbart');
  const w = new GraphWeights(b, weights, (n) => gradNames.includes(n));
  const ids = b.input('input_ids', 'int64', ['batch', 'src']);
  const mask = b.input('attention_mask', 'int64', ['batch', 'src']);
  const dec = b.input('decoder_input_ids', 'int64', ['batch', 'tgt']);
  const labels = b.input('labels', 'int64', ['batch', 'tgt']);
  const enc = bartEncoder(b, cfg, w, ids, mask);
  const logits = bartDecoder(b, cfg, w, dec, enc, mask);
  const loss = b.crossEntropy(logits, labels);
  b.output(enc, 'encoder_last_hidden_state');
  b.output(logits, 'logits');
  b.output(loss, 'loss');
  gradients(
    b,
    loss,
    w.trainable.map((p) => p.tensor),
  ).forEach((gr, i) => b.output(gr, `grad.${w.trainable[i]!.tensor.name}`));
  const s = await createSession(serialize(b));
  const feeds: Record<string, ort.Tensor> = {
    input_ids: goldenInt64(g.inputs.input_ids),
    attention_mask: goldenInt64(g.inputs.attention_mask),
    decoder_input_ids: goldenInt64(g.inputs.decoder_input_ids),
    labels: goldenInt64(g.inputs.labels),
  };
  for (const p of w.trainable) feeds[p.tensor.name] = new ort.Tensor('float32', p.init, p.tensor.shape as number[]);
  const r = await s.run(feeds);
  const e1 = maxRelError(r.encoder_last_hidden_state!.data as Float32Array, g.forward.encoder_last_hidden_state.data);
  const e2 = maxRelError(r.logits!.data as Float32Array, g.forward.logits.data);
  assert.ok(e1 < 1e-4, `encoder states: ${e1}`);
  assert.ok(e2 < 1e-4, `logits: ${e2}`);
  assert.ok(Math.abs(Number(r.loss!.data[0]) - g.train.loss) < 1e-5, `loss ${r.loss!.data[0]} vs ${g.train.loss}`);
  for (const name of gradNames) {
    const e = scaledError(r[`grad.${name}`]!.data as Float32Array, g.train.grads[name].data);
    assert.ok(e < 1e-4, `gradient of ${name}: error ${e} of its largest element`);
  }
});
