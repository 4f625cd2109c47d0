/** Seeded randomness, batching with length bucketing, and padding. */

/** mulberry32: a small, fast, seedable generator in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(xs: T[], rand: () => number): T[] {
  const a = xs.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/**
 * One epoch's batches: shuffled; with `lengthOf`, examples of similar length are batched together
 * (sorted within pools of 50 batches) so padding is small, and the batch order is shuffled again.
 */
export function epochBatches<T>(items: readonly T[], size: number, rand: () => number, lengthOf?: (t: T) => number): T[][] {
  let order = shuffle(items as T[], rand);
  if (lengthOf) {
    const pool = size * 50;
    const sorted: T[] = [];
    for (let i = 0; i < order.length; i += pool) sorted.push(...order.slice(i, i + pool).sort((p, q) => lengthOf(p) - lengthOf(q)));
    order = sorted;
  }
  const out: T[][] = [];
  for (let i = 0; i < order.length; i += size) out.push(order.slice(i, i + size));
  return lengthOf ? shuffle(out, rand) : out;
}

/** Pads token sequences to the longest in the batch: ids [B, L] (int64) and a 0/1 mask. */
export function padBatch(
  seqs: readonly number[][],
  pad: number,
  fixedLength?: number,
): { ids: BigInt64Array; mask: BigInt64Array; shape: [number, number] } {
  const L = fixedLength ?? Math.max(1, ...seqs.map((s) => s.length));
  const ids = new BigInt64Array(seqs.length * L).fill(BigInt(pad));
  const mask = new BigInt64Array(seqs.length * L);
  seqs.forEach((s, i) => {
    for (let j = 0; j < Math.min(L, s.length); j++) {
      ids[i * L + j] = BigInt(s[j]!);
      mask[i * L + j] = 1n;
    }
  });
  return { ids, mask, shape: [seqs.length, L] };
}
