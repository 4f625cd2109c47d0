import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readdirSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadModelFolder } from '../../../src/models/modelFolder.js';
import { Seq2SeqRunner } from '../../../src/runtime/seq2seq.js';
import { GOLDENS, maxRelError, readGoldens, goldenInt64 } from '../../helpers/goldens.js';
import { tempDir } from '../../helpers/gitRepo.js';

test('graphs are built once per model and builder version, then loaded without reading the weights', async () => {
  process.env.CHANGELING_GRAPH_CACHE = tempDir();
  const dir = join(tempDir(), 't5');
  cpSync(join(GOLDENS, 't5-tiny'), dir, { recursive: true });
  const g = readGoldens('t5-tiny');
  const first = await loadModelFolder(dir);
  let loads = 0;
  const load = first.loadWeights;
  first.loadWeights = () => (loads++, load());
  const r1 = await Seq2SeqRunner.create(first);
  assert.equal(loads, 1);
  assert.equal(readdirSync(process.env.CHANGELING_GRAPH_CACHE!).length, 1);
  const second = await loadModelFolder(dir);
  second.loadWeights = () => {
    throw new Error('the weights should not be read when the graphs are cached');
  };
  const r2 = await Seq2SeqRunner.create(second);
  const a = await r1.greedy(goldenInt64(g.inputs.input_ids), goldenInt64(g.inputs.attention_mask), 8);
  const b = await r2.greedy(goldenInt64(g.inputs.input_ids), goldenInt64(g.inputs.attention_mask), 8);
  assert.deepEqual(b.sequences, a.sequences);
  assert.ok(
    maxRelError(
      b.stepLogits.flatMap((x) => Array.from(x)),
      g.generate.step_logits.data,
    ) < 1e-4,
  );
  // New weights (a changed file) mean new graphs.
  utimesSync(join(dir, 'model.safetensors'), new Date(), new Date(Date.now() + 5000));
  await Seq2SeqRunner.create(await loadModelFolder(dir));
  assert.equal(readdirSync(process.env.CHANGELING_GRAPH_CACHE!).length, 2);
  delete process.env.CHANGELING_GRAPH_CACHE;
});
