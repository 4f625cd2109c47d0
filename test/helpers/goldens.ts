import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { join, resolve } from 'node:path';

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { removeAtExit } from '../../src/util/cleanup.js';

// Model graphs built by the tests go to a fresh folder, not the user's cache, removed when the test file's
// process ends (the commands a test runs inherit the variable and share the folder).
if (!process.env.CHANGELING_GRAPH_CACHE) {
  process.env.CHANGELING_GRAPH_CACHE = mkdtempSync(join(tmpdir(), 'changeling-graphs-'));
  removeAtExit(process.env.CHANGELING_GRAPH_CACHE);
}

/** The Hugging Face reference goldens (copied from the project's shared goldens into test/fixtures). */
export const GOLDENS = process.env.CHANGELING_GOLDENS ?? resolve('test/fixtures/goldens');

export interface GoldenTensor {
  dtype: string;
  shape: number[];
  data: number[];
}

export function readGoldens(folder: string): Record<string, any> {
  return JSON.parse(readFileSync(join(GOLDENS, folder, 'goldens.json'), 'utf8'));
}

/** Largest |a - b| / max(1, |b|) over all elements (the goldens' "relative" tolerance). */
export function maxRelError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs ${expected.length}`);
  let m = 0;
  for (let i = 0; i < actual.length; i++) m = Math.max(m, Math.abs(actual[i]! - expected[i]!) / Math.max(1, Math.abs(expected[i]!)));
  return m;
}

/** max|a - b| / max|b|: for gradients, whose scale varies by orders of magnitude between tensors. */
export function scaledError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs ${expected.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < actual.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return diff / Math.max(scale, 1e-30);
}

/** A golden integer tensor (token ids, masks, labels) as an onnxruntime int64 tensor. */
export function goldenInt64(t: { shape: number[]; data: number[] }): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(t.data.map(BigInt)), t.shape);
}
