import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModelFolder } from '../../src/models/modelFolder.js';
import { BpeTokenizer } from '../../src/models/tokenizer.js';
import { withAdapter } from '../../src/peft/apply.js';
import { LayerStateRunner } from '../../src/runtime/layerStates.js';
import { parseProbeData, parseProbeLines, probeInputIds, readProbeFile } from '../../src/tasks/probe/probeData.js';
import { probeLayer } from '../../src/tasks/probe/linearProbe.js';
import { runProbe } from '../../src/tasks/probe/probe.js';
import { ChangelingError } from '../../src/util/errors.js';
import { GOLDENS } from '../helpers/goldens.js';
import { tempDir } from '../helpers/gitRepo.js';
import { writeTinyT5 } from '../helpers/tinyModels.js';

// Made by test/fixtures/probe/make_goldens.py from the study's own extractor, transformers, PEFT and scikit-learn.
const gold = JSON.parse(readFileSync('test/fixtures/probe/goldens.json', 'utf8'));

test("probe input: the study's extractor's ids ([CLS] and [SEP] as <unk>, cut to seq_length - 2) for CCM, LTP and TYP lines", async () => {
  const toks = {
    codet5: await BpeTokenizer.fromFolder(join(GOLDENS, 'tokenizers', 'codet5')),
    'roberta-base': await BpeTokenizer.fromFolder(join(GOLDENS, 'tokenizers', 'roberta-base')),
  };
  assert.equal(gold.format.length, 72);
  for (const g of gold.format) {
    const [ex] = parseProbeLines(g.line, g.file);
    const ids = probeInputIds(toks[g.tokenizer as keyof typeof toks], ex!.text, { input: 'study', seqLength: g.seq_length });
    assert.deepEqual(ids, g.input_ids, `${g.tokenizer} ${g.file} ${g.seq_length}`);
  }
  // The model's own framing instead: <s> ... </s>, cut to fit.
  const ids = probeInputIds(toks.codet5, 'return x ;', { input: 'model', seqLength: 4 });
  assert.deepEqual([ids[0], ids.length, ids[3]], [1, 4, 2]);
});

test("layer states: the first token at every layer equals transformers' hidden_states (RoBERTa, T5 encoder, PLBART encoder, T5 with PEFT LoRA)", async () => {
  const ids: number[][] = gold.states.input_ids.map((row: number[], i: number) =>
    row.filter((_, t) => gold.states.attention_mask[i][t] === 1),
  );
  for (const name of ['roberta-tiny', 't5-tiny', 'plbart-tiny', 't5-tiny-peft-lora']) {
    let folder = await loadModelFolder(join(GOLDENS, name));
    if (name.endsWith('lora')) folder = await withAdapter(folder, join(GOLDENS, name));
    const runner = await LayerStateRunner.create(folder);
    const states = await runner.firstTokenStates(ids, { batch: 2 });
    const want: number[][][] = gold.states[name];
    assert.equal(states.length, want.length, name);
    let worst = 0;
    states.forEach((layer, l) =>
      want[l]!.forEach((row, i) => row.forEach((v, j) => (worst = Math.max(worst, Math.abs(layer[i * runner.hidden + j]! - v))))),
    );
    assert.ok(worst < 2e-5, `${name}: largest difference ${worst}`);
  }
});

test("linear probe: accuracies per strength within 1 point of scikit-learn's logistic regression on the same features, the same strength chosen", () => {
  for (const c of gold.classifier) {
    const d = c.X[0].length;
    const part = (s: string) => {
      const rows = c.split.map((v: string, i: number) => (v === s ? i : -1)).filter((i: number) => i >= 0);
      return {
        x: { data: Float64Array.from(rows.flatMap((i: number) => c.X[i])), rows: rows.length, dim: d },
        y: rows.map((i: number) => c.y[i]),
      };
    };
    const r = probeLayer({ train: part('tr'), validation: part('va'), test: part('te'), classes: c.classes });
    r.perLambda.forEach((p, i) => {
      assert.ok(
        Math.abs(p.validation - c.per_lambda[i].validation) <= 0.01,
        `${c.classes} classes, lambda ${p.lambda}: validation ${p.validation} vs ${c.per_lambda[i].validation}`,
      );
      assert.ok(
        Math.abs(p.test - c.per_lambda[i].test) <= 0.01,
        `${c.classes} classes, lambda ${p.lambda}: test ${p.test} vs ${c.per_lambda[i].test}`,
      );
    });
    assert.ok(Math.abs(r.test - c.test) <= 0.01, `chosen: ${r.test} vs ${c.test}`);
  }
});

test('probe files: clear errors for a wrong format, a missing split, one label', () => {
  assert.throws(
    () => parseProbeData('tr\tonly two fields\n', 'f.txt'),
    (e: unknown) => e instanceof ChangelingError && /line 1: expected split<TAB>label<TAB>text/.test(e.message),
  );
  assert.throws(() => parseProbeData('train\ta\tx\n', 'f.txt'), /the split must be tr, va or te/);
  assert.throws(() => parseProbeData('tr\ta\tx\ntr\tb\ty\nva\ta\tz\n', 'f.txt'), /no test examples/);
  assert.throws(() => parseProbeData('tr\ta\tx\nva\ta\ty\nte\ta\tz\n', 'f.txt'), /one label only/);
});

test(
  'changeling probe on a tiny T5: a task the first token cannot see at layer 0 (the study input starts with <unk>) but can after attention',
  { timeout: 120_000 },
  async () => {
    const dir = tempDir();
    const model = writeTinyT5(join(dir, 't5'), { seed: 3 });
    const words = ['alpha', 'beta'];
    const lines: string[] = [];
    for (let i = 0; i < 120; i++) {
      const label = i % 2;
      const split = i < 72 ? 'tr' : i < 96 ? 'va' : 'te';
      lines.push(`${split}\t${words[label]}\tint ${words[label]} = ${i} ; return ${words[label]} ;`);
    }
    writeFileSync(join(dir, 'task.txt'), lines.join('\n') + '\n');
    const run = await runProbe(await readProbeFile(join(dir, 'task.txt')), { model });
    assert.equal(run.layers.length, 3);
    assert.deepEqual(run.counts, { train: 72, validation: 24, test: 24 });
    assert.deepEqual(run.labels, ['alpha', 'beta']);
    assert.equal(run.layers[0]!.test, 0.5, 'layer 0 holds only the <unk> embedding: every example looks the same');
    assert.equal(run.best.test, 1);
    assert.ok(run.best.layer >= 1);
  },
);
