import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { gradients } from '../../../src/graph/grad.js';
import { serialize } from '../../../src/graph/serialize.js';
import { createSession } from '../../../src/runtime/session.js';
import { parseT5Config, readConfigJson } from '../../../src/models/config.js';
import { GraphWeights, loadSafetensors, type WeightMap } from '../../../src/models/weights.js';
import { t5 } from '../../../src/models/t5.js';
import { parseLoraConfig, loraScaling } from '../../../src/peft/lora/config.js';
import { injectLora, mergeLora } from '../../../src/peft/lora/inject.js';
import { readAdapter, writeAdapter } from '../../../src/peft/files.js';
import { TrainSession } from '../../../src/train/trainSession.js';
import { GOLDENS, maxRelError, readGoldens, scaledError, type GoldenTensor, goldenInt64 } from '../../helpers/goldens.js';
import { tempDir } from '../../helpers/gitRepo.js';

const dir = join(GOLDENS, 't5-tiny-peft-lora');
const g = readGoldens('t5-tiny-peft-lora');
const batch = () => ({
  input_ids: goldenInt64(g.inputs.input_ids),
  attention_mask: goldenInt64(g.inputs.attention_mask),
  decoder_input_ids: goldenInt64(g.inputs.decoder_input_ids),
  labels: goldenInt64(g.inputs.labels),
});

async function loraGraph(weights: WeightMap, withLora: boolean) {
  const cfg = parseT5Config(await readConfigJson(dir));
  const b = new GraphBuilder('t5-lora');
  const w = new GraphWeights(b, weights);
  const inputs = {
    inputIds: b.input('input_ids', 'int64', ['batch', 'src']),
    attentionMask: b.input('attention_mask', 'int64', ['batch', 'src']),
    decoderInputIds: b.input('decoder_input_ids', 'int64', ['batch', 'tgt']),
  };
  const labels = b.input('labels', 'int64', ['batch', 'tgt']);
  const out = t5(b, cfg, w, inputs, { maxLength: 64 });
  const adapter = await readAdapter(dir);
  const lora = withLora ? injectLora(b, parseLoraConfig(adapter.config)) : [];
  const loss = b.crossEntropy(out.logits, labels);
  return { b, out, loss, lora, adapter };
}

test('PEFT LoRA (q, v; r 8, alpha 32) reproduced from the saved adapter: logits, loss, every A and B gradient', async () => {
  const base = await loadSafetensors(join(dir, 'model.safetensors'));
  const { b, out, loss, lora, adapter } = await loraGraph(base, true);
  assert.equal(lora.length, 12);
  b.output(out.logits, 'logits');
  b.output(loss, 'loss');
  const params = lora.flatMap((l) => [l.a, l.b]);
  gradients(b, loss, params).forEach((gr, i) => b.output(gr, `grad.${params[i]!.name}`));
  const s = await createSession(serialize(b));
  const feeds: Record<string, ort.Tensor> = batch();
  for (const p of params) feeds[p.name] = new ort.Tensor('float32', adapter.weights.get(p.name)!.data, p.shape as number[]);
  const r = await s.run(feeds);
  assert.ok(maxRelError(r.logits!.data as Float32Array, g.forward.logits.data) < 1e-4);
  assert.ok(Math.abs(Number(r.loss!.data[0]) - g.forward.loss) < 1e-5, `loss ${r.loss!.data[0]}`);
  for (const name of Object.keys(g.grads)) {
    const e = scaledError(r[`grad.${name}`]!.data as Float32Array, g.grads[name].data);
    assert.ok(e < 1e-4, `${name}: ${e}`);
  }
});

