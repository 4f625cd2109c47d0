import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { TrainSession } from '../../../src/train/trainSession.js';
import { trainLoop, type TrainEvent } from '../../../src/train/trainLoop.js';
import { epochBatches, padBatch, seededRandom } from '../../../src/train/batching.js';
import { ChangelingError } from '../../../src/util/errors.js';
import { tempDir } from '../../helpers/gitRepo.js';

type Item = { x: number[]; y: number };
const rand = seededRandom(5);
const DATA: Item[] = Array.from({ length: 64 }, () => {
  const x = [rand(), rand(), rand()];
  return { x, y: 2 * x[0]! - x[1]! + 0.5 * x[2]! };
});

async function regression() {
  const b = new GraphBuilder('reg');
  const x = b.input('x', 'float32', ['B', 3]);
  const y = b.input('y', 'float32', ['B', 1]);
  const w = b.input('w', 'float32', [3, 1]);
  const d = b.sub(b.matmul(x, w), y);
  const loss = b.reduceMean(b.reshape(b.mul(d, d), [-1]), [0], false);
  return TrainSession.create(b, loss, [{ tensor: w, init: new Float32Array(3), decay: false }], { lr: 0.05 });
}
const feeds = (batch: Item[]) => ({
  x: new ort.Tensor('float32', Float32Array.from(batch.flatMap((i) => i.x)), [batch.length, 3]),
  y: new ort.Tensor('float32', Float32Array.from(batch.map((i) => i.y)), [batch.length, 1]),
});

test('training is deterministic for a seed and learns', async () => {
  const runs = [];
  for (let k = 0; k < 2; k++) {
    const s = await regression();
    const r = await trainLoop({ session: s, train: DATA, batchSize: 8, epochs: 20, seed: 3, toFeeds: feeds });
    runs.push(Array.from(s.value('w')));
    assert.ok(r.lastLoss < 1e-3, `loss ${r.lastLoss}`);
    assert.equal(r.steps, 160);
  }
  assert.deepEqual(runs[0], runs[1]);
  const w = runs[0]!;
  assert.ok(Math.abs(w[0]! - 2) < 0.05 && Math.abs(w[1]! + 1) < 0.05 && Math.abs(w[2]! - 0.5) < 0.05, `w = ${w}`);
});

test('a run stopped at a checkpoint resumes to exactly the uninterrupted result', async () => {
  const straight = await regression();
  await trainLoop({ session: straight, train: DATA, batchSize: 8, maxSteps: 20, seed: 9, toFeeds: feeds });
  const ckpt = join(tempDir(), 'run.safetensors');
  const first = await regression();
  await trainLoop({
    session: first,
    train: DATA,
    batchSize: 8,
    maxSteps: 12,
    seed: 9,
    toFeeds: feeds,
    checkpoint: ckpt,
    checkpointEvery: 4,
  });
  assert.ok(existsSync(ckpt));
  const events: TrainEvent[] = [];
  const resumed = await regression();
  await trainLoop({
    session: resumed,
    train: DATA,
    batchSize: 8,
    maxSteps: 20,
    seed: 9,
    toFeeds: feeds,
    checkpoint: ckpt,
    onEvent: (e) => events.push(e),
  });
  assert.deepEqual(events[0], { kind: 'resumed', step: 12, epoch: 1 });
  assert.deepEqual(Array.from(resumed.value('w')), Array.from(straight.value('w')));
  assert.deepEqual(Array.from(resumed.value('adam.v.w')), Array.from(straight.value('adam.v.w')));
});

test('cancellation stops the loop with a clear error and keeps the last checkpoint', async () => {
  const ckpt = join(tempDir(), 'c.safetensors');
  const s = await regression();
  const ac = new AbortController();
  await assert.rejects(
    trainLoop({
      session: s,
      train: DATA,
      batchSize: 8,
      epochs: 50,
      seed: 1,
      toFeeds: feeds,
      checkpoint: ckpt,
      checkpointEvery: 2,
      signal: ac.signal,
      onEvent: (e) => e.kind === 'step' && e.step === 5 && ac.abort(),
    }),
    (e: ChangelingError) => e.code === 'cancelled',
  );
  const again = await regression();
  const meta = await again.load(ckpt);
  assert.equal(again.updates, 4);
  assert.equal(meta.batch, '4');
});

test('early stopping after `patience` evaluations without improvement keeps the best parameters', async () => {
  const s = await regression();
  const metrics = [0.5, 0.7, 0.6, 0.65, 0.4, 0.9];
  let k = 0;
  let bestW: number[] = [];
  const r = await trainLoop({
    session: s,
    train: DATA,
    batchSize: 8,
    epochs: 100,
    seed: 2,
    toFeeds: feeds,
    evalEvery: 3,
    patience: 3,
    evaluate: async () => {
      const m = metrics[k++]!;
      if (m === 0.7) bestW = Array.from(s.value('w'));
      return m;
    },
  });
  assert.equal(r.stoppedEarly, true);
  assert.equal(r.best, 0.7);
  assert.equal(r.steps, 15);
  assert.deepEqual(Array.from(r.bestParameters.w!), bestW);
});

test('length bucketing: every example once, batches of similar length; padding to the longest', () => {
  const items = Array.from({ length: 1000 }, (_, i) => ({ id: i, len: 1 + ((i * 37) % 100) }));
  const batches = epochBatches(items, 10, seededRandom(4), (t) => t.len);
  assert.equal(batches.length, 100);
  assert.deepEqual(
    batches
      .flat()
      .map((t) => t.id)
      .sort((a, b) => a - b),
    items.map((t) => t.id),
  );
  const spread = batches.map((b) => Math.max(...b.map((t) => t.len)) - Math.min(...b.map((t) => t.len)));
  assert.ok(spread.reduce((a, b) => a + b, 0) / spread.length < 5, 'batches mix lengths');
  const p = padBatch([[5, 6, 7], [8]], 0);
  assert.deepEqual(p.shape, [2, 3]);
  assert.deepEqual(Array.from(p.ids, Number), [5, 6, 7, 8, 0, 0]);
  assert.deepEqual(Array.from(p.mask, Number), [1, 1, 1, 1, 0, 0]);
});

test('a run stops at the first loss that is not a finite number, and says so', async () => {
  const s = await regression();
  // One example that overflows float32 (a corrupt row, or a run diverging): its batch's loss is not finite.
  const data = DATA.map((i, k) => (k === 40 ? { x: i.x, y: 1e30 } : i));
  const losses: number[] = [];
  await assert.rejects(
    trainLoop({
      session: s,
      train: data,
      batchSize: 8,
      epochs: 3,
      seed: 1,
      toFeeds: feeds,
      onEvent: (e) => void (e.kind === 'step' && losses.push(e.loss)),
    }),
    (err: unknown) =>
      err instanceof ChangelingError &&
      /^training diverged: the loss at step \d+ is (NaN|Infinity); stopped there, nothing was saved/.test(err.message),
  );
  assert.ok(losses.length < 8, 'stopped within the first epoch');
  assert.ok(losses.every(Number.isFinite), 'no step with a non-finite loss was reported');
});
