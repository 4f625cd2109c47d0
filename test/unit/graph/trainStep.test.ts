import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { gradients } from '../../../src/graph/grad.js';
import { TrainSession } from '../../../src/train/trainSession.js';
import { stateNames } from '../../../src/graph/trainStep.js';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string) => {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++)
    assert.ok(Math.abs(a[i]! - b[i]!) <= tol * Math.max(1, Math.abs(b[i]!)), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
};

/** loss = 0.5 * sum((p - x)^2) * scale: gradient p - x, times scale. */
function quadratic(n: number, scale: number) {
  const b = new GraphBuilder('quad');
  const p = b.input('p', 'float32', [n]);
  const x = b.input('x', 'float32', [n]);
  const d = b.sub(p, x);
  const loss = b.mul(b.sumAll(b.mul(d, d)), 0.5 * scale);
  return { b, p, loss };
}

test("AdamW with weight decay, clipping and a linear schedule matches PyTorch's update rule over 5 steps", async () => {
  const n = 4;
  const init = Float32Array.from([0.5, -1.5, 2.0, 0.1]);
  const target = Float32Array.from([1, 1, -1, 0]);
  const scale = 3; // large gradients, so clipping acts
  const o = {
    lr: 0.1,
    beta1: 0.9,
    beta2: 0.99,
    eps: 1e-8,
    weightDecay: 0.05,
    clipNorm: 1.0,
    schedule: { kind: 'linear' as const, warmup: 2, total: 10 },
  };
  const { b, p, loss } = quadratic(n, scale);
  const s = await TrainSession.create(b, loss, [{ tensor: p, init, decay: true }], o);
  // The reference, in float64: torch.optim.AdamW + clip_grad_norm_ + get_linear_schedule_with_warmup.
  const P = Array.from(init);
  const M = new Array(n).fill(0);
  const V = new Array(n).fill(0);
  for (let t = 1; t <= 5; t++) {
    const r = await s.step({ x: new ort.Tensor('float32', target, [n]) });
    const g = P.map((v, i) => (v - target[i]!) * scale);
    const refLoss = 0.5 * scale * g.reduce((a, v) => a + (v / scale) ** 2, 0);
    const norm = Math.sqrt(g.reduce((a, v) => a + v * v, 0));
    const coef = Math.min(1, 1.0 / (norm + 1e-6));
    const lr = o.lr * (t - 1 < 2 ? (t - 1) / 2 : Math.max(0, (10 - (t - 1)) / 8));
    for (let i = 0; i < n; i++) {
      const gi = g[i]! * coef;
      P[i] = P[i]! * (1 - lr * o.weightDecay);
      M[i] = 0.9 * M[i]! + 0.1 * gi;
      V[i] = 0.99 * V[i]! + 0.01 * gi * gi;
      P[i] = P[i]! - (lr * (M[i]! / (1 - 0.9 ** t))) / (Math.sqrt(V[i]! / (1 - 0.99 ** t)) + 1e-8);
    }
    assert.ok(Math.abs(r.loss - refLoss) < 1e-5 * Math.max(1, refLoss), `loss at step ${t}`);
    assert.ok(Math.abs(r.gradNorm - norm) < 1e-5 * norm, `grad norm at step ${t}`);
    assert.ok(Math.abs(r.lr - lr) < 1e-7, `lr at step ${t}: ${r.lr} vs ${lr}`);
    close(s.value('p'), P, 1e-5, `p after step ${t}`);
    close(s.value(stateNames('p').m), M, 1e-5, `m after step ${t}`);
    close(s.value(stateNames('p').v), V, 1e-5, `v after step ${t}`);
  }
  assert.equal(s.updates, 5);
});

test('gradient accumulation: two micro-batches make the update of their mean', async () => {
  const n = 3;
  const init = Float32Array.from([1, 2, 3]);
  const x1 = Float32Array.from([0, 0, 0]);
  const x2 = Float32Array.from([2, -2, 4]);
  const o = { lr: 0.05, weightDecay: 0 };
  const a = quadratic(n, 1);
  const acc = await TrainSession.create(a.b, a.loss, [{ tensor: a.p, init, decay: false }], { ...o, accumulate: 2 });
  const r1 = await acc.step({ x: new ort.Tensor('float32', x1, [n]) });
  assert.equal(r1.applied, false);
  close(acc.value('p'), init, 0, 'unchanged after the first micro-batch');
  const r2 = await acc.step({ x: new ort.Tensor('float32', x2, [n]) });
  assert.equal(r2.applied, true);
  const c = quadratic(n, 1);
  const one = await TrainSession.create(c.b, c.loss, [{ tensor: c.p, init, decay: false }], o);
  await one.step({ x: new ort.Tensor('float32', Float32Array.from([1, -1, 2]), [n]) });
  close(acc.value('p'), one.value('p'), 1e-6, 'accumulated vs mean batch');
  close(acc.value(stateNames('p').acc), [0, 0, 0], 0, 'accumulator reset');
});

