import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gradCheck, type GradCase } from '../../helpers/gradCheck.js';
import { SPARSE_VJP, VJP } from '../../../src/graph/grad.js';

/** Every VJP rule, against central finite differences, across broadcasting shapes. */
const CASES: Record<string, GradCase[]> = {
  Add: [
    { shapes: [[2, 3], [3]], build: (b, [x, y]) => b.add(x!, y!) },
    {
      shapes: [
        [2, 1, 4],
        [3, 1],
      ],
      build: (b, [x, y]) => b.add(x!, y!),
    },
  ],
  Sub: [
    {
      shapes: [
        [2, 3],
        [2, 1],
      ],
      build: (b, [x, y]) => b.sub(x!, y!),
    },
  ],
  Mul: [
    { shapes: [[2, 3, 4], [4]], build: (b, [x, y]) => b.mul(x!, y!) },
    { shapes: [[3], [2, 3]], build: (b, [x, y]) => b.mul(x!, y!) },
  ],
  Div: [
    {
      shapes: [
        [2, 3],
        [1, 3],
      ],
      positive: true,
      build: (b, [x, y]) => b.div(x!, y!),
    },
  ],
  Pow: [{ shapes: [[2, 3], [3]], positive: true, build: (b, [x, y]) => b.pow(x!, y!) }],
  Max: [{ shapes: [[2, 3], [3]], build: (b, [x, y]) => b.max(x!, y!) }],
  Min: [
    {
      shapes: [
        [2, 3],
        [2, 3],
      ],
      build: (b, [x, y]) => b.min(x!, y!),
    },
  ],
  Neg: [{ shapes: [[4]], build: (b, [x]) => b.neg(x!) }],
  Abs: [{ shapes: [[5]], build: (b, [x]) => b.abs(x!) }],
  Sqrt: [{ shapes: [[2, 3]], positive: true, build: (b, [x]) => b.sqrt(x!) }],
  Reciprocal: [{ shapes: [[2, 3]], positive: true, build: (b, [x]) => b.reciprocal(x!) }],
  Exp: [{ shapes: [[2, 3]], build: (b, [x]) => b.exp(x!) }],
  Log: [{ shapes: [[2, 3]], positive: true, build: (b, [x]) => b.log(x!) }],
  Tanh: [{ shapes: [[2, 3]], build: (b, [x]) => b.tanh(x!) }],
  Sigmoid: [{ shapes: [[2, 3]], build: (b, [x]) => b.sigmoid(x!) }],
  Relu: [{ shapes: [[2, 3]], build: (b, [x]) => b.relu(x!) }],
  Erf: [{ shapes: [[2, 3]], build: (b, [x]) => b.erf(x!) }],
  Gelu: [{ shapes: [[2, 3]], build: (b, [x]) => b.gelu(x!, 'erf') }],
  Softplus: [{ shapes: [[2, 3]], build: (b, [x]) => b.softplus(x!) }],
  Identity: [{ shapes: [[3]], build: (b, [x]) => b.identity(x!) }],
  Where: [{ shapes: [[2, 3], [3]], build: (b, [x, y]) => b.where(b.greater(x!, 0), x!, y!) }],
  Cast: [
    {
      shapes: [[2, 3]],
      dtype: 'float32',
      build: (b, [x]) => b.mul(b.cast(b.mul(b.cast(x!, 'float64'), b.constant(3, 'float64', [])), 'float32'), x!),
    },
  ],
  MatMul: [
    {
      shapes: [
        [2, 3],
        [3, 4],
      ],
      build: (b, [x, y]) => b.matmul(x!, y!),
    },
    {
      shapes: [
        [2, 2, 3],
        [3, 4],
      ],
      build: (b, [x, y]) => b.matmul(x!, y!),
    },
    {
      shapes: [
        [2, 1, 2, 3],
        [3, 3, 2],
      ],
      build: (b, [x, y]) => b.matmul(x!, y!),
    },
  ],
  LayerNormalization: [
    { shapes: [[2, 3, 4], [4], [4]], build: (b, [x, g, be]) => b.layerNorm(x!, g!, be!) },
    { shapes: [[3, 5], [5], [5]], build: (b, [x, g, be]) => b.layerNorm(x!, g!, be!, 1e-3) },
  ],
  Softmax: [
    { shapes: [[2, 4]], build: (b, [x]) => b.softmax(x!, -1) },
    { shapes: [[3, 2]], build: (b, [x]) => b.softmax(x!, 0) },
  ],
  LogSoftmax: [
    { shapes: [[2, 4]], build: (b, [x]) => b.logSoftmax(x!, -1) },
    // The gathered label's gradient reaches LogSoftmax sparse (SPARSE_VJP's rule).
    {
      shapes: [[2, 4]],
      ints: [{ shape: [2, 1], values: [3, 0] }],
      build: (b, [x, ids]) => b.gatherElements(b.logSoftmax(x!, -1), ids!, -1),
    },
  ],
  ReduceSum: [
    { shapes: [[2, 3, 2]], build: (b, [x]) => b.reduceSum(x!, [1], false) },
    { shapes: [[2, 3]], build: (b, [x]) => b.reduceSum(x!, [0, 1], true) },
  ],
  ReduceMean: [
    { shapes: [[2, 3, 2]], build: (b, [x]) => b.reduceMean(x!, [-1], true) },
    { shapes: [[2, 3]], build: (b, [x]) => b.reduceMean(x!, [0], false) },
  ],
  ReduceMax: [
    { shapes: [[2, 4]], build: (b, [x]) => b.reduceMax(x!, [1], false) },
    { shapes: [[3, 2]], build: (b, [x]) => b.reduceMax(x!, [0], true) },
  ],
  Reshape: [{ shapes: [[2, 3, 2]], build: (b, [x]) => b.reshape(x!, [0, -1]) }],
  Transpose: [{ shapes: [[2, 3, 4]], build: (b, [x]) => b.transpose(x!, [2, 0, 1]) }],
  Concat: [
    {
      shapes: [
        [2, 3],
        [2, 1],
      ],
      build: (b, [x, y]) => b.concat([x!, y!, x!], 1),
    },
  ],
  Slice: [{ shapes: [[3, 5]], build: (b, [x]) => b.slice(x!, [1, -3], [3, Infinity], [0, 1]) }],
  Gather: [{ shapes: [[5, 3]], ints: [{ shape: [2, 3], values: [0, 4, 4, 1, 0, 2] }], build: (b, [w, ids]) => b.gather(w!, ids!, 0) }],
  GatherElements: [
    {
      shapes: [[2, 3, 4]],
      ints: [{ shape: [2, 3, 1], values: [0, 3, 3, 1, 2, 0] }],
      build: (b, [x, ids]) => b.gatherElements(x!, ids!, -1),
    },
  ],
  Expand: [{ shapes: [[3, 1]], build: (b, [x]) => b.expand(x!, [2, 3, 4]) }],
  Unsqueeze: [{ shapes: [[2, 3]], build: (b, [x]) => b.unsqueeze(x!, [0, 2]) }],
  Squeeze: [{ shapes: [[2, 1, 3]], build: (b, [x]) => b.squeeze(x!, [1]) }],
};

