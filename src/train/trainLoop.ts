import { existsSync } from 'node:fs';
import type { Tensor as OrtTensor } from 'onnxruntime-node';
import { epochBatches, seededRandom } from './batching.js';
import type { TrainSession } from './trainSession.js';
import { ChangelingError, cancelledError } from '../util/errors.js';

/**
 * The training loop: epochs of length-grouped batches, evaluation and early stopping, checkpoints and resuming,
 * cancellation, events.
 */

export type TrainEvent =
  | { kind: 'step'; epoch: number; step: number; loss: number; lr: number; gradNorm: number }
  | { kind: 'eval'; epoch: number; step: number; metric: number; best: number; improved: boolean }
  | { kind: 'checkpoint'; step: number; path: string }
  | { kind: 'resumed'; step: number; epoch: number }
  | { kind: 'early-stop'; step: number; best: number };

export interface TrainLoopOptions<T> {
  session: TrainSession;
  train: readonly T[];
  batchSize: number;
  toFeeds: (batch: T[]) => Record<string, OrtTensor>;
  epochs?: number;
  /** Stop after this many optimizer updates. */
  maxSteps?: number;
  /** Length for bucketing (similar lengths batched together). */
  lengthOf?: (t: T) => number;
  /** A validation metric, higher is better; run every `evalEvery` updates and at the end. */
  evaluate?: () => Promise<number>;
  evalEvery?: number;
  /** Stop after this many evaluations without improvement. */
  patience?: number;
  /** Stop as soon as the metric reaches this value. */
  target?: number;
  /** Checkpoint file (safetensors), written atomically every `checkpointEvery` updates; resumed from if present. */
  checkpoint?: string;
  checkpointEvery?: number;
  seed: number;
  signal?: AbortSignal;
  onEvent?: (e: TrainEvent) => void;
}

export interface TrainLoopResult {
  steps: number;
  epochs: number;
  lastLoss: number;
  best: number | null;
  /** Parameters at the best evaluation (or the last ones without evaluation). */
  bestParameters: Record<string, Float32Array>;
  stoppedEarly: boolean;
  seconds: number;
}

const snapshot = (s: TrainSession) => Object.fromEntries(s.params.map((p) => [p.name, Float32Array.from(s.value(p.name))]));

/**
 * The training loop: seeded epochs of (bucketed) batches, periodic evaluation with early stopping,
 * atomic checkpoints it can resume from, progress events, cancellation through an AbortSignal.
 */
export async function trainLoop<T>(o: TrainLoopOptions<T>): Promise<TrainLoopResult> {
  const start = performance.now();
  const s = o.session;
  const epochs = o.epochs ?? Number.POSITIVE_INFINITY;
  const maxSteps = o.maxSteps ?? Number.POSITIVE_INFINITY;
  let epoch = 0;
  let skip = 0; // batches of the current epoch already done (when resuming)
  let best: number | null = null;
  let bad = 0;
  let bestParams = snapshot(s);
  if (o.checkpoint && existsSync(o.checkpoint)) {
    const meta = await s.load(o.checkpoint);
    epoch = Number(meta.epoch ?? 0);
    skip = Number(meta.batch ?? 0);
    best = meta.best ? Number(meta.best) : null;
    bad = Number(meta.bad ?? 0);
    bestParams = snapshot(s);
    o.onEvent?.({ kind: 'resumed', step: s.updates, epoch });
  }
  let lastLoss = NaN;
  let stoppedEarly = false;
  const evaluate = async (): Promise<boolean> => {
    if (!o.evaluate) return false;
    const metric = await o.evaluate();
    const improved = best === null || metric > best;
    if (improved) {
      best = metric;
      bad = 0;
      bestParams = snapshot(s);
    } else bad++;
    o.onEvent?.({ kind: 'eval', epoch, step: s.updates, metric, best: best!, improved });
    return (o.target !== undefined && metric >= o.target) || (o.patience !== undefined && bad >= o.patience);
  };
  outer: for (; epoch < epochs; epoch++) {
    const batches = epochBatches(o.train, o.batchSize, seededRandom(o.seed * 7919 + epoch), o.lengthOf);
    for (let i = skip; i < batches.length; i++) {
      if (o.signal?.aborted) throw cancelledError();
      const r = await s.step(o.toFeeds(batches[i]!));
      lastLoss = r.loss;
      // A loss that is not a finite number means the run diverged: every later step would only spread it.
      if (!Number.isFinite(r.loss))
        throw new ChangelingError(
          'model',
          `training diverged: the loss at step ${s.updates + 1} is ${r.loss}; stopped there, nothing was saved or adopted (try a lower learning rate)`,
        );
      if (!r.applied) continue;
      o.onEvent?.({ kind: 'step', epoch, step: s.updates, loss: r.loss, lr: r.lr, gradNorm: r.gradNorm });
      if (o.evalEvery && s.updates % o.evalEvery === 0 && (await evaluate())) {
        stoppedEarly = true;
        o.onEvent?.({ kind: 'early-stop', step: s.updates, best: best! });
        break outer;
      }
      if (o.checkpoint && o.checkpointEvery && s.updates % o.checkpointEvery === 0) {
        await s.save(o.checkpoint, {
          epoch: String(epoch),
          batch: String(i + 1),
          best: best === null ? '' : String(best),
          bad: String(bad),
        });
        o.onEvent?.({ kind: 'checkpoint', step: s.updates, path: o.checkpoint });
      }
      if (s.updates >= maxSteps) break outer;
    }
    skip = 0;
  }
  if (!stoppedEarly && o.evaluate && !(o.evalEvery && s.updates % o.evalEvery === 0)) await evaluate();
  if (!o.evaluate) bestParams = snapshot(s);
  return {
    steps: s.updates,
    epochs: epoch,
    lastLoss,
    best,
    bestParameters: bestParams,
    stoppedEarly,
    seconds: (performance.now() - start) / 1000,
  };
}
