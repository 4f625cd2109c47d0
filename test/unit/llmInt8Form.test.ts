import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LLM_INT8_BLOCKS, llmInt8Block, probeBlocks } from '../../src/runtime/llmInt8Form.js';
import { precisionPlan } from '../../src/runtime/precision.js';
import { tempDir } from '../helpers/gitRepo.js';

test("the code LLM's int8 block is measured once per machine and shape, stored, and can be fixed", async () => {
  const cache = tempDir();
  const before = process.env.CHANGELING_GRAPH_CACHE;
  process.env.CHANGELING_GRAPH_CACHE = cache;
  try {
    const timings = await probeBlocks({ k: 128, n: 256 }, 1);
    assert.deepEqual(
      timings.map((t) => t.block),
      [...LLM_INT8_BLOCKS],
    );
    for (const t of timings) assert.ok(t.chunkMs > 0 && t.tokenMs > 0 && t.score === 4 * t.chunkMs + 60 * t.tokenMs);
    const block = await llmInt8Block({ k: 128, n: 320 });
    assert.ok((LLM_INT8_BLOCKS as readonly number[]).includes(block));
    const files = readdirSync(join(cache, 'machine'));
    assert.equal(files.length, 1);
    const stored = JSON.parse(readFileSync(join(cache, 'machine', files[0]!), 'utf8'));
    assert.equal(stored.block, block, 'the measured block is stored with its timings');
    assert.equal(stored.timings.length, LLM_INT8_BLOCKS.length);
    // The plan names the block in the graph cache key (32, the first form, keeps the plain key).
    const plan = await precisionPlan('int8', 'llama', 'cpu', { shape: { k: 128, n: 320 } });
    assert.equal(plan.key, block === 32 ? 'int8-' : `int8-b${block}-`);
    assert.deepEqual(plan.int8Form, { kind: 'nbits', bits: 8, block, accuracy: 4 });
    // fp32 and other providers never probe.
    assert.equal((await precisionPlan('auto', 'llama', 'webgpu', { shape: { k: 128, n: 384 } })).key, '');
    assert.equal(readdirSync(join(cache, 'machine')).length, 1);
    process.env.CHANGELING_LLM_INT8_BLOCK = '64';
    assert.equal((await precisionPlan('int8', 'llama', 'cpu', { shape: { k: 128, n: 512 } })).key, 'int8-b64-');
    process.env.CHANGELING_LLM_INT8_BLOCK = '48';
    await assert.rejects(llmInt8Block({ k: 128, n: 512 }), /CHANGELING_LLM_INT8_BLOCK must be one of 32, 64, 128, not "48"/);
  } finally {
    delete process.env.CHANGELING_LLM_INT8_BLOCK;
    if (before === undefined) delete process.env.CHANGELING_GRAPH_CACHE;
    else process.env.CHANGELING_GRAPH_CACHE = before;
  }
});
