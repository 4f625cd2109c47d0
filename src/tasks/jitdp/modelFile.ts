import { checkRiskHead } from './calibration.js';
import { writeBytesAtomic } from '../../util/atomicFile.js';
import { readJsonFile } from '../../util/jsonFile.js';
import { ChangelingError } from '../../util/errors.js';
import { FEATURE_NAMES } from '../../git/expertFeatures.js';
import type { BaselineModel } from './baseline.js';
import { parseLineModel, type LineModel } from './lineModel.js';

/**
 * A linear JIT-DP model on disk (JSON, written atomically): the feature scaling, the weights (the 14 expert
 * features by name, then the token vocabulary with one weight each), the calibration and the threshold,
 * and free-form `info` (what it was trained on, its metrics). Plain data: reading it runs nothing.
 */
const FORMAT = 'changeling-jitdp-linear/1';

export interface LinearModelFile {
  model: BaselineModel;
  info: Record<string, unknown>;
  /** A separate line model (`lines`) that ranks added lines: the embedded default's (`lineModel.ts`). */
  lines?: LineModel;
}

export function linearModelJson(m: BaselineModel, info: Record<string, unknown> = {}): string {
  const F = FEATURE_NAMES.length;
  const features = Object.fromEntries(
    FEATURE_NAMES.map((n, i) => [n, { mean: m.mean[i], std: m.std[i], median: m.median?.[i], weight: m.model.weights[i] }]),
  );
  const tokens = Object.fromEntries([...m.vocab].map(([t, j]) => [t, m.model.weights[F + j]]));
  return (
    JSON.stringify(
      { format: FORMAT, info, bias: m.model.bias, features, tokens, platt: m.platt, threshold: m.threshold, baseRate: m.baseRate },
      null,
      1,
    ) + '\n'
  );
}

export async function writeLinearModel(path: string, m: BaselineModel, info: Record<string, unknown> = {}): Promise<void> {
  await writeBytesAtomic(path, Buffer.from(linearModelJson(m, info)));
}

export async function readLinearModel(path: string): Promise<LinearModelFile> {
  return parseLinearModel(await readJsonFile(path), path);
}

export function parseLinearModel(raw: unknown, where: string): LinearModelFile {
  const o = raw as Record<string, any>;
  if (o?.format !== FORMAT) throw new ChangelingError('io', `${where} is not a Changeling JIT-DP model (format ${String(o?.format)})`);
  const num = (v: unknown, what: string) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ChangelingError('io', `${where}: ${what} is not a number`);
    return v;
  };
  const f = FEATURE_NAMES.map((n) => {
    const e = o.features?.[n];
    if (!e) throw new ChangelingError('io', `${where}: feature "${n}" is missing`);
    return {
      mean: num(e.mean, `${n}.mean`),
      std: num(e.std, `${n}.std`),
      median: e.median as unknown,
      weight: num(e.weight, `${n}.weight`),
    };
  });
  const tokens = Object.entries((o.tokens ?? {}) as Record<string, unknown>);
  const weights = new Float64Array(f.length + tokens.length);
  f.forEach((e, i) => (weights[i] = e.weight));
  tokens.forEach(([t, w], j) => (weights[f.length + j] = num(w, `token ${t}`)));
  const head = checkRiskHead(
    where,
    {
      mean: f.map((e) => e.mean),
      std: f.map((e) => e.std),
      // Every feature has its median or none has (models trained before 2026-12-07).
      ...(f.some((e) => e.median !== undefined) ? { median: f.map((e) => e.median) } : {}),
      platt: o.platt,
      threshold: o.threshold,
      baseRate: o.baseRate,
    },
    FEATURE_NAMES.length,
  );
  const model: BaselineModel = {
    vocab: new Map(tokens.map(([t], j) => [t, j])),
    mean: head.mean,
    std: head.std,
    ...(head.median ? { median: head.median } : {}),
    model: { weights, bias: num(o.bias, 'bias') },
    platt: head.platt,
    threshold: head.threshold,
    baseRate: head.baseRate,
  };
  return {
    model,
    info: (o.info ?? {}) as Record<string, unknown>,
    ...(o.lines === undefined ? {} : { lines: parseLineModel(o.lines, where) }),
  };
}
