import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadModelFolder } from '../../../src/models/modelFolder.js';
import { CausalLmRunner } from '../../../src/runtime/causalLm.js';
import { logitAgreement } from '../../../src/runtime/logitAgreement.js';
import { LLM_INT8_GATE, resolvePrecision } from '../../../src/runtime/precision.js';
import { LLM_INT8_BLOCKS } from '../../../src/runtime/llmInt8Form.js';
import { architecture } from '../../../src/models/architectures.js';
import '../../helpers/goldens.js';

/**
 * The code LLM's int8 quality gate, on a tiny Qwen2 trained here (test/fixtures/decoder/make_trained_qwen2.py; random
 * weights give nearly flat distributions that prove nothing): on held-out text (this repository's unit tests, which
 * it never saw), the int8 graph's next-token distributions against fp32's: the same most likely token at
 * LLM_INT8_GATE.top1 of the positions or more, and a mean KL divergence of LLM_INT8_GATE.kl nats or less. `auto`
 * precision runs the Llama family in int8 on the CPU only if this holds (architectures.ts records the verdict).
 */
const DIR = resolve('test/fixtures/decoder/qwen2-trained');

test("the code LLM's int8 against fp32 on held-out text, and auto precision as that gate says", async () => {
  const held = JSON.parse(readFileSync(join(DIR, 'heldout.json'), 'utf8')) as { rows: number[][]; loss_before: number; loss_after: number };
  assert.ok(held.loss_after < held.loss_before - 2, 'the fixture is a trained model');
  const model = await loadModelFolder(DIR);
  const [fp32, int8, int4] = await Promise.all(
    (['fp32', 'int8', 'int4'] as const).map((precision) => CausalLmRunner.create(model, { precision })),
  );
  assert.equal(int8!.precision, 'int8');
  const vocab = fp32!.info.vocabSize;
  const batch = { ids: held.rows, mask: held.rows.map((r) => r.map(() => 1)) };
  const a = (await fp32!.forward(batch)).data as Float32Array;
  const g = logitAgreement(a, (await int8!.forward(batch)).data as Float32Array, vocab);
  const g4 = logitAgreement(a, (await int4!.forward(batch)).data as Float32Array, vocab);
  assert.equal(g.positions, held.rows.length * held.rows[0]!.length);
  // The measure is not blind: another model's distributions (fp32's a position later) are far from fp32's.
  const shifted = logitAgreement(a.subarray(vocab), a.subarray(0, a.length - vocab), vocab);
  assert.ok(shifted.top1 < 0.2 && shifted.kl > 1, JSON.stringify(shifted));
  // int8 is close (the figures of architectures.ts); int4 further (auto never picks it), but a working model.
  assert.ok(g.top1 > 0.9 && g.kl < 0.01, JSON.stringify(g));
  assert.ok(g4.top1 > 0.8 && g4.top1 < g.top1 && g4.kl > g.kl, JSON.stringify(g4));
  // Every int8 block size `auto` may pick by speed on a machine (runtime/llmInt8Form.ts) holds the gate too.
  for (const block of LLM_INT8_BLOCKS) {
    process.env.CHANGELING_LLM_INT8_BLOCK = String(block);
    try {
      const r = await CausalLmRunner.create(model, { precision: 'int8' });
      const gb = logitAgreement(a, (await r.forward(batch)).data as Float32Array, vocab);
      assert.ok(gb.top1 >= LLM_INT8_GATE.top1 && gb.kl <= LLM_INT8_GATE.kl, `int8 in blocks of ${block}: ${JSON.stringify(gb)}`);
    } finally {
      delete process.env.CHANGELING_LLM_INT8_BLOCK;
    }
  }
  // ... and what `auto` does is what the gate says: the architecture's record agrees with the measurement.
  const passes = g.top1 >= LLM_INT8_GATE.top1 && g.kl <= LLM_INT8_GATE.kl;
  assert.equal(architecture('llama').int8Gate, passes, `the gate says ${passes} (${JSON.stringify(g)}): update architectures.ts`);
  assert.equal(resolvePrecision('auto', 'llama', 'cpu'), passes ? 'int8' : 'fp32');
  assert.equal(resolvePrecision('auto', 'llama', 'webgpu'), 'fp32');
});
