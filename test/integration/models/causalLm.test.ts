import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadModelFolder } from '../../../src/models/modelFolder.js';
import { CausalLmRunner, causalLmLoss } from '../../../src/runtime/causalLm.js';
import { scaledError, type GoldenTensor } from '../../helpers/goldens.js';
import { tempDir } from '../../helpers/gitRepo.js';

/** Qwen2 and Llama checkpoints against transformers' own outputs (test/fixtures/decoder/make_goldens.py). */
const DECODER = resolve('test/fixtures/decoder');
const rows = (t: GoldenTensor): number[][] => {
  const [B, T] = t.shape as [number, number];
  return Array.from({ length: B }, (_, b) => t.data.slice(b * T, (b + 1) * T));
};

/** The logits of real positions only (padding positions' logits mean nothing, and the fused graph does not compute them). */
const realOnly = (data: ArrayLike<number>, mask: number[][], vocab: number): number[] =>
  mask.flat().flatMap((m, i) => (m === 1 ? Array.from(data).slice(i * vocab, (i + 1) * vocab) : []));

for (const [folder, attention] of [
  ['qwen2-tiny', 'fused'],
  ['llama-tiny', 'fused'],
  ['qwen2-hd64', 'fused'],
  ['qwen2-tiny', 'composed'],
  ['llama-tiny', 'composed'],
] as const) {
  const g = JSON.parse(readFileSync(join(DECODER, folder, 'goldens.json'), 'utf8'));
  const batch = { ids: rows(g.input_ids), mask: rows(g.attention_mask) };
  // Full precision: the comparison with transformers (auto runs the code LLM's larger matrices in int8 on the CPU).
  const open = async () =>
    CausalLmRunner.create(await loadModelFolder(join(DECODER, folder)), {
      eosTokenIds: g.eos_token_id,
      padTokenId: g.pad_token_id,
      precision: 'fp32',
      attention,
    });

  test(`${folder} (${g.weights} weights, ${attention} attention): logits of a left-padded batch and the loss, as transformers computes them`, async () => {
    const runner = await open();
    assert.equal(runner.fused, attention === 'fused');
    const logits = await runner.forward(batch, rows(g.position_ids));
    assert.deepEqual(logits.dims, g.logits.shape);
    // The composed graph matches transformers at every position, padding included; the fused one at real positions.
    const V = runner.info.vocabSize;
    const mask = batch.mask;
    const err =
      attention === 'composed'
        ? scaledError(logits.data as Float32Array, g.logits.data)
        : scaledError(Float32Array.from(realOnly(logits.data as Float32Array, mask, V)), realOnly(g.logits.data, mask, V));
    assert.ok(err < 1e-5, `logits: ${err} relative to the largest logit`);
    // The loss reads the logits of the last padding position (it predicts a row's first token), as transformers' does.
    if (attention === 'fused') return;
    const loss = causalLmLoss(logits.data as Float32Array, rows(g.labels), runner.info.vocabSize);
    assert.ok(Math.abs(loss - g.loss) < 1e-5, `loss ${loss} vs ${g.loss}`);
  });

  test(`${folder} (${attention}): generate() through the cache: 20 greedy tokens, the processors, beam search sequences and scores`, async () => {
    const runner = await open();
    const greedy = await runner.greedy(batch, { maxNewTokens: g.greedy.max_new_tokens });
    assert.deepEqual(greedy.sequences, rows(g.greedy.sequences));
    const gp = g.greedy_processors;
    const processed = await runner.greedy(batch, {
      maxNewTokens: gp.max_new_tokens,
      minNewTokens: gp.min_new_tokens,
      noRepeatNgramSize: gp.no_repeat_ngram_size,
      repetitionPenalty: gp.repetition_penalty,
    });
    assert.deepEqual(processed.sequences, rows(gp.sequences));
    for (const key of ['beam', 'beam_ngram']) {
      const c = g[key];
      const hyps = await runner.beam(batch, {
        numBeams: c.num_beams,
        numReturnSequences: c.num_return_sequences,
        maxNewTokens: c.max_new_tokens,
        minNewTokens: c.min_new_tokens,
        noRepeatNgramSize: c.no_repeat_ngram_size,
        lengthPenalty: c.length_penalty,
      });
      const flat = hyps.flat();
      assert.deepEqual(
        flat.map((h) => h.tokens),
        rows(c.sequences),
        key,
      );
      flat.forEach((h, i) =>
        assert.ok(Math.abs(h.score - c.sequences_scores.data[i]) < 1e-4, `${key} score ${i}: ${h.score} vs ${c.sequences_scores.data[i]}`),
      );
    }
  });
}

