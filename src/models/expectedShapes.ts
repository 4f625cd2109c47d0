import { ChangelingError } from '../util/errors.js';
import type { WeightMap } from './weights.js';
import { architecture, type ModelKind } from './architectures.js';

/**
 * Every weight's shape checked against the config before a graph is built from it: a checkpoint whose
 * weights are for another size (or a config edited by hand) is refused with the first weight that does not
 * fit, instead of failing inside ONNX Runtime (or, worse, running with every output NaN). The rules are the
 * architecture's own (its record's `shapeRules`).
 */
export type ShapeRule = [RegExp, () => number[]];

export function checkWeightShapes(kind: ModelKind, config: unknown, weights: WeightMap, where: string): WeightMap {
  const rules = architecture(kind).shapeRules(config as never);
  for (const [name, w] of weights) {
    const rule = rules.find(([re]) => re.test(name));
    if (!rule) continue;
    const want = rule[1]();
    if (w.shape.join(',') !== want.join(','))
      throw new ChangelingError(
        'io',
        `${where}: weight ${name} has shape [${w.shape.join(', ')}] but config.json says [${want.join(', ')}]: the weights and the config do not belong together`,
      );
  }
  return weights;
}