for (const [op, cases] of Object.entries(CASES)) {
  test(`VJP ${op} matches finite differences`, async (t) => {
    const used = [];
    for (const c of cases) used.push(await gradCheck(c));
    t.diagnostic(`checked in ${used.join(', ')}`);
  });
}

test('every VJP rule has a finite-difference case', () => {
  assert.deepEqual(
    [...Object.keys(VJP), ...Object.keys(SPARSE_VJP)].filter((op) => !(op in CASES)),
    [],
  );
});

test('composites: layer norm, RMS norm, GELU (tanh), cross-entropy, BCE with logits, dropout', async () => {
  await gradCheck({ shapes: [[2, 3, 4], [4], [4]], build: (b, [x, g, be]) => b.layerNorm(x!, g!, be!) });
  await gradCheck({ shapes: [[2, 4], [4]], build: (b, [x, w]) => b.rmsNorm(x!, w!) });
  await gradCheck({ shapes: [[2, 3]], build: (b, [x]) => b.gelu(x!, 'tanh') });
  await gradCheck({
    shapes: [[2, 3, 5]],
    ints: [{ shape: [2, 3], values: [1, -100, 4, 0, 2, -100] }],
    build: (b, [x, lab]) => b.crossEntropy(x!, lab!, { ignoreIndex: -100, labelSmoothing: 0.1 }),
  });
  await gradCheck({ shapes: [[6], [6]], build: (b, [x, y]) => b.bceWithLogits(x!, b.sigmoid(y!)) });
  await gradCheck({ shapes: [[4, 8]], ints: [{ shape: [], values: [3] }], build: (b, [x, seed]) => b.dropout(x!, 0.5, seed!) });
});