test('changeling inspect on a decoder-only model answers as transformers: logits, loss, greedy and beam sequences', () => {
  const g = JSON.parse(readFileSync(join(DECODER, 'llama-tiny', 'goldens.json'), 'utf8'));
  const dir = tempDir();
  const run = (spec: object) => {
    writeFileSync(join(dir, 'input.json'), JSON.stringify(spec));
    const r = spawnSync(
      process.execPath,
      [resolve('dist/cli.mjs'), 'inspect', '--model', join(DECODER, 'llama-tiny'), '--input', join(dir, 'input.json'), '--json'],
      { encoding: 'utf8', maxBuffer: 1 << 26 },
    );
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  // Positions are counted from each row's first real token when not given, as generate() counts them.
  const base = { input_ids: rows(g.input_ids), attention_mask: rows(g.attention_mask), labels: rows(g.labels) };
  const out = run({ ...base, generate: { max_new_tokens: g.greedy.max_new_tokens } });
  assert.deepEqual(out.logits.shape, g.logits.shape);
  assert.ok(scaledError(out.logits.data, g.logits.data) < 1e-5);
  assert.ok(Math.abs(out.loss - g.loss) < 1e-5, `loss ${out.loss} vs ${g.loss}`);
  assert.deepEqual(out.sequences, g.greedy.sequences);
  const beam = run({ ...base, generate: { num_beams: 4, num_return_sequences: 2, max_new_tokens: 10 } });
  assert.deepEqual(beam.sequences, g.beam.sequences);
  // Explicit positions win (rotary attention sees only differences of positions, so a row's positions all 0
  // change its logits, while shifting them all by one does not).
  const shifted = run({ ...base, position_ids: rows(g.position_ids).map((r) => r.map((p) => p + 1)) });
  assert.ok(scaledError(shifted.logits.data, g.logits.data) < 1e-4);
  const flat = run({ ...base, position_ids: rows(g.position_ids).map((r) => r.map(() => 0)) });
  assert.ok(scaledError(flat.logits.data, g.logits.data) > 1e-3);
  // A wrong input is one clear line.
  writeFileSync(join(dir, 'bad.json'), JSON.stringify({ ...base, decoder_input_ids: [[1]] }));
  const bad = spawnSync(
    process.execPath,
    [resolve('dist/cli.mjs'), 'inspect', '--model', join(DECODER, 'llama-tiny'), '--input', join(dir, 'bad.json')],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /decoder-only model: it has no decoder_input_ids/);
});

test('sampling is reproducible with a seed; top_k 1 is greedy; top_p keeps the likeliest tokens; one row per requested sequence', async () => {
  const g = JSON.parse(readFileSync(join(DECODER, 'qwen2-tiny', 'goldens.json'), 'utf8'));
  const runner = await CausalLmRunner.create(await loadModelFolder(join(DECODER, 'qwen2-tiny')));
  const batch = { ids: rows(g.input_ids), mask: rows(g.attention_mask) };
  const a = await runner.sample(batch, { maxNewTokens: 12, temperature: 1.5, seed: 7, numReturnSequences: 2 });
  const b = await runner.sample(batch, { maxNewTokens: 12, temperature: 1.5, seed: 7, numReturnSequences: 2 });
  const c = await runner.sample(batch, { maxNewTokens: 12, temperature: 1.5, seed: 8, numReturnSequences: 2 });
  assert.equal(a.sequences.length, 4);
  assert.deepEqual(a.sequences, b.sequences);
  assert.notDeepEqual(a.sequences, c.sequences);
  const greedy = await runner.greedy(batch, { maxNewTokens: 12 });
  const top1 = await runner.sample(batch, { maxNewTokens: 12, topK: 1, seed: 3 });
  assert.deepEqual(top1.sequences, greedy.sequences);
  const nucleus = await runner.sample(batch, { maxNewTokens: 12, topP: 1e-6, seed: 3 });
  assert.deepEqual(nucleus.sequences, greedy.sequences);
  // Tokens stream as they are chosen, and a stop rule ends a row as EOS would.
  const seen: number[][] = [[], []];
  const stopped = await runner.greedy(batch, {
    maxNewTokens: 12,
    onToken: (r, t) => seen[r]!.push(t),
    stop: (r, gen) => r === 1 && gen.length === 3,
  });
  const T = batch.ids[0]!.length;
  assert.deepEqual(seen[0], stopped.sequences[0]!.slice(T));
  assert.equal(seen[1]!.length, 3);
  assert.deepEqual(stopped.sequences[1]!.slice(T + 3), new Array(9).fill(runner.info.padTokenId));
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(runner.greedy(batch, { maxNewTokens: 4, signal: ac.signal }), /cancelled/);
});

test('generation_config.json gives EOS ids, pad and sampling defaults; config.json and bad values are handled', async () => {
  const dir = tempDir();
  for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(DECODER, 'qwen2-tiny', f), join(dir, f));
  writeFileSync(
    join(dir, 'generation_config.json'),
    JSON.stringify({
      eos_token_id: [7, 9],
      pad_token_id: 4,
      do_sample: true,
      temperature: 0.7,
      top_p: 0.8,
      top_k: 20,
      repetition_penalty: 1.05,
    }),
  );
  const r = await CausalLmRunner.create(await loadModelFolder(dir));
  assert.deepEqual(r.info.eosTokenIds, [7, 9]);
  assert.equal(r.info.padTokenId, 4);
  assert.deepEqual(r.defaults, {
    eosTokenIds: [7, 9],
    padTokenId: 4,
    doSample: true,
    temperature: 0.7,
    topP: 0.8,
    topK: 20,
    repetitionPenalty: 1.05,
  });
  // Without a generation config: config.json's EOS, and the pad falls back to the first EOS id.
  rmSync(join(dir, 'generation_config.json'));
  const bare = await CausalLmRunner.create(await loadModelFolder(dir));
  assert.deepEqual(bare.info.eosTokenIds, [2]);
  assert.equal(bare.info.padTokenId, 2);
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: 100000 }));
  await assert.rejects(CausalLmRunner.create(await loadModelFolder(dir)), /eos_token_id must be token ids from 0 to 319/);
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ top_p: 2 }));
  await assert.rejects(CausalLmRunner.create(await loadModelFolder(dir)), /top_p must be a number in \(0, 1\]/);
});

