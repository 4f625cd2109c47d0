import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadModelFolder } from '../../../src/models/modelFolder.js';
import { withAdapter } from '../../../src/peft/apply.js';
import { readAdapter } from '../../../src/peft/files.js';
import { CausalLmRunner, causalLmLoss } from '../../../src/runtime/causalLm.js';
import { scaledError } from '../../helpers/goldens.js';
import { tempDir } from '../../helpers/gitRepo.js';
import { goldenRowsFile, trainJson } from '../../helpers/trainCli.js';

/**
 * Prefix-tuning, full fine-tuning and bottleneck adapters on the decoder-only family through `changeling train`.
 * Prefix and full fine-tuning against PEFT and transformers themselves (test/fixtures/decoder/make_prefix_fmft_goldens.py):
 * 4 AdamW steps on a right-padded batch with a labelled prompt masked out; the losses, the saved files and the
 * logits through them. PEFT has no bottleneck adapter: the trained adapter, loaded into the runtime's graph, gives
 * the loss the training graph gives.
 */
const DECODER = resolve('test/fixtures/decoder');

const train = (model: string, data: string, out: string, ...args: string[]) =>
  trainJson(model, data, '--out', out, '--batch', '2', '--clip', '0', '--schedule', 'constant', ...args);

/** Trains as the golden's run did (its rows, steps, lr, weight decay) and checks the losses against it. */
function trainAsGolden(name: string, g: Golden, out: string, ...args: string[]) {
  const r = train(
    join(DECODER, name),
    goldenRowsFile(g),
    out,
    ...args,
    '--steps',
    String(g.steps),
    '--lr',
    String(g.lr),
    '--weight-decay',
    String(g.weight_decay),
  );
  close(
    r.steps.map((s: { loss: number }) => s.loss),
    g.loss_before_step,
  );
}

/** The runner's logits of the golden's evaluation row against the golden's (and the logits, for more checks). */
async function checkEvalLogits(runner: CausalLmRunner, g: Golden): Promise<Float32Array> {
  const ids = g.eval_input_ids;
  const logits = (await runner.forward({ ids: [ids], mask: [ids.map(() => 1)] })).data as Float32Array;
  const err = scaledError(logits, g.eval_logits.data);
  assert.ok(err < 1e-3, `logits: ${err} relative to the largest`);
  return logits;
}

interface Golden {
  rows: number[][];
  labels_from: number;
  steps: number;
  lr: number;
  weight_decay: number;
  loss_before_step: number[];
  eval_input_ids: number[];
  eval_logits: { data: number[] };
  [k: string]: any;
}

const close = (got: number[], want: number[]) =>
  got.forEach((l, i) => assert.ok(Math.abs(l - want[i]!) <= 1e-3 * Math.abs(want[i]!), `step ${i + 1}: ${l} vs ${want[i]}`));

for (const name of ['qwen2-tiny', 'llama-tiny']) {
  test(`${name}: PEFT's prefix-tuning (past_key_values) trains as PEFT does and its adapter generates with PEFT's logits`, async () => {
    const g = JSON.parse(readFileSync(join(DECODER, name, 'prefix_goldens.json'), 'utf8'));
    const out = join(tempDir(), 'prefix');
    trainAsGolden(name, g, out, '--method', 'prefix', '--init', join(DECODER, `${name}-prefix-init`));
    const saved = await readAdapter(out);
    assert.equal(saved.config.peft_type, 'PREFIX_TUNING');
    assert.equal(saved.config.task_type, 'CAUSAL_LM');
    assert.equal(saved.config.num_transformer_submodules, 1);
    assert.deepEqual([saved.config.token_dim, saved.config.num_attention_heads], [g.token_dim, g.num_attention_heads]);
    const E = saved.weights.get('prompt_embeddings')!;
    assert.deepEqual(E.shape, g.prompt_embeddings_after.shape);
    assert.ok(scaledError(E.data, g.prompt_embeddings_after.data) < 1e-3);
    const runner = await CausalLmRunner.create(await withAdapter(await loadModelFolder(join(DECODER, name)), out));
    const logits = await checkEvalLogits(runner, g);
    // Generation starts from the prefix too: its first greedy token is the argmax of the last position's logits.
    const ids = g.eval_input_ids;
    const last = logits.subarray((ids.length - 1) * runner.info.vocabSize);
    const { sequences } = await runner.greedy({ ids: [ids], mask: [ids.map(() => 1)] }, { maxNewTokens: 1 });
    assert.equal(sequences[0]!.at(-1), last.indexOf(Math.max(...last)));
  });

  test(`${name}: full fine-tuning trains every weight as transformers does and saves a model that runs`, async () => {
    const g = JSON.parse(readFileSync(join(DECODER, name, 'fmft_goldens.json'), 'utf8'));
    const out = join(tempDir(), 'fmft');
    trainAsGolden(name, g, out, '--method', 'fmft');
    await checkEvalLogits(await CausalLmRunner.create(await loadModelFolder(out)), g);
  });
}

test('qwen2-tiny: bottleneck adapters train, and the runtime with the adapter gives the loss the training graph gives', async () => {
  const g = JSON.parse(readFileSync(join(DECODER, 'qwen2-tiny', 'prefix_goldens.json'), 'utf8'));
  const data = goldenRowsFile(g);
  const model = join(DECODER, 'qwen2-tiny');
  const out = join(tempDir(), 'adapter');
  const r = train(model, data, out, '--method', 'adapter', '--adapter-size', '8', '--steps', '6', '--lr', '1e-2');
  assert.ok(r.steps[5]!.loss < r.steps[0]!.loss, JSON.stringify(r.steps));
  const saved = await readAdapter(out);
  assert.equal(saved.config.peft_type, 'CHANGELING_BOTTLENECK');
  assert.deepEqual(
    [...saved.weights.keys()].filter((k) => k.endsWith('down.weight')).sort(),
    [0, 1].flatMap((l) => [
      `base_model.model.model.layers.${l}.ffn_adapter.down.weight`,
      `base_model.model.model.layers.${l}.self_attn_adapter.down.weight`,
    ]),
  );
  // The loss of the trained adapter through the training graph (the first loss of a run continuing it) and through
  // the runtime's graph with the adapter and its trained norms.
  const again = train(model, data, join(tempDir(), 'again'), '--method', 'adapter', '--init', out, '--steps', '1', '--lr', '1e-2');
  const runner = await CausalLmRunner.create(await withAdapter(await loadModelFolder(model), out));
  const T = Math.max(...g.rows.map((r: number[]) => r.length));
  const ids = g.rows.map((r: number[]) => [...r, ...new Array(T - r.length).fill(0)]);
  const mask = g.rows.map((r: number[]) => [...r.map(() => 1), ...new Array(T - r.length).fill(0)]);
  const labels = g.rows.map((r: number[]) => [...r.map((x, i) => (i < g.labels_from ? -100 : x)), ...new Array(T - r.length).fill(-100)]);
  // Right padding: positions count from 0 in every row, as training counts them.
  const logits = await runner.forward(
    { ids, mask },
    ids.map((r: number[]) => r.map((_, t) => t)),
  );
  const loss = causalLmLoss(logits.data as Float32Array, labels, runner.info.vocabSize);
  assert.ok(Math.abs(loss - again.steps[0]!.loss) < 1e-4 * loss, `${loss} vs ${again.steps[0]!.loss}`);
  assert.ok(Math.abs(loss - r.steps[0]!.loss) > 1e-3, 'the adapter changed the loss');
});
