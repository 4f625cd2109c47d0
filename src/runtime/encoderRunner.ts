import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { GraphBuilder } from '../graph/builder.js';
import { roberta } from '../models/roberta.js';
import { GraphWeights } from '../models/weights.js';
import type { ModelFolder } from '../models/modelFolder.js';
import { createSessionFromFile, type SessionOptions, collectGarbage } from './session.js';
import { cachedGraphs, modelFingerprint } from './graphCache.js';
import { precisionPlan, type ResolvedPrecision } from './precision.js';

/**
 * A RoBERTa-family encoder (CodeBERT, GraphCodeBERT, UniXcoder) as a cached onnxruntime session: hidden states
 * and pooled output for token ids.
 */

type RobertaFolder = Extract<ModelFolder, { kind: 'roberta' }>;

/** An encoder-only checkpoint (RoBERTa): hidden states, and the pooler and classifier where it has them. */
export class EncoderRunner {
  private constructor(
    readonly model: RobertaFolder,
    private readonly session: InferenceSession,
    readonly hasPooler: boolean,
    readonly hasClassifier: boolean,
    /** The precision its graph runs in. */
    readonly precision: ResolvedPrecision,
  ) {}

  static async create(model: RobertaFolder, o: SessionOptions = {}): Promise<EncoderRunner> {
    const plan = await precisionPlan(o.precision, 'roberta', o.provider);
    const precision = plan.precision;
    const g = await cachedGraphs(
      `roberta-${plan.key}${modelFingerprint(model.dir, model.weightsPath, { precision, extra: model.cacheExtra ?? null })}`,
      async () => {
        const weights = await model.loadWeights();
        const names = [...weights.keys()];
        // Task checkpoints prefix the encoder with "roberta."; a bare RobertaModel has no prefix.
        const prefix = names.some((n) => n.startsWith('roberta.')) ? 'roberta.' : '';
        const hasPooler = weights.has(`${prefix}pooler.dense.weight`);
        const hasClassifier = weights.has('classifier.out_proj.weight');
        const b = new GraphBuilder('encoder');
        const out = roberta(
          b,
          model.config,
          new GraphWeights(b, weights),
          b.input('input_ids', 'int64', ['batch', 'seq']),
          b.input('attention_mask', 'int64', ['batch', 'seq']),
          { prefix, pooler: hasPooler, classifier: hasClassifier },
        );
        b.output(out.lastHidden, 'last_hidden_state');
        if (out.pooled) b.output(out.pooled, 'pooler_output');
        if (out.classifierLogits) b.output(out.classifierLogits, 'logits');
        for (const t of model.graphTransforms ?? []) t(b);
        plan.apply(b);
        return { graphs: { encoder: b }, meta: { hasPooler, hasClassifier } };
      },
    );
    if (g.built) {
      model.releaseWeights?.();
      collectGarbage();
    }
    return new EncoderRunner(model, await createSessionFromFile(g.files.encoder!, o), g.meta.hasPooler, g.meta.hasClassifier, precision);
  }

  run(inputIds: OrtTensor, attentionMask: OrtTensor): Promise<Record<string, OrtTensor>> {
    return this.session.run({ input_ids: inputIds, attention_mask: attentionMask }) as Promise<Record<string, OrtTensor>>;
  }
}
