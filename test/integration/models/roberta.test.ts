import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { gradients } from '../../../src/graph/grad.js';
import { serialize } from '../../../src/graph/serialize.js';
import { createSession } from '../../../src/runtime/session.js';
import { parseRobertaConfig, readConfigJson } from '../../../src/models/config.js';
import { GraphWeights, loadSafetensors } from '../../../src/models/weights.js';
import { roberta } from '../../../src/models/roberta.js';
import { GOLDENS, maxRelError, readGoldens, scaledError, type GoldenTensor, goldenInt64 } from '../../helpers/goldens.js';

const dir = join(GOLDENS, 'roberta-tiny');
const g = readGoldens('roberta-tiny');

test('RoBERTa reproduces transformers: hidden states, pooler, classifier logits, loss and gradients (roberta-tiny goldens)', async () => {
  const cfg = parseRobertaConfig(await readConfigJson(dir));
  const weights = await loadSafetensors(join(dir, 'model.safetensors'));
  const gradNames = Object.keys(g.seq_cls.grads);
  const b = new GraphBuilder('roberta');
  const w = new GraphWeights(b, weights, (n) => gradNames.includes(n));
  const ids = b.input('input_ids', 'int64', ['batch', 'seq']);
  const mask = b.input('attention_mask', 'int64', ['batch', 'seq']);
  const labels = b.input('labels', 'int64', ['batch']);
  const out = roberta(b, cfg, w, ids, mask, { pooler: true, classifier: true });
  const loss = b.crossEntropy(out.classifierLogits!, labels);
  b.output(out.lastHidden, 'last_hidden_state');
  b.output(out.pooled!, 'pooler_output');
  b.output(out.classifierLogits!, 'logits');
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
    labels: goldenInt64(g.inputs.labels),
  };
  for (const p of w.trainable) feeds[p.tensor.name] = new ort.Tensor('float32', p.init, p.tensor.shape as number[]);
  const r = await s.run(feeds);
  const check = (name: string, actual: ort.Tensor, expected: GoldenTensor) => {
    const e = maxRelError(actual.data as Float32Array, expected.data);
    assert.ok(e < 1e-4, `${name}: max relative error ${e}`);
  };
  check('last_hidden_state', r.last_hidden_state!, g.base.last_hidden_state);
  check('pooler_output', r.pooler_output!, g.base.pooler_output);
  check('logits', r.logits!, g.seq_cls.logits);
  assert.ok(Math.abs(Number(r.loss!.data[0]) - g.seq_cls.loss) < 1e-5, `loss ${r.loss!.data[0]} vs ${g.seq_cls.loss}`);
  for (const name of gradNames) {
    const e = scaledError(r[`grad.${name}`]!.data as Float32Array, g.seq_cls.grads[name].data);
    assert.ok(e < 1e-4, `gradient of ${name}: error ${e} of its largest element`);
  }
});