/** A 2-layer MLP: y = relu(x W1 + b1) W2, loss = mean((y - t)^2). */
function mlp(trainW1: boolean) {
  const b = new GraphBuilder('mlp');
  const x = b.input('x', 'float32', [2, 3]);
  const t = b.input('t', 'float32', [2, 1]);
  const w1Data = Float32Array.from([0.1, -0.2, 0.3, 0.4, 0.5, -0.6, 0.7, -0.8, 0.9, 0.2, 0.1, -0.3]);
  const w1 = trainW1 ? b.input('w1', 'float32', [3, 4]) : b.initializer('w1', 'float32', [3, 4], w1Data);
  const b1 = b.input('b1', 'float32', [4]);
  const w2 = b.input('w2', 'float32', [4, 1]);
  const h = b.relu(b.add(b.matmul(x, w1), b1));
  const y = b.matmul(h, w2);
  const d = b.sub(y, t);
  const loss = b.div(b.sumAll(b.mul(d, d)), 2);
  return { b, x, t, w1, b1, w2, loss, w1Data };
}

test('a whole train step on a small MLP matches hand-computed loss and gradients', async () => {
  const m = mlp(true);
  const X = [
    [1, 2, -1],
    [0.5, -1, 2],
  ];
  const Tg = [[1], [-1]];
  const b1 = [0.1, -0.1, 0.2, 0];
  const w2 = [0.3, -0.5, 0.8, 0.2];
  const W1 = (i: number, j: number) => m.w1Data[i * 4 + j]!;
  // Forward and backward by hand.
  const pre = X.map((r) => b1.map((bj, j) => bj + r.reduce((s, xv, i) => s + xv * W1(i, j), 0)));
  const h = pre.map((r) => r.map((v) => Math.max(0, v)));
  const y = h.map((r) => r.reduce((s, v, j) => s + v * w2[j]!, 0));
  const dy = y.map((v, i) => (2 * (v - Tg[i]![0]!)) / 2);
  const loss = y.reduce((s, v, i) => s + (v - Tg[i]![0]!) ** 2, 0) / 2;
  const gW2 = w2.map((_, j) => h.reduce((s, r, i) => s + r[j]! * dy[i]!, 0));
  const dpre = pre.map((r, i) => r.map((v, j) => (v > 0 ? dy[i]! * w2[j]! : 0)));
  const gB1 = b1.map((_, j) => dpre.reduce((s, r) => s + r[j]!, 0));
  const gW1 = Array.from({ length: 12 }, (_, k) => dpre.reduce((s, r, n) => s + X[n]![Math.floor(k / 4)]! * r[k % 4]!, 0));
  const s = await TrainSession.create(
    m.b,
    m.loss,
    [
      { tensor: m.w1, init: m.w1Data, decay: true },
      { tensor: m.b1, init: Float32Array.from(b1), decay: false },
      { tensor: m.w2, init: Float32Array.from(w2), decay: true },
    ],
    { lr: 0.01, beta1: 0.9, beta2: 0.999 },
  );
  const r = await s.step({
    x: new ort.Tensor('float32', Float32Array.from(X.flat()), [2, 3]),
    t: new ort.Tensor('float32', Float32Array.from(Tg.flat()), [2, 1]),
  });
  assert.ok(Math.abs(r.loss - loss) < 1e-6, `loss ${r.loss} vs ${loss}`);
  // After one step, Adam's first moment is (1 - beta1) * gradient: the gradients, read back exactly.
  close(
    Array.from(s.value('adam.m.w2'), (v) => v / 0.1),
    gW2,
    1e-5,
    'dW2',
  );
  close(
    Array.from(s.value('adam.m.b1'), (v) => v / 0.1),
    gB1,
    1e-5,
    'db1',
  );
  close(
    Array.from(s.value('adam.m.w1'), (v) => v / 0.1),
    gW1,
    1e-5,
    'dW1',
  );
  const norm = Math.sqrt([...gW1, ...gB1, ...gW2].reduce((a, v) => a + v * v, 0));
  assert.ok(Math.abs(r.gradNorm - norm) < 1e-5, 'grad norm');
});

test('a frozen weight costs no weight-gradient MatMul', () => {
  const count = (trainW1: boolean) => {
    const m = mlp(trainW1);
    const before = m.b.nodes.length;
    gradients(m.b, m.loss, trainW1 ? [m.w1, m.b1, m.w2] : [m.w2]);
    return m.b.nodes.slice(before).filter((n) => n.op === 'MatMul').length;
  };
  assert.equal(count(false), 1); // dW2 only: nothing flows back into the frozen first layer
  assert.equal(count(true), 3); // dW2, dh, dW1
});
