import { loadModelFolder } from '../../models/modelFolder.js';
import { CodeTokenizer } from '../../models/tokenizer.js';
import { withAdapter } from '../../peft/apply.js';
import { LayerStateRunner } from '../../runtime/layerStates.js';
import type { SessionOptions } from '../../runtime/session.js';
import { throwIfAborted } from '../../util/errors.js';
import { probeLayer, type LayerProbe } from './linearProbe.js';
import { probeInputIds, type ProbeData, type ProbeInput } from './probeData.js';

/**
 * One probing run (the study's RQ on what a model encodes): every layer's first-token states of the model
 * (with its adapter) on a probing task's examples, a linear probe per layer fitted on the training split with
 * its strength chosen on validation, and the test accuracy per layer.
 */
export interface ProbeOptions {
  model: string;
  adapter?: string;
  input?: ProbeInput;
  /** Tokens per input, the framing included (the study: 512). */
  seqLength?: number;
  batch?: number;
  provider?: SessionOptions['provider'];
  signal?: AbortSignal;
  onProgress?: (message: string) => void;
}

export interface ProbeRun {
  task: string;
  model: string;
  adapter: string | null;
  input: ProbeInput;
  seqLength: number;
  labels: string[];
  counts: { train: number; validation: number; test: number };
  /** Share of the test split's most frequent label: what a probe that learnt nothing scores. */
  majority: number;
  layers: Array<LayerProbe & { layer: number }>;
  /** The layer with the best validation accuracy, and its test accuracy. */
  best: { layer: number; test: number };
}

/** A model (with its adapter) opened for probing: its layer-state session and tokenizer, for any number of tasks. */
export interface ProbeModel {
  runner: LayerStateRunner;
  tok: CodeTokenizer;
}

export async function openProbeModel(o: Pick<ProbeOptions, 'model' | 'adapter' | 'provider' | 'onProgress'>): Promise<ProbeModel> {
  let folder = await loadModelFolder(o.model);
  if (o.adapter) folder = await withAdapter(folder, o.adapter);
  const tok = await CodeTokenizer.fromFolder(o.model);
  o.onProgress?.('building the layer-state graph');
  return { runner: await LayerStateRunner.create(folder, { provider: o.provider }), tok };
}

export async function runProbe(data: ProbeData, o: ProbeOptions, opened?: ProbeModel): Promise<ProbeRun> {
  const input = o.input ?? 'study';
  const seqLength = o.seqLength ?? 512;
  const { runner, tok } = opened ?? (await openProbeModel(o));
  const ids = data.examples.map((e) => probeInputIds(tok, e.text, { input, seqLength }));
  const states = await runner.firstTokenStates(ids, {
    batch: o.batch,
    signal: o.signal,
    onProgress: (i, n) => o.onProgress?.(`layer states: ${i} of ${n} examples`),
  });
  const y = data.examples.map((e) => data.labels.indexOf(e.label));
  const idx = { tr: [] as number[], va: [] as number[], te: [] as number[] };
  data.examples.forEach((e, i) => idx[e.split].push(i));
  const d = runner.hidden;
  const take = (layer: Float32Array, rows: number[]) => {
    const out = new Float32Array(rows.length * d);
    rows.forEach((r, i) => out.set(layer.subarray(r * d, (r + 1) * d), i * d));
    return { x: { data: out, rows: rows.length, dim: d }, y: rows.map((r) => y[r]!) };
  };
  const layers: ProbeRun['layers'] = [];
  for (let l = 0; l < states.length; l++) {
    throwIfAborted(o.signal);
    o.onProgress?.(`fitting the probe of layer ${l} of ${states.length - 1}`);
    layers.push({
      layer: l,
      ...probeLayer({
        train: take(states[l]!, idx.tr),
        validation: take(states[l]!, idx.va),
        test: take(states[l]!, idx.te),
        classes: data.labels.length,
      }),
    });
  }
  // The best layer is chosen on validation (the first on ties), and reported with its test accuracy.
  const best = layers.reduce((a, b) => (b.validation > a.validation ? b : a));
  const testCounts = data.labels.map((_, k) => idx.te.filter((r) => y[r] === k).length);
  return {
    task: data.name,
    model: o.model,
    adapter: o.adapter ?? null,
    input,
    seqLength,
    labels: data.labels,
    counts: { train: idx.tr.length, validation: idx.va.length, test: idx.te.length },
    majority: Math.max(...testCounts) / idx.te.length,
    layers,
    best: { layer: best.layer, test: best.test },
  };
}