test('merged LoRA (W + s B A) gives PEFT merge_and_unload logits with no extra ops', async () => {
  const base = await loadSafetensors(join(dir, 'model.safetensors'));
  const { adapter } = await loraGraph(base, false);
  const cfg = parseLoraConfig(adapter.config);
  const merged: WeightMap = new Map(base);
  for (const [key, a] of adapter.weights) {
    if (!key.endsWith('.lora_A.weight')) continue;
    const module = key.slice('base_model.model.'.length, -'.lora_A.weight'.length);
    const bm = adapter.weights.get(`base_model.model.${module}.lora_B.weight`)!;
    const w = base.get(`${module}.weight`)!;
    merged.set(`${module}.weight`, {
      shape: w.shape,
      data: mergeLora(w.data, w.shape[0]!, w.shape[1]!, a.data, bm.data, cfg.r, loraScaling(cfg)),
    });
  }
  assert.ok(maxRelError(merged.get(g.merged.merged_weight_name)!.data, g.merged.merged_weight.data) < 1e-6);
  const { b, out, loss } = await loraGraph(merged, false);
  b.output(out.logits, 'logits');
  b.output(loss, 'loss');
  assert.equal(
    b.nodes.filter((n) => n.op === 'MatMul').length,
    (await loraGraph(base, false)).b.nodes.filter((n) => n.op === 'MatMul').length,
  );
  const r = await (await createSession(serialize(b))).run(batch());
  assert.ok(maxRelError(r.logits!.data as Float32Array, g.merged.logits.data) < 1e-4);
  assert.ok(Math.abs(Number(r.loss!.data[0]) - g.merged.loss) < 1e-5);
});

test("5 AdamW steps on the LoRA parameters follow PyTorch's trajectory; the adapter saved in PEFT format reloads", async () => {
  const base = await loadSafetensors(join(dir, 'model.safetensors'));
  const { b, loss, lora, adapter } = await loraGraph(base, true);
  const params = lora.flatMap((l) => [l.a, l.b]).map((t) => ({ tensor: t, init: adapter.weights.get(t.name)!.data, decay: true }));
  const s = await TrainSession.create(b, loss, params, { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 });
  for (let i = 0; i < 5; i++) {
    const r = await s.step(batch());
    assert.ok(Math.abs(r.loss - g.train.loss_before_step[i]) < 1e-5, `step ${i + 1}: ${r.loss} vs ${g.train.loss_before_step[i]}`);
  }
  for (const [name, t] of Object.entries(g.train.weights_after_step5 as Record<string, GoldenTensor>)) {
    const e = maxRelError(s.value(name), t.data);
    assert.ok(e < 1e-4, `${name} after 5 steps: ${e}`);
  }
  const out = join(tempDir(), 'adapter');
  await writeAdapter(out, adapter.config, s.parameters());
  const back = await readAdapter(out);
  assert.deepEqual(Object.keys(back.config).sort(), Object.keys(adapter.config).sort());
  assert.deepEqual([...back.weights.keys()].sort(), Object.keys(g.train.weights_after_step5).sort());
});

test("changeling inspect --adapter merges a PEFT LoRA adapter: PEFT's logits and loss", async () => {
  const { spawnSync } = await import('node:child_process');
  const { writeFileSync } = await import('node:fs');
  const { resolve } = await import('node:path');
  const rows = (t: GoldenTensor) => Array.from({ length: t.shape[0]! }, (_, i) => t.data.slice(i * t.shape[1]!, (i + 1) * t.shape[1]!));
  const input = join(tempDir(), 'in.json');
  writeFileSync(
    input,
    JSON.stringify({ input_ids: rows(g.inputs.input_ids), attention_mask: rows(g.inputs.attention_mask), labels: rows(g.inputs.labels) }),
  );
  const r = spawnSync(
    process.execPath,
    [resolve('dist/cli.mjs'), 'inspect', '--model', dir, '--adapter', dir, '--input', input, '--json'],
    { encoding: 'utf8', maxBuffer: 1 << 26 },
  );
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.ok(maxRelError(out.logits.data, g.forward.logits.data) < 1e-4);
  assert.ok(Math.abs(out.loss - g.forward.loss) < 1e-5);
});
