import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { gradients } from '../../../src/graph/grad.js';
import { attentionSegments, blockSegments, storedAttentionBytes } from '../../../src/graph/recompute.js';
import { serialize } from '../../../src/graph/serialize.js';
import type { Tensor } from '../../../src/graph/ir.js';
import { createSession } from '../../../src/runtime/session.js';
import { decideRecompute, type RecomputeMode } from '../../../src/train/memory.js';
import { parseRobertaConfig, parseT5Config, readConfigJson } from '../../../src/models/config.js';
import { GraphWeights, loadSafetensors } from '../../../src/models/weights.js';
import { t5 } from '../../../src/models/t5.js';
import { roberta } from '../../../src/models/roberta.js';
import { GOLDENS, readGoldens, scaledError, goldenInt64, type GoldenTensor } from '../../helpers/goldens.js';

/** A model's training graph with or without recomputed attention: its gradients, and who reads the forward's probabilities. */
async function run(kind: 't5' | 'roberta', recomputeAttention: boolean, recomputeBlocks = false) {
  const dir = join(GOLDENS, kind === 't5' ? 't5-tiny' : 'roberta-tiny');
  const g = readGoldens(kind === 't5' ? 't5-tiny' : 'roberta-tiny');
  const expected = kind === 't5' ? g.train : g.seq_cls;
  const weights = await loadSafetensors(join(dir, 'model.safetensors'));
  const b = new GraphBuilder(kind);
  const w = new GraphWeights(b, weights, (n) => n in expected.grads);
  const ids = b.input('input_ids', 'int64', ['batch', 'src']);
  const mask = b.input('attention_mask', 'int64', ['batch', 'src']);
  const feeds: Record<string, ort.Tensor> = {
    input_ids: goldenInt64(g.inputs.input_ids),
    attention_mask: goldenInt64(g.inputs.attention_mask),
    labels: goldenInt64(g.inputs.labels),
  };
  let loss: Tensor;
  if (kind === 't5') {
    const dec = b.input('decoder_input_ids', 'int64', ['batch', 'tgt']);
    const out = t5(
      b,
      parseT5Config(await readConfigJson(dir)),
      w,
      { inputIds: ids, attentionMask: mask, decoderInputIds: dec },
      { maxLength: 64 },
    );
    loss = b.crossEntropy(out.logits, b.input('labels', 'int64', ['batch', 'tgt']), { ignoreIndex: -100 });
    feeds.decoder_input_ids = goldenInt64(g.inputs.decoder_input_ids);
  } else {
    const out = roberta(b, parseRobertaConfig(await readConfigJson(dir)), w, ids, mask, { pooler: true, classifier: true });
    loss = b.crossEntropy(out.classifierLogits!, b.input('labels', 'int64', ['batch']));
  }
  const forward = b.nodes.length;
  const probs = [...attentionSegments(b.nodes).keys()];
  const inBlocks = new Set(blockSegments(b.nodes, b.blocks, b.outputs).keys());
  gradients(
    b,
    loss,
    w.trainable.map((p) => p.tensor),
    { recomputeAttention, recomputeBlocks },
  ).forEach((gr, i) => b.output(gr, `grad.${w.trainable[i]!.tensor.name}`));
  const readers = b.nodes.slice(forward).filter((n) => n.inputs.some((t) => t && probs.includes(t))).length;
  // Forward tensors inside a block that the backward reads (none when blocks are recomputed).
  const blockReads = new Set(b.nodes.slice(forward).flatMap((n) => n.inputs.filter((t) => t && inBlocks.has(t))));
  const backwardSoftmax = b.nodes.slice(forward).filter((n) => n.op === 'Softmax').length;
  for (const p of w.trainable) feeds[p.tensor.name] = new ort.Tensor('float32', p.init, p.tensor.shape as number[]);
  const r = await (await createSession(serialize(b))).run(feeds);
  const grads = Object.fromEntries(Object.keys(expected.grads).map((n) => [n, r[`grad.${n}`]!.data as Float32Array]));
  return {
    grads,
    expected: expected.grads,
    attentions: probs.length,
    readers,
    backwardSoftmax,
    blocks: b.blocks.length,
    inBlocks,
    blockReads,
  };
}