test('a sharded checkpoint: the index names files beside it only, and every tensor it lists must be in its file', async () => {
  const src = join(DECODER, 'qwen2-hd64');
  const load = async (edit: (index: { weight_map: Record<string, string> }) => void) => {
    const dir = tempDir();
    for (const f of readdirSync(src)) copyFileSync(join(src, f), join(dir, f));
    const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
    edit(index);
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
    return (await loadModelFolder(dir)).loadWeights();
  };
  assert.equal((await load(() => {})).size, 26);
  await assert.rejects(
    load((i) => (i.weight_map['model.norm.weight'] = '../model-00001-of-00011.safetensors')),
    /is not the name of a safetensors file beside the index/,
  );
  await assert.rejects(
    load((i) => (i.weight_map['model.norm.weight'] = 'model-00001-of-00011.safetensors')),
    /lists model\.norm\.weight in model-00001-of-00011\.safetensors, which does not have it/,
  );
});

test('the prompt cache: a prompt asked again or extended runs only its new tokens, with the greedy tokens and logits of a fresh run', async () => {
  const g = JSON.parse(readFileSync(join(DECODER, 'qwen2-tiny', 'goldens.json'), 'utf8'));
  const folder = await loadModelFolder(join(DECODER, 'qwen2-tiny'));
  const cached = await CausalLmRunner.create(folder, { prefixCache: true });
  const fresh = await CausalLmRunner.create(folder);
  const vocab = cached.info.vocabSize;
  const prompt = Array.from({ length: 40 }, (_, i) => (i * 37 + 11) % vocab);
  const one = (ids: number[]) => ({ ids: [ids], mask: [ids.map(() => 1)] });
  const a = await cached.greedy(one(prompt), { maxNewTokens: 8 });
  assert.equal(cached.reused, 0, 'nothing to reuse the first time');
  const b = await cached.greedy(one(prompt), { maxNewTokens: 8 });
  assert.equal(cached.reused, 40, 'the same prompt again: all of it from the cache');
  assert.deepEqual(b.sequences, a.sequences);
  // A longer prompt with the same start, and one that differs after 30 tokens: the shared start is reused.
  for (const [ids, shared] of [
    [[...prompt, 5, 6, 7, 8], 40],
    [[...prompt.slice(0, 30), 9, 9, 9], 30],
    [prompt.slice(0, 20), 19],
  ] as Array<[number[], number]>) {
    const c = await cached.sample({ ids: [ids], mask: [ids.map(() => 1)] }, { maxNewTokens: 6, seed: 3, numReturnSequences: 2 });
    assert.equal(cached.reused, shared);
    const f = await fresh.sample({ ids: [ids], mask: [ids.map(() => 1)] }, { maxNewTokens: 6, seed: 3, numReturnSequences: 2 });
    assert.deepEqual(c.sequences, f.sequences);
    assert.ok(scaledError(c.stepLogits[0]!, Array.from(f.stepLogits[0]!)) < 1e-5);
  }
  // Batches of several rows or with padding never touch the cache.
  await cached.greedy({ ids: rows(g.input_ids), mask: rows(g.attention_mask) }, { maxNewTokens: 2 });
  assert.equal(cached.reused, 0);
});
