import { projections } from '../projections.js';
import type { GraphBuilder } from '../../graph/builder.js';
import type { Tensor } from '../../graph/ir.js';
import { wrapValue } from '../../graph/rewrite.js';
import { ChangelingError } from '../../util/errors.js';
import type { AdapterConfig } from './config.js';

/**
 * Bottleneck (Houlsby) adapters as a graph transform: A(h) = h + W_up act(W_down h + b_down) + b_up,
 * applied to the output of each sublayer's last projection, before the residual add, as the study placed
 * them: after self-attention, cross-attention and feed-forward outputs. Sites are found by module name
 * for T5, RoBERTa, BART and the Llama family (Qwen2). PEFT has no such adapter; the file format (adapter/config.ts) follows PEFT's.
 */
const SITES: Array<[RegExp, string]> = [
  [/^(.*\.block\.\d+)\.layer\.\d+\.SelfAttention\.o$/, 'self_attn_adapter'], // T5
  [/^(.*\.block\.\d+)\.layer\.\d+\.EncDecAttention\.o$/, 'cross_attn_adapter'],
  [/^(.*\.block\.\d+)\.layer\.\d+\.DenseReluDense\.wo$/, 'ffn_adapter'],
  [/^(.*\.layer\.\d+)\.attention\.output\.dense$/, 'self_attn_adapter'], // RoBERTa
  [/^(.*\.layer\.\d+)\.output\.dense$/, 'ffn_adapter'],
  [/^(.*\.layers\.\d+)\.self_attn\.out_proj$/, 'self_attn_adapter'], // BART
  [/^(.*\.layers\.\d+)\.encoder_attn\.out_proj$/, 'cross_attn_adapter'],
  [/^(.*\.layers\.\d+)\.fc2$/, 'ffn_adapter'],
  [/^(.*\.layers\.\d+)\.self_attn\.o_proj$/, 'self_attn_adapter'], // the Llama family
  [/^(.*\.layers\.\d+)\.mlp\.down_proj$/, 'ffn_adapter'],
];

/** Layer norm weights, trainable with adapters when `trainLayerNorms` is set. */
export const isLayerNorm = (name: string) => /layer_norm|LayerNorm|layernorm/.test(name);

export interface InjectedAdapter {
  site: string;
  params: { downW: Tensor; downB: Tensor; upW: Tensor; upB: Tensor };
  width: number;
}

const adapterKey = (site: string, part: 'down.weight' | 'down.bias' | 'up.weight' | 'up.bias') => `base_model.model.${site}.${part}`;

/**
 * `values`: trained weights by name; given, the adapters' parameters are constants of the graph (inference)
 * instead of inputs (training). `optional`: a graph with no site (e.g. the cross-attention key/value graph)
 * is left as it is instead of failing.
 */
export function injectAdapters(
  b: GraphBuilder,
  cfg: AdapterConfig,
  o: { values?: Map<string, { shape: number[]; data: Float32Array }>; optional?: boolean } = {},
): InjectedAdapter[] {
  const found: InjectedAdapter[] = [];
  for (const { weight: w, module, output: out } of projections(b)) {
    const hit = SITES.find(([re]) => re.test(module));
    if (!hit || !cfg.sites.includes(hit[1])) continue;
    const site = `${hit[0].exec(module)![1]}.${hit[1]}`;
    const d = w.shape[0] as number;
    const m = cfg.size;
    const param = (part: 'down.weight' | 'down.bias' | 'up.weight' | 'up.bias', shape: number[]) => {
      const name = adapterKey(site, part);
      if (!o.values) return b.input(name, 'float32', shape);
      const v = o.values.get(name);
      if (!v || v.data.length !== shape.reduce((a, x) => a * x, 1))
        throw new ChangelingError('io', `the adapter has no ${name} of shape [${shape}]`);
      return b.initializer(name, 'float32', shape, v.data);
    };
    const params = {
      downW: param('down.weight', [m, d]),
      downB: param('down.bias', [m]),
      upW: param('up.weight', [d, m]),
      upB: param('up.bias', [d]),
    };
    wrapValue(b, out, (h) => {
      const down = b.add(b.matmul(h, b.transpose(params.downW, [1, 0])), params.downB);
      const act = cfg.nonLinearity === 'relu' ? b.relu(down) : b.gelu(down, 'erf');
      return b.add(h, b.add(b.matmul(act, b.transpose(params.upW, [1, 0])), params.upB));
    });
    found.push({ site, params, width: d });
  }
  if (found.length === 0 && !o.optional) throw new ChangelingError('usage', `adapters: no site found for ${cfg.sites.join(', ')}`);
  return found;
}

/** Initialisation: down as nn.Linear's default, up = 0 so that the adapted model starts as the base one. */
export function initAdapter(a: InjectedAdapter, size: number, rand: () => number): Record<string, Float32Array> {
  const bound = 1 / Math.sqrt(a.width);
  return {
    [a.params.downW.name]: Float32Array.from({ length: size * a.width }, () => (rand() * 2 - 1) * bound),
    [a.params.downB.name]: Float32Array.from({ length: size }, () => (rand() * 2 - 1) * bound),
    [a.params.upW.name]: new Float32Array(a.width * size),
    [a.params.upB.name]: new Float32Array(a.width),
  };
}
