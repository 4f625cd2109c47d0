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
import { t5 } from '../../../src/models/t5.js';
import { injectAdapters } from '../../../src/peft/adapter/inject.js';
import { GOLDENS, maxRelError, readGoldens, scaledError, type GoldenTensor, goldenInt64 } from '../../helpers/goldens.js';

const dir = join(GOLDENS, 't5-tiny-adapter');
const g = readGoldens('t5-tiny-adapter');

test('bottleneck adapters after self-attention, cross-attention and FFN outputs reproduce the t5-tiny-adapter goldens', async () => {
  const cfg = parseT5Config(await readConfigJson(dir));
  const b = new GraphBuilder('t5-adapter');
  const w = new GraphWeights(b, await loadSafetensors(join(dir, 'model.safetensors')));
  const inputs = {
    inputIds: b.input('input_ids', 'int64', ['batch', 'src']),
    attentionMask: b.input('attention_mask', 'int64', ['batch', 'src']),
    decoderInputIds: b.input('decoder_input_ids', 'int64', ['batch', 'tgt']),
  };
  const labels = b.input('labels', 'int64', ['batch', 'tgt']);
  const out = t5(b, cfg, w, inputs, { maxLength: 64 });
  const adapters = injectAdapters(b, {
    size: 16,
    nonLinearity: 'relu',
    sites: ['self_attn_adapter', 'cross_attn_adapter', 'ffn_adapter'],
    trainLayerNorms: false,
  });
  assert.deepEqual(adapters.map((a) => a.site).sort(), g.sites.map((s: { adapter: string }) => s.adapter).sort());
  const loss = b.crossEntropy(out.logits, labels);
  b.output(out.logits, 'logits');
  b.output(loss, 'loss');
  const params = adapters.flatMap((a) => Object.values(a.params));
  gradients(b, loss, params).forEach((gr, i) => b.output(gr, `grad.${params[i]!.name}`));
  const s = await createSession(serialize(b));
  const saved = await loadSafetensors(join(dir, 'adapter_weights.safetensors'));
  const feeds: Record<string, ort.Tensor> = {
    input_ids: goldenInt64(g.inputs.input_ids),
    attention_mask: goldenInt64(g.inputs.attention_mask),
    decoder_input_ids: goldenInt64(g.inputs.decoder_input_ids),
    labels: goldenInt64(g.inputs.labels),
  };
  const fileKey = (name: string) => name.replace(/^base_model\.model\./, '');
  for (const p of params) feeds[p.name] = new ort.Tensor('float32', saved.get(fileKey(p.name))!.data, p.shape as number[]);
  const r = await s.run(feeds);
  assert.ok(maxRelError(r.logits!.data as Float32Array, g.forward.logits.data) < 1e-4);
  assert.ok(Math.abs(Number(r.loss!.data[0]) - Number(g.forward.loss)) < 1e-5, `loss ${r.loss!.data[0]} vs ${g.forward.loss}`);
  for (const p of params) {
    const e = scaledError(r[`grad.${p.name}`]!.data as Float32Array, g.grads[fileKey(p.name)].data);
    assert.ok(e < 1e-4, `${p.name}: ${e}`);
  }
});

test("generation with bottleneck adapters: the runner's cached graphs carry them and reproduce the goldens' logits; the step decoder agrees", async () => {
  const { loadModelFolder } = await import('../../../src/models/modelFolder.js');
  const { withAdapter } = await import('../../../src/peft/apply.js');
  const { writeAdapter } = await import('../../../src/peft/files.js');
  const { adapterConfigJson } = await import('../../../src/peft/adapter/config.js');
  const { Seq2SeqRunner } = await import('../../../src/runtime/seq2seq.js');
  const { tempDir } = await import('../../helpers/gitRepo.js');
  const saved = await loadSafetensors(join(dir, 'adapter_weights.safetensors'));
  const adapterDir = join(tempDir(), 'adapter');
  const cfg = {
    size: 16,
    nonLinearity: 'relu' as const,
    sites: ['self_attn_adapter', 'cross_attn_adapter', 'ffn_adapter'],
    trainLayerNorms: false,
  };
  await writeAdapter(
    adapterDir,
    adapterConfigJson(cfg, dir, 'SEQ_2_SEQ_LM'),
    Object.fromEntries([...saved].map(([k, v]) => [`base_model.model.${k}`, v])),
  );
  const model = await withAdapter(await loadModelFolder(dir), adapterDir);
  const runner = await Seq2SeqRunner.create(model, { maxLength: 64 });
  const mask = goldenInt64(g.inputs.attention_mask);
  const enc = await runner.encode(goldenInt64(g.inputs.input_ids), mask);
  assert.ok(maxRelError(enc.data as Float32Array, g.forward.encoder_last_hidden_state.data) < 1e-4, 'encoder with adapters');
  const logits = await runner.decode(goldenInt64(g.inputs.decoder_input_ids), enc, mask);
  assert.ok(maxRelError(logits.data as Float32Array, g.forward.logits.data) < 1e-4, 'full decoder with adapters');
  // Greedy decoding runs the cached one-token step graph: its first step's logits are the full decoder's first position.
  const greedy = await runner.greedy(goldenInt64(g.inputs.input_ids), mask, 3);
  const V = 512;
  const dec0 = goldenInt64({ shape: [2, 1], data: [0, 0] });
  const first = await runner.decode(dec0, enc, mask);
  const a = greedy.stepLogits[0]!;
  const b0 = first.data as Float32Array;
  assert.ok(maxRelError(a.slice(0, 2 * V), b0.slice(0, 2 * V)) < 1e-4, 'step decoder with adapters');
  // Without the adapter, the same runner graphs differ (the cache keys apart).
  const plain = await Seq2SeqRunner.create(await loadModelFolder(dir), { maxLength: 64 });
  const base = await plain.decode(goldenInt64(g.inputs.decoder_input_ids), await plain.encode(goldenInt64(g.inputs.input_ids), mask), mask);
  assert.ok(maxRelError(base.data as Float32Array, g.forward.logits.data) > 1e-3);
});
