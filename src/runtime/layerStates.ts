import type { InferenceSession } from 'onnxruntime-node';
import { GraphBuilder } from '../graph/builder.js';
import type { Tensor } from '../graph/ir.js';
import { roberta } from '../models/roberta.js';
import { t5Encoder } from '../models/t5.js';
import { bartEncoder } from '../models/bart.js';
import { GraphWeights } from '../models/weights.js';
import { requireKind, type ModelFolder } from '../models/modelFolder.js';
import { createSessionFromFile, ort, type SessionOptions, collectGarbage } from './session.js';
import { cachedGraphs, modelFingerprint } from './graphCache.js';
import { throwIfAborted } from '../util/errors.js';
import { padBatch } from '../train/batching.js';

/**
 * The first token's state at every layer of an encoder, as transformers' `hidden_states` holds them (the
 * embeddings, then each layer's output; T5's last entry after its final norm): what the study's probes read.
 * Encoder-only models (RoBERTa) and the encoders of encoder-decoders (T5, BART/PLBART), with the model
 * folder's graph transforms (bottleneck adapters, prefixes) applied; merged LoRA arrives in the weights.
 */
export class LayerStateRunner {
  private constructor(
    private readonly session: InferenceSession,
    /** Number of states per input: layers + 1. */
    readonly layers: number,
    readonly hidden: number,
    private readonly padId: number,
  ) {}

  static async create(folder: ModelFolder, o: SessionOptions = {}): Promise<LayerStateRunner> {
    const model = requireKind(folder, ['t5', 'bart', 'roberta'], 'probing');
    const hidden = model.kind === 'roberta' ? model.config.hiddenSize : model.config.dModel;
    const layers =
      (model.kind === 'roberta'
        ? model.config.numHiddenLayers
        : model.kind === 't5'
          ? model.config.numLayers
          : model.config.encoderLayers) + 1;
    const g = await cachedGraphs(
      `layer-states-${model.kind}-${modelFingerprint(model.dir, model.weightsPath, { extra: model.cacheExtra ?? null })}`,
      async () => {
        const weights = await model.loadWeights();
        const b = new GraphBuilder('layer-states');
        const ids = b.input('input_ids', 'int64', ['batch', 'seq']);
        const mask = b.input('attention_mask', 'int64', ['batch', 'seq']);
        const w = new GraphWeights(b, weights);
        const states: Tensor[] = [];
        if (model.kind === 'roberta') {
          const prefix = [...weights.keys()].some((n) => n.startsWith('roberta.')) ? 'roberta.' : '';
          roberta(b, model.config, w, ids, mask, { prefix, hiddenStates: states });
        } else if (model.kind === 't5') t5Encoder(b, model.config, w, ids, mask, { hiddenStates: states });
        else bartEncoder(b, model.config, w, ids, mask, { hiddenStates: states });
        // [batch, layers, hidden]: each state's first position.
        b.output(
          b.concat(
            states.map((h) => b.slice(h, [0], [1], [1])),
            1,
          ),
          'first_token_states',
        );
        for (const t of model.graphTransforms ?? []) t(b);
        return { graphs: { states: b }, meta: {} };
      },
    );
    if (g.built) {
      model.releaseWeights?.();
      collectGarbage();
    }
    return new LayerStateRunner(await createSessionFromFile(g.files.states!, o), layers, hidden, model.config.padTokenId);
  }

  /**
   * States of many inputs, batched by length (each batch padded to its longest member, the padding masked):
   * for each layer a [inputs, hidden] matrix, rows in the inputs' order.
   */
  async firstTokenStates(
    inputs: number[][],
    o: { batch?: number; signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
  ): Promise<Float32Array[]> {
    const rt = await ort();
    const out = Array.from({ length: this.layers }, () => new Float32Array(inputs.length * this.hidden));
    const order = inputs.map((_, i) => i).sort((a, b) => inputs[a]!.length - inputs[b]!.length);
    const size = o.batch ?? 8;
    for (let s = 0; s < order.length; s += size) {
      throwIfAborted(o.signal);
      const rows = order.slice(s, s + size);
      const src = padBatch(
        rows.map((r) => inputs[r]!),
        this.padId,
      );
      const res = await this.session.run({
        input_ids: new rt.Tensor('int64', src.ids, src.shape),
        attention_mask: new rt.Tensor('int64', src.mask, src.shape),
      });
      const data = res.first_token_states!.data as Float32Array;
      rows.forEach((r, i) => {
        for (let l = 0; l < this.layers; l++)
          out[l]!.set(data.subarray((i * this.layers + l) * this.hidden, (i * this.layers + l + 1) * this.hidden), r * this.hidden);
      });
      o.onProgress?.(Math.min(s + size, order.length), order.length);
    }
    return out;
  }
}
