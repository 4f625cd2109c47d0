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
import { t5, relativePositionBuckets } from '../../../src/models/t5.js';
import { GOLDENS, maxRelError, readGoldens, scaledError, type GoldenTensor, goldenInt64 } from '../../helpers/goldens.js';

const dir = join(GOLDENS, 't5-tiny');
const g = readGoldens('t5-tiny');

test('relative position buckets follow HF (bidirectional and causal)', () => {
  const bi = relativePositionBuckets(300, true, 32, 128);
  const at = (rel: number) => bi[rel + 299]!;
  assert.deepEqual([at(0), at(1), at(-1), at(7), at(8), at(-8), at(127), at(200), at(-200)], [0, 17, 1, 23, 24, 8, 31, 31, 15]);
  const uni = relativePositionBuckets(300, false, 32, 128);
  const u = (rel: number) => uni[rel + 299]!;
  assert.deepEqual([u(5), u(0), u(-1), u(-15), u(-16), u(-100), u(-299)], [0, 0, 1, 15, 16, 30, 31]);
});

test('T5 reproduces transformers: encoder states, logits, loss and gradients (t5-tiny goldens)', async () => {
  const cfg = parseT5Config(await readConfigJson(dir));
  const weights = await loadSafetensors(join(dir, 'model.safetensors'));
  const gradNames = Object.keys(g.train.grads);
  const b = new GraphBuilder('t5');
  const w = new GraphWeights(b, weights, (n) => gradNames.includes(n));
  const inputs = {
    inputIds: b.input('input_ids', 'int64', ['batch', 'src']),
    attentionMask: b.input('attention_mask', 'int64', ['batch', 'src']),
    decoderInputIds: b.input('decoder_input_ids', 'int64', ['batch', 'tgt']),
  };
  const labels = b.input('labels', 'int64', ['batch', 'tgt']);
  const out = t5(b, cfg, w, inputs, { maxLength: 64 });
  const loss = b.crossEntropy(out.logits, labels, { ignoreIndex: -100 });
  b.output(out.encoderHidden, 'encoder_last_hidden_state');
  b.output(out.logits, 'logits');
  b.output(loss, 'loss');
  const grads = gradients(
    b,
    loss,
    w.trainable.map((p) => p.tensor),
  );
  grads.forEach((gr, i) => b.output(gr, `grad.${w.trainable[i]!.tensor.name}`));
  const s = await createSession(serialize(b));
  const feeds: Record<string, ort.Tensor> = {
    input_ids: goldenInt64(g.inputs.input_ids),
    attention_mask: goldenInt64(g.inputs.attention_mask),
    decoder_input_ids: goldenInt64(g.inputs.decoder_input_ids),
    labels: goldenInt64(g.inputs.labels),
  };
  for (const p of w.trainable) feeds[p.tensor.name] = new ort.Tensor('float32', p.init, p.tensor.shape as number[]);
  const r = await s.run(feeds);
  const enc = maxRelError(r.encoder_last_hidden_state!.data as Float32Array, g.forward.encoder_last_hidden_state.data);
  const logits = maxRelError(r.logits!.data as Float32Array, g.forward.logits.data);
  assert.ok(enc < 1e-4, `encoder states: max relative error ${enc}`);
  assert.ok(logits < 1e-4, `logits: max relative error ${logits}`);
  assert.ok(Math.abs(Number(r.loss!.data[0]) - g.train.loss) < 1e-5, `loss ${r.loss!.data[0]} vs ${g.train.loss}`);
  for (const name of gradNames) {
    const e = scaledError(r[`grad.${name}`]!.data as Float32Array, g.train.grads[name].data);
    assert.ok(e < 1e-4, `gradient of ${name}: error ${e} of its largest element`);
  }
});
