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
import { jitFineHead } from '../../../src/models/heads.js';
import { parseLoraConfig } from '../../../src/peft/lora/config.js';
import { injectLora } from '../../../src/peft/lora/inject.js';
import { readAdapter } from '../../../src/peft/files.js';
import { GOLDENS, maxRelError, readGoldens, scaledError, type GoldenTensor, goldenInt64 } from '../../helpers/goldens.js';

const dir = join(GOLDENS, 'roberta-tiny-jitfine');
const g = readGoldens('roberta-tiny-jitfine');

test('JIT-Fine: RoBERTa + PEFT LoRA (query, value) + expert-feature head matches probabilities, BCE loss and all gradients', async () => {
  const cfg = parseRobertaConfig(await readConfigJson(dir));
  const weights = await loadSafetensors(join(dir, 'model.safetensors'));
  for (const [k, v] of await loadSafetensors(join(dir, 'head.safetensors'))) weights.set(k, v);
  const b = new GraphBuilder('jitfine');
  const w = new GraphWeights(b, weights, (n) => n.startsWith('classifier.manual_dense') || n.startsWith('classifier.out_proj_new'));
  const ids = b.input('input_ids', 'int64', ['batch', 'seq']);
  const mask = b.input('attention_mask', 'int64', ['batch', 'seq']);
  const feats = b.input('expert_features', 'float32', ['batch', 14]);
  const labels = b.input('labels', 'float32', ['batch']);
  const enc = roberta(b, cfg, w, ids, mask);
  const logit = jitFineHead(b, w, enc.lastHidden, feats);
  const adapter = await readAdapter(dir);
  const lora = injectLora(b, parseLoraConfig(adapter.config), { moduleName: (m) => m.replace(/^roberta\./, '') });
  assert.equal(lora.length, 4);
  const loss = b.bceWithLogits(b.reshape(logit, [-1]), labels);
  b.output(logit, 'logits');
  b.output(b.sigmoid(logit), 'probabilities');
  b.output(loss, 'loss');
  const params = [...lora.flatMap((l) => [l.a, l.b]), ...w.trainable.map((p) => p.tensor)];
  gradients(b, loss, params).forEach((gr, i) => b.output(gr, `grad.${params[i]!.name}`));
  const s = await createSession(serialize(b));
  const feeds: Record<string, ort.Tensor> = {
    input_ids: goldenInt64(g.inputs.input_ids),
    attention_mask: goldenInt64(g.inputs.attention_mask),
    expert_features: new ort.Tensor('float32', Float32Array.from(g.inputs.expert_features.data), g.inputs.expert_features.shape),
    labels: new ort.Tensor('float32', Float32Array.from(g.inputs.labels.data), [2]),
  };
  for (const l of lora)
    for (const t of [l.a, l.b]) feeds[t.name] = new ort.Tensor('float32', adapter.weights.get(t.name)!.data, t.shape as number[]);
  for (const p of w.trainable) feeds[p.tensor.name] = new ort.Tensor('float32', p.init, p.tensor.shape as number[]);
  const r = await s.run(feeds);
  assert.ok(maxRelError(r.logits!.data as Float32Array, g.forward.logits.data) < 1e-4);
  assert.ok(maxRelError(r.probabilities!.data as Float32Array, g.forward.probabilities.data) < 1e-4);
  assert.ok(Math.abs(Number(r.loss!.data[0]) - Number(g.forward.loss)) < 1e-5, `loss ${r.loss!.data[0]} vs ${g.forward.loss}`);
  for (const name of Object.keys(g.grads)) {
    const e = scaledError(r[`grad.${name}`]!.data as Float32Array, g.grads[name].data);
    assert.ok(e < 1e-4, `${name}: ${e}`);
  }
});
