import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { GraphBuilder } from '../graph/builder.js';
import { roberta } from '../models/roberta.js';
import { GraphWeights } from '../models/weights.js';
import type { ModelFolder } from '../models/modelFolder.js';
import { createSessionFromFile, type SessionOptions } from './session.js';
import { cachedGraphs, collectGarbage, modelFingerprint } from './graphCache.js';

type RobertaFolder = Extract<ModelFolder, { kind: 'roberta' }>;

/** An encoder-only checkpoint (RoBERTa): hidden states, and the pooler and classifier where it has them. */
export class EncoderRunner {
  private constructor(
    readonly model: RobertaFolder,
    private readonly session: InferenceSession,
    readonly hasPooler: boolean,
    readonly hasClassifier: boolean,
  ) {}

  static async create(model: RobertaFolder, o: SessionOptions = {}): Promise<EncoderRunner> {
    const g = await cachedGraphs(`roberta-${modelFingerprint(model.dir, model.weightsPath, { extra: model.cacheExtra ?? null })}`, async () => {
      const weights = await model.loadWeights();
      const names = [...weights.keys()];
      // Task checkpoints prefix the encoder with "roberta."; a bare RobertaModel has no prefix.
      const prefix = names.some((n) => n.startsWith('roberta.')) ? 'roberta.' : '';
      const hasPooler = weights.has(`${prefix}pooler.dense.weight`);
      const hasClassifier = weights.has('classifier.out_proj.weight');
      const b = new GraphBuilder('encoder');
      const out = roberta(b, model.config, new GraphWeights(b, weights), b.input('input_ids', 'int64', ['batch', 'seq']), b.input('attention_mask', 'int64', ['batch', 'seq']), { prefix, pooler: hasPooler, classifier: hasClassifier });
      b.output(out.lastHidden, 'last_hidden_state');
      if (out.pooled) b.output(out.pooled, 'pooler_output');
      if (out.classifierLogits) b.output(out.classifierLogits, 'logits');
      return { graphs: { encoder: b }, meta: { hasPooler, hasClassifier } };
    });
    if (g.built) {
      model.releaseWeights?.();
      collectGarbage();
    }
    return new EncoderRunner(model, await createSessionFromFile(g.files.encoder!, o), g.meta.hasPooler, g.meta.hasClassifier);
  }

  run(inputIds: OrtTensor, attentionMask: OrtTensor): Promise<Record<string, OrtTensor>> {
    return this.session.run({ input_ids: inputIds, attention_mask: attentionMask }) as Promise<Record<string, OrtTensor>>;
  }
}
