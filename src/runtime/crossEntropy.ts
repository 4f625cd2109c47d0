// The loss inspect and the decoder-only runtime report: token cross-entropy as PyTorch's CrossEntropyLoss computes it.

/** Mean cross-entropy over labels != -100, in float64 (0 when every label is ignored). `logits` [rows x tokens, V]. */
export function meanCrossEntropy(logits: Float32Array, labels: readonly (readonly number[])[], V: number): number {
  let total = 0;
  let n = 0;
  labels.flat().forEach((lab, i) => {
    if (lab === -100) return;
    const row = logits.subarray(i * V, i * V + V);
    let m = -Infinity;
    for (const v of row) m = Math.max(m, v);
    let s = 0;
    for (const v of row) s += Math.exp(v - m);
    total += m + Math.log(s) - row[lab]!;
    n++;
  });
  return n ? total / n : 0;
}
