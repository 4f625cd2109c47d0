import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { serialize } from '../../../src/graph/serialize.js';
import { createSession } from '../../../src/runtime/session.js';
import { parseBartConfig, parseRobertaConfig, parseT5Config, readConfigJson } from '../../../src/models/config.js';
import { GraphWeights, loadSafetensors } from '../../../src/models/weights.js';
import { t5 } from '../../../src/models/t5.js';
import { roberta } from '../../../src/models/roberta.js';
import { bartDecoder, bartEncoder } from '../../../src/models/bart.js';
import { injectPrefixes } from '../../../src/peft/prefix/inject.js';
import { gradCheck, rng } from '../../helpers/gradCheck.js';
import { GOLDENS } from '../../helpers/goldens.js';

test('prefixes reach every attention of T5, RoBERTa and BART, named by attention module', async () => {
  const count = async (kind: string) => {
    const b = new GraphBuilder(kind);
    const ids = b.input('ids', 'int64', ['batch', 'src']);
    const mask = b.input('mask', 'int64', ['batch', 'src']);
    if (kind === 't5') {
      const dir = join(GOLDENS, 't5-tiny');
      t5(
        b,
        parseT5Config(await readConfigJson(dir)),
        new GraphWeights(b, await loadSafetensors(join(dir, 'model.safetensors'))),
        { inputIds: ids, attentionMask: mask, decoderInputIds: b.input('dec', 'int64', ['batch', 'tgt']) },
        { maxLength: 64 },
      );
    } else if (kind === 'roberta') {
      const dir = join(GOLDENS, 'roberta-tiny');
      roberta(
        b,
        parseRobertaConfig(await readConfigJson(dir)),
        new GraphWeights(b, await loadSafetensors(join(dir, 'model.safetensors'))),
        ids,
        mask,
      );
    } else {
      const dir = join(GOLDENS, 'plbart-tiny');
      const cfg = parseBartConfig(await readConfigJson(dir));
      const w = new GraphWeights(b, await loadSafetensors(join(dir, 'model.safetensors')));
      bartDecoder(b, cfg, w, b.input('dec', 'int64', ['batch', 'tgt']), bartEncoder(b, cfg, w, ids, mask), mask);
    }
    return injectPrefixes(b, 3).map((p) => p.site);
  };
  assert.deepEqual(await count('t5'), [
    'encoder.block.0.layer.0.SelfAttention',
    'encoder.block.1.layer.0.SelfAttention',
    'decoder.block.0.layer.0.SelfAttention',
    'decoder.block.0.layer.1.EncDecAttention',
    'decoder.block.1.layer.0.SelfAttention',
    'decoder.block.1.layer.1.EncDecAttention',
  ]);
  assert.deepEqual(await count('roberta'), ['roberta.encoder.layer.0.attention', 'roberta.encoder.layer.1.attention']);
  assert.equal((await count('bart')).length, 6);
});

test('the prefix transform is differentiable as defined: finite differences through a masked attention', async () => {
  // scores = q k^T + mask bias; prefix keys/values prepended; gradients w.r.t. q, k, v and both prefixes.
  await gradCheck({
    shapes: [
      [1, 2, 3, 2],
      [1, 2, 4, 2],
      [1, 2, 4, 2],
      [2, 4],
      [2, 4],
    ],
    dtype: 'float32',
    build: (b, [q, k, v, pk, pv]) => {
      const bias = b.constant([0, 0, -1e9, 0], 'float32', [1, 1, 1, 4]);
      // Name the prefixes' home: a query projection weight the transform can find (identity, so q is q).
      const w = b.input('att.q.weight', 'float32', [2, 2]);
      const qq = b.matmul(q!, b.transpose(w, [1, 0]));
      const y = b.matmul(b.softmax(b.add(b.matmul(qq, b.transposeLast(k!)), bias), -1), v!);
      const [p] = injectPrefixes(b, 2);
      // Feed the prefixes from the checked inputs.
      b.nodes.forEach((n) => (n.inputs = n.inputs.map((t) => (t === p!.key ? pk! : t === p!.value ? pv! : t))));
      b.inputs.splice(b.inputs.indexOf(p!.key), 1);
      b.inputs.splice(b.inputs.indexOf(p!.value), 1);
      b.inputs.splice(b.inputs.indexOf(w), 1);
      b.nodes.forEach((n) => (n.inputs = n.inputs.map((t) => (t === w ? b.constant([1, 0, 0, 1], 'float32', [2, 2]) : t))));
      return y;
    },
  });
});

test('with prefixes, padding stays masked: a padded row gives the same states as the row alone', async () => {
  const dir = join(GOLDENS, 'roberta-tiny');
  const cfg = parseRobertaConfig(await readConfigJson(dir));
  const b = new GraphBuilder('rp');
  const ids = b.input('ids', 'int64', ['batch', 'seq']);
  const mask = b.input('mask', 'int64', ['batch', 'seq']);
  const out = roberta(b, cfg, new GraphWeights(b, await loadSafetensors(join(dir, 'model.safetensors'))), ids, mask);
  b.output(out.lastHidden, 'h');
  const prefixes = injectPrefixes(b, 4);
  const s = await createSession(serialize(b));
  const r = rng(5);
  const feeds = (rows: number[][], masks: number[][]): Record<string, ort.Tensor> => {
    const f: Record<string, ort.Tensor> = {
      ids: new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0]!.length]),
      mask: new ort.Tensor('int64', BigInt64Array.from(masks.flat().map(BigInt)), [rows.length, rows[0]!.length]),
    };
    for (const p of prefixes)
      for (const t of [p.key, p.value])
        f[t.name] = new ort.Tensor(
          'float32',
          Float32Array.from({ length: 4 * 64 }, () => r() * 0.5),
          [4, 64],
        );
    return f;
  };
  const f1 = feeds([[0, 31, 415, 2, 1, 1]], [[1, 1, 1, 1, 0, 0]]);
  const alone = { ...feeds([[0, 31, 415, 2]], [[1, 1, 1, 1]]) };
  for (const p of prefixes) for (const t of [p.key, p.value]) alone[t.name] = f1[t.name]!;
  const a = (await s.run(f1)).h!.data as Float32Array;
  const c = (await s.run(alone)).h!.data as Float32Array;
  for (let i = 0; i < 4 * 64; i++) assert.ok(Math.abs(a[i]! - c[i]!) < 1e-5, `element ${i}: ${a[i]} vs ${c[i]}`);
  const base = new GraphBuilder('rb');
  const bi = base.input('ids', 'int64', ['batch', 'seq']);
  const bm = base.input('mask', 'int64', ['batch', 'seq']);
  base.output(roberta(base, cfg, new GraphWeights(base, await loadSafetensors(join(dir, 'model.safetensors'))), bi, bm).lastHidden, 'h');
  const plain = (await (await createSession(serialize(base))).run({ ids: alone.ids!, mask: alone.mask! })).h!.data as Float32Array;
  assert.ok(
    plain.some((v, i) => Math.abs(v - c[i]!) > 1e-3),
    'the prefixes change the states',
  );
});
