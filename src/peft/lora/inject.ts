import { projections } from '../projections.js';
import type { GraphBuilder } from '../../graph/builder.js';
import type { Tensor } from '../../graph/ir.js';
import { wrapValue } from '../../graph/rewrite.js';
import { ChangelingError } from '../../util/errors.js';
import { inLayers, loraScaling, matchesTarget, type LoraConfig } from './config.js';

/**
 * LoRA as a graph transform: every projection `x W^T` (a MatMul whose weight input is the transpose of a
 * `<module>.weight`) whose module PEFT's matching selects becomes `x W^T + s (x A^T) B^T`, with A [r, in]
 * and B [out, r] as graph inputs named as PEFT names them in adapter files
 * (`base_model.model.<module>.lora_A.weight`). Works on any architecture built with the builder.
 */
export interface InjectedLora {
  module: string;
  a: Tensor;
  b: Tensor;
  inFeatures: number;
  outFeatures: number;
}

const loraKey = (module: string, which: 'A' | 'B') => `base_model.model.${module}.lora_${which}.weight`;

export function injectLora(
  b: GraphBuilder,
  cfg: LoraConfig,
  o: { dropoutSeed?: Tensor | null; moduleName?: (module: string) => string } = {},
): InjectedLora[] {
  // PEFT names modules relative to the model it wrapped: RobertaModel has no "roberta." prefix.
  const rename = o.moduleName ?? ((m: string) => m);
  const s = loraScaling(cfg);
  const found: InjectedLora[] = [];
  for (const p of projections(b)) {
    const { node, weight: w } = p;
    const module = rename(p.module);
    // PEFT applies layers_to_transform to a list of targets, not to a regex.
    if (!matchesTarget(module, cfg.targetModules)) continue;
    if (typeof cfg.targetModules !== 'string' && !inLayers(module, cfg.layersToTransform)) continue;
    const [outF, inF] = w.shape as [number, number];
    const a = b.input(loraKey(module, 'A'), 'float32', [cfg.r, inF]);
    const loraB = b.input(loraKey(module, 'B'), 'float32', [outF, cfg.r]);
    const x = node.inputs[0]!;
    wrapValue(b, node.outputs[0]!, (y) => {
      const xin = cfg.loraDropout > 0 && o.dropoutSeed ? b.dropout(x, cfg.loraDropout, o.dropoutSeed) : x;
      const low = b.matmul(b.matmul(xin, b.transpose(a, [1, 0])), b.transpose(loraB, [1, 0]));
      return b.add(y, b.mul(low, s));
    });
    found.push({ module, a, b: loraB, inFeatures: inF, outFeatures: outF });
  }
  if (found.length === 0) throw new ChangelingError('usage', `LoRA: no module matches target_modules ${JSON.stringify(cfg.targetModules)}`);
  return found;
}

/** PEFT's default initialisation: A ~ kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), B = 0. */
export function initLora(l: InjectedLora, rand: () => number): { a: Float32Array; b: Float32Array } {
  const bound = 1 / Math.sqrt(l.inFeatures);
  const r = l.a.shape[0] as number;
  return { a: Float32Array.from({ length: r * l.inFeatures }, () => (rand() * 2 - 1) * bound), b: new Float32Array(l.outFeatures * r) };
}

/** W + s B A: the merged weight for zero-overhead inference. */
export function mergeLora(
  w: Float32Array,
  out: number,
  inF: number,
  a: Float32Array,
  bm: Float32Array,
  r: number,
  s: number,
): Float32Array {
  const merged = Float32Array.from(w);
  for (let i = 0; i < out; i++) {
    for (let k = 0; k < r; k++) {
      const bik = bm[i * r + k]! * s;
      if (bik === 0) continue;
      for (let j = 0; j < inF; j++) merged[i * inF + j]! += bik * a[k * inF + j]!;
    }
  }
  return merged;
}
