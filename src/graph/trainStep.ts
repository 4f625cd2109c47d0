import type { GraphBuilder } from './builder.js';
import { gradients } from './grad.js';
import { GraphError, type Tensor } from './ir.js';

/**
 * The train-step graph: forward, backward (grad.ts) and AdamW with bias correction, decoupled weight decay,
 * global-norm clipping and the learning-rate schedule, as one ONNX graph.
 */

export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay (PyTorch AdamW), applied to parameters with `decay: true`. */
  weightDecay?: number;
  /** Global gradient-norm clipping (PyTorch clip_grad_norm_); null for none. */
  clipNorm?: number | null;
  /** Learning-rate schedule over optimizer updates, as Hugging Face's get_linear_schedule_with_warmup. */
  schedule?: { kind: 'constant' } | { kind: 'linear'; warmup: number; total: number };
  /** Micro-batches per update (gradient accumulation); 1 for none. */
  accumulate?: number;
  /** Recompute attention probabilities in the backward instead of keeping them (gradients' option). */
  recomputeAttention?: boolean;
  /** Recompute whole blocks in the backward, keeping only their inputs (gradients' option). */
  recomputeBlocks?: boolean;
}

export interface TrainParam {
  /** A graph input holding the parameter's current value. */
  tensor: Tensor;
  decay: boolean;
}

/** Names of the extra inputs and outputs a train-step graph has, per parameter. */
export const stateNames = (p: string) => ({
  m: `adam.m.${p}`,
  v: `adam.v.${p}`,
  acc: `acc.${p}`,
  newP: `new.${p}`,
  newM: `new.adam.m.${p}`,
  newV: `new.adam.v.${p}`,
  newAcc: `new.acc.${p}`,
});

/**
 * Turns a graph that computes a scalar loss from (batch, parameters) into one train step:
 * (batch, parameters, moments, [accumulated gradients], step, [apply]) -> (loss, grad_norm, lr, new
 * parameters, new moments, [new accumulated gradients]). The optimizer is AdamW with bias correction
 * from the `step` input (the 1-based number of the update being made), global-norm clipping and an
 * in-graph learning-rate schedule. With accumulation, gradients are averaged over micro-batches and the
 * update is applied only where `apply` is true.
 */
export function buildTrainStep(b: GraphBuilder, loss: Tensor, params: TrainParam[], o: AdamWOptions): void {
  if (params.length === 0) throw new GraphError('train step: no trainable parameters');
  for (const p of params) if (p.tensor.kind !== 'input') throw new GraphError(`train step: ${p.tensor.name} must be a graph input`);
  const beta1 = o.beta1 ?? 0.9;
  const beta2 = o.beta2 ?? 0.999;
  const eps = o.eps ?? 1e-8;
  const wd = o.weightDecay ?? 0;
  const k = o.accumulate ?? 1;
  const grads = gradients(
    b,
    loss,
    params.map((p) => p.tensor),
    { recomputeAttention: o.recomputeAttention, recomputeBlocks: o.recomputeBlocks },
  );

  b.within('optimizer', () => {
    const step = b.input('step', 'float32', []);
    const apply = k > 1 ? b.input('apply', 'bool', []) : null;
    // Gradients of this micro-batch, averaged into the accumulated ones.
    const accIn = k > 1 ? params.map((p) => b.input(stateNames(p.tensor.name).acc, 'float32', p.tensor.shape)) : null;
    const total = grads.map((g, i) => (accIn ? b.add(accIn[i]!, b.mul(g, 1 / k)) : g));
    // Global norm and clipping (coefficient min(1, max_norm / (norm + 1e-6)), as PyTorch).
    const sq = total.map((g) => b.sumAll(b.mul(g, g)));
    const norm = b.sqrt(sq.reduce((s, x) => b.add(s, x)));
    const clipped = o.clipNorm
      ? total.map((g) => b.mul(g, b.min(b.div(b.constant(o.clipNorm!, 'float32', []), b.add(norm, 1e-6)), 1)))
      : total;
    // Learning rate for this update; Hugging Face's schedule is a function of the 0-based update count.
    const t0 = b.sub(step, 1);
    let lr = b.constant(o.lr, 'float32', []);
    if (o.schedule?.kind === 'linear') {
      const { warmup, total: T } = o.schedule;
      const decay = b.max(b.div(b.rsub(T, t0), Math.max(1, T - warmup)), 0);
      const factor = warmup > 0 ? b.where(b.less(t0, warmup), b.div(t0, warmup), decay) : decay;
      lr = b.mul(lr, factor);
    }
    const bc1 = b.rsub(1, b.pow(b.constant(beta1, 'float32', []), step));
    const bc2 = b.rsub(1, b.pow(b.constant(beta2, 'float32', []), step));
    params.forEach((p, i) => {
      const names = stateNames(p.tensor.name);
      const m = b.input(names.m, 'float32', p.tensor.shape);
      const v = b.input(names.v, 'float32', p.tensor.shape);
      const g = clipped[i]!;
      const m2 = b.add(b.mul(m, beta1), b.mul(g, 1 - beta1));
      const v2 = b.add(b.mul(v, beta2), b.mul(b.mul(g, g), 1 - beta2));
      const decayed = p.decay && wd > 0 ? b.sub(p.tensor, b.mul(p.tensor, b.mul(lr, wd))) : p.tensor;
      const update = b.div(b.div(m2, bc1), b.add(b.sqrt(b.div(v2, bc2)), eps));
      const p2 = b.sub(decayed, b.mul(update, lr));
      if (apply) {
        b.output(b.where(apply, p2, p.tensor), names.newP);
        b.output(b.where(apply, m2, m), names.newM);
        b.output(b.where(apply, v2, v), names.newV);
        b.output(b.where(apply, b.mul(total[i]!, 0), total[i]!), names.newAcc);
      } else {
        b.output(p2, names.newP);
        b.output(m2, names.newM);
        b.output(v2, names.newV);
      }
    });
    b.output(loss, 'loss');
    b.output(norm, 'grad_norm');
    b.output(lr, 'lr');
  });
}