for (const kind of ['t5', 'roberta'] as const) {
  test(`${kind}: recomputed attention gives the same gradients and the backward no longer reads the forward's probabilities`, async () => {
    const kept = await run(kind, false);
    const again = await run(kind, true);
    assert.ok(kept.attentions >= 2, `attentions found: ${kept.attentions}`);
    // Kept: the backward reads every attention's probabilities (the softmax rule and the value product).
    assert.ok(kept.readers >= kept.attentions, `backward readers of the probabilities: ${kept.readers}`);
    assert.equal(kept.backwardSoftmax, 0);
    // Recomputed: none of them, and one replayed softmax per attention.
    assert.equal(again.readers, 0);
    assert.equal(again.backwardSoftmax, again.attentions);
    for (const [name, want] of Object.entries(kept.expected)) {
      assert.deepEqual(again.grads[name], kept.grads[name], `gradient of ${name} changed`);
      const e = scaledError(again.grads[name]!, (want as GoldenTensor).data);
      assert.ok(e < 1e-4, `gradient of ${name}: error ${e} of its largest element against transformers`);
    }
  });
}

// T5 (RMS norms, ReLU) recomputes to the bit. RoBERTa to a rounding: onnxruntime fuses the forward of a block whose
// insides nothing else reads (Add + LayerNormalization into SkipLayerNormalization, the bias into Gelu), which the
// kept mode's forward and the replay (both read by the backward) cannot be.
for (const kind of ['t5', 'roberta'] as const) {
  test(`${kind}: whole blocks recomputed from their inputs give the same gradients (T5 to the bit), and the backward reads nothing inside a block`, async () => {
    const kept = await run(kind, false);
    const again = await run(kind, false, true);
    assert.equal(again.blocks, kind === 't5' ? 4 : 2, 'blocks registered (t5-tiny: 2 encoder and 2 decoder, roberta-tiny: 2)');
    assert.ok(kept.inBlocks.size > 50, `tensors inside blocks: ${kept.inBlocks.size}`);
    // Kept: the backward reads many of them (the activations a step holds); recomputed: none.
    assert.ok(kept.blockReads.size > 20, `backward reads of block tensors when kept: ${kept.blockReads.size}`);
    assert.deepEqual(
      [...again.blockReads].map((t) => t!.name),
      [],
    );
    for (const name of Object.keys(kept.expected)) {
      if (kind === 't5') assert.deepEqual(again.grads[name], kept.grads[name], `gradient of ${name} changed`);
      else assert.ok(scaledError(again.grads[name]!, kept.grads[name]!) < 1e-5, `gradient of ${name} changed`);
    }
  });
}

test('recompute auto: whole blocks when the attention probabilities would take more than an eighth of the free memory, else nothing', async () => {
  const dir = join(GOLDENS, 't5-tiny');
  const b = new GraphBuilder('t5');
  const w = new GraphWeights(b, await loadSafetensors(join(dir, 'model.safetensors')), () => false);
  const inputIds = b.input('input_ids', 'int64', ['batch', 'src']);
  const attentionMask = b.input('attention_mask', 'int64', ['batch', 'src']);
  const decoderInputIds = b.input('decoder_input_ids', 'int64', ['batch', 'tgt']);
  t5(b, parseT5Config(await readConfigJson(dir)), w, { inputIds, attentionMask, decoderInputIds }, { maxLength: 64 });
  const dims = { batch: 8, src: 512, tgt: 64 };
  const bytes = storedAttentionBytes(b.nodes, dims);
  const pick = (mode: RecomputeMode | undefined, free: number) => {
    const d = decideRecompute(mode, b, dims, free);
    return [d.blocks, d.recompute, d.lean];
  };
  assert.deepEqual(pick(undefined, bytes * 7), [true, false, false]);
  assert.deepEqual(pick('auto', bytes * 9), [false, false, false]);
  assert.deepEqual(pick('blocks', bytes * 100), [true, false, false]);
  assert.deepEqual(pick('attention', 1), [false, true, false]);
  assert.deepEqual(pick('lean', bytes * 100), [false, true, true]);
  assert.deepEqual(pick('none', 1), [false, false, false]);
});

test('the attention memory estimate counts every attention at the given lengths', async () => {
  const dir = join(GOLDENS, 't5-tiny');
  const cfg = parseT5Config(await readConfigJson(dir));
  const b = new GraphBuilder('t5');
  const w = new GraphWeights(b, await loadSafetensors(join(dir, 'model.safetensors')), () => false);
  t5(
    b,
    cfg,
    w,
    {
      inputIds: b.input('input_ids', 'int64', ['batch', 'src']),
      attentionMask: b.input('attention_mask', 'int64', ['batch', 'src']),
      decoderInputIds: b.input('decoder_input_ids', 'int64', ['batch', 'tgt']),
    },
    { maxLength: 64 },
  );
  const [B, S, T, H] = [3, 20, 7, cfg.numHeads];
  const want = 4 * B * H * (cfg.numLayers * S * S + cfg.numDecoderLayers * (T * T + T * S));
  assert.equal(storedAttentionBytes(b.nodes, { batch: B, src: S, tgt: T }), want);
});
