import type { Tensor as OrtTensor } from 'onnxruntime-node';
import { ChangelingError } from '../util/errors.js';
import { gatherRows } from './gatherRows.js';

/**
 * The key/value cache of a fused decoder graph (models/llamaFused.ts): per layer a key and a value buffer, [rows,
 * kvHeads, capacity, headDim], that onnxruntime's GroupQueryAttention reads and the runner appends each run's new keys
 * and values to. Row r's tokens fill slots 0 to
 * lengths[r] - 1; the slots after them are free. A buffer too small for the next run is copied into one twice as large
 * (or as large as needed), so a long answer costs a few copies, not one a token.
 */
export interface KvBuffers {
  /** `past.<layer>.key` / `past.<layer>.value` -> buffer. */
  tensors: Record<string, OrtTensor>;
  capacity: number;
  /** Tokens in the cache, per row. */
  lengths: number[];
}

export interface KvShape {
  layers: number;
  kvHeads: number;
  headDim: number;
  /** The most slots a buffer may have (the graph's rotary tables). */
  maxPositions: number;
}

const names = (s: KvShape) => Array.from({ length: s.layers }, (_, i) => [`past.${i}.key`, `past.${i}.value`]).flat();

/** Spare slots a new cache gets beyond its prompt: a commit message's answer, usually without growing. */
export const ANSWER_ROOM = 96;

/** Empty buffers for `rows` rows with room for `capacity` tokens. */
export function emptyKv(rt: typeof import('onnxruntime-node'), s: KvShape, rows: number, capacity: number): KvBuffers {
  const cap = checkedCapacity(s, capacity);
  const tensors: Record<string, OrtTensor> = {};
  for (const n of names(s))
    tensors[n] = new rt.Tensor('float32', new Float32Array(rows * s.kvHeads * cap * s.headDim), [rows, s.kvHeads, cap, s.headDim]);
  return { tensors, capacity: cap, lengths: new Array<number>(rows).fill(0) };
}

function checkedCapacity(s: KvShape, need: number): number {
  if (need > s.maxPositions)
    throw new ChangelingError(
      'usage',
      `the prompt and its answer need ${need} positions; the fused attention holds ${s.maxPositions} (use a shorter prompt)`,
    );
  return need;
}

/**
 * The first `keep` slots of every row copied into new buffers of `capacity` slots (the other slots free): a cache
 * grown, or a prompt cache cut to the start a new prompt shares with it.
 */
export function resizeKv(rt: typeof import('onnxruntime-node'), s: KvShape, kv: KvBuffers, keep: number, capacity: number): KvBuffers {
  const cap = checkedCapacity(s, capacity);
  const rows = kv.lengths.length;
  const D = s.headDim;
  const tensors: Record<string, OrtTensor> = {};
  for (const n of names(s)) {
    const src = kv.tensors[n]!.data as Float32Array;
    const dst = new Float32Array(rows * s.kvHeads * cap * D);
    for (let h = 0; h < rows * s.kvHeads; h++) dst.set(src.subarray(h * kv.capacity * D, h * kv.capacity * D + keep * D), h * cap * D);
    tensors[n] = new rt.Tensor('float32', dst, [rows, s.kvHeads, cap, D]);
  }
  return { tensors, capacity: cap, lengths: kv.lengths.map((l) => Math.min(l, keep)) };
}

/** Buffers with room for `need` tokens in every row: these, or a copy at least twice as large. */
export function roomFor(rt: typeof import('onnxruntime-node'), s: KvShape, kv: KvBuffers, need: number): KvBuffers {
  if (need <= kv.capacity) return kv;
  checkedCapacity(s, need);
  const grown = Math.min(s.maxPositions, Math.max(need, 2 * kv.capacity));
  return resizeKv(rt, s, kv, Math.max(...kv.lengths), grown);
}

/** The rows of a cache in a new order (beam search): a copy unless every row keeps its place. */
export function reorderKv(rt: typeof import('onnxruntime-node'), kv: KvBuffers, rows: number[]): KvBuffers {
  const tensors: Record<string, OrtTensor> = {};
  for (const [n, t] of Object.entries(kv.tensors)) tensors[n] = gatherRows(rt, t, rows);
  return { tensors, capacity: kv.capacity, lengths: rows.map((r) => kv.lengths[r]!) };
}
