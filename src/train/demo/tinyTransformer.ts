import type { GraphBuilder } from '../../graph/builder.js';
import type { Tensor } from '../../graph/ir.js';
import type { ParamSpec } from '../trainSession.js';
import { seededRandom } from '../batching.js';

/**
 * The seed's small encoder-decoder transformer (pre-LayerNorm, learned positions) written against the
 * graph builder, with hooks for the four ways of adapting it: full fine-tuning, LoRA on the query and
 * value projections, bottleneck adapters after attention and feed-forward outputs, and prefix-tuning
 * (trainable key/value prefixes in every attention). The real-architecture PEFT transforms live in
 * src/peft/; this demo shows the engine trains each kind of parameter.
 */
export interface TinyConfig {
  vocab: number;
  length: number;
  dModel: number;
  heads: number;
  dFf: number;
  layers: number;
}

export type Method = 'full' | 'fmft' | 'lora' | 'adapter' | 'prefix';

export interface PeftConfig {
  method: Method;
  loraRank?: number;
  loraAlpha?: number;
  adapterSize?: number;
  prefixLength?: number;
}

/** Where parameters come from: trainable graph inputs, or frozen initializers with known values. */
export class ParamStore {
  readonly trainable: ParamSpec[] = [];
  private readonly rand: () => number;

  constructor(
    readonly values: Map<string, Float32Array>,
    private readonly isTrainable: (name: string) => boolean,
    seed: number,
  ) {
    this.rand = seededRandom(seed);
  }

  get(b: GraphBuilder, name: string, shape: number[], init: 'xavier' | 'zeros' | 'ones' | 'embed', decay = true): Tensor {
    let data = this.values.get(name);
    if (!data) {
      const n = shape.reduce((p, q) => p * q, 1);
      data = new Float32Array(n);
      if (init === 'ones') data.fill(1);
      else if (init !== 'zeros') {
        const a = init === 'embed' ? 1 : Math.sqrt(6 / (shape[0]! + shape[shape.length - 1]!));
        for (let i = 0; i < n; i++) data[i] = (this.rand() * 2 - 1) * a;
      }
      this.values.set(name, data);
    }
    if (this.isTrainable(name)) {
      const t = b.input(name, 'float32', shape);
      this.trainable.push({ tensor: t, init: data, decay });
      return t;
    }
    return b.initializer(name, 'float32', shape, data);
  }

  /** Parameters a method adds (LoRA, adapters, prefixes) and the whole model for full training. */
  static trainableFor(method: Method): (name: string) => boolean {
    if (method === 'full' || method === 'fmft') return () => true;
    const tag = method === 'lora' ? '.lora_' : method === 'adapter' ? '.adapter_' : '.prefix_';
    return (name) => name.includes(tag);
  }
}

export interface TinyModel {
  logits: Tensor;
  params: ParamStore;
}

/** Builds the model on `encIds` [B, L] and `decIds` [B, L] (int64), returning logits [B, L, V]. */
export function tinyTransformer(
  b: GraphBuilder,
  cfg: TinyConfig,
  peft: PeftConfig,
  params: ParamStore,
  encIds: Tensor,
  decIds: Tensor,
): Tensor {
  const { dModel: d, heads: H, length: L } = cfg;
  const dh = d / H;
  const P = peft.method === 'prefix' ? (peft.prefixLength ?? 4) : 0;
  const w = (name: string, shape: number[], init: 'xavier' | 'zeros' | 'ones' | 'embed' = 'xavier', decay = true) =>
    params.get(b, name, shape, init, decay);
  const ln = (x: Tensor, name: string) => b.layerNorm(x, w(`${name}.weight`, [d], 'ones', false), w(`${name}.bias`, [d], 'zeros', false));

  const proj = (x: Tensor, name: string, lora: boolean) => {
    let y = b.linear(x, w(`${name}.weight`, [d, d]), w(`${name}.bias`, [d], 'zeros', false));
    if (lora && peft.method === 'lora') {
      const r = peft.loraRank ?? 4;
      const A = w(`${name}.lora_A`, [d, r]);
      const B = w(`${name}.lora_B`, [r, d], 'zeros');
      y = b.add(y, b.mul(b.matmul(b.matmul(x, A), B), (peft.loraAlpha ?? 8) / r));
    }
    return y;
  };
  const adapter = (x: Tensor, name: string) => {
    if (peft.method !== 'adapter') return x;
    const m = peft.adapterSize ?? 16;
    const down = b.linear(x, w(`${name}.adapter_down.weight`, [d, m]), w(`${name}.adapter_down.bias`, [m], 'zeros', false));
    const up = b.linear(b.relu(down), w(`${name}.adapter_up.weight`, [m, d], 'zeros'), w(`${name}.adapter_up.bias`, [d], 'zeros', false));
    return b.add(x, up);
  };
  const heads = (x: Tensor, T: number) => b.transpose(b.reshape(x, [0, T, H, dh]), [0, 2, 1, 3]);
  const causal = (T: number) => {
    const m = new Float32Array(T * (P + T));
    for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) if (j > i) m[i * (P + T) + P + j] = -1e9;
    return b.constant(Array.from(m), 'float32', [T, P + T]);
  };
  const attention = (q: Tensor, kv: Tensor, name: string, isCausal: boolean) => {
    let k = heads(proj(kv, `${name}.k`, false), L);
    let v = heads(proj(kv, `${name}.v`, true), L);
    const qh = heads(proj(q, `${name}.q`, true), L);
    if (P > 0) {
      const batchShape = b.concat([b.slice(b.shapeOf(q), [0], [1], [0]), b.ints([H, P, dh])], 0);
      const pk = b.reshape(w(`${name}.prefix_k`, [P, d], 'embed'), [1, P, H, dh]);
      const pv = b.reshape(w(`${name}.prefix_v`, [P, d], 'embed'), [1, P, H, dh]);
      const tr = (x: Tensor) => b.expand(b.transpose(x, [0, 2, 1, 3]), batchShape, [q.shape[0]!, H, P, dh]);
      k = b.concat([tr(pk), k], 2);
      v = b.concat([tr(pv), v], 2);
    }
    let scores = b.div(b.matmul(qh, b.transposeLast(k)), Math.sqrt(dh));
    if (isCausal) scores = b.add(scores, causal(L));
    const ctx = b.matmul(b.softmax(scores, -1), v);
    const merged = b.reshape(b.transpose(ctx, [0, 2, 1, 3]), [0, L, d]);
    return adapter(proj(merged, `${name}.o`, false), `${name}`);
  };
  const ffn = (x: Tensor, name: string) => {
    const h = b.relu(b.linear(x, w(`${name}.fc1.weight`, [d, cfg.dFf]), w(`${name}.fc1.bias`, [cfg.dFf], 'zeros', false)));
    return adapter(b.linear(h, w(`${name}.fc2.weight`, [cfg.dFf, d]), w(`${name}.fc2.bias`, [d], 'zeros', false)), name);
  };

  const embed = w('embed.weight', [cfg.vocab, d], 'embed');
  let x = b.add(b.gather(embed, encIds), w('enc.pos', [L, d], 'embed'));
  for (let i = 0; i < cfg.layers; i++) {
    const n = `enc.${i}`;
    const h = ln(x, `${n}.ln1`);
    x = b.add(x, attention(h, h, `${n}.self`, false));
    x = b.add(x, ffn(ln(x, `${n}.ln2`), `${n}.ffn`));
  }
  const memory = ln(x, 'enc.ln');
  let y = b.add(b.gather(embed, decIds), w('dec.pos', [L, d], 'embed'));
  for (let i = 0; i < cfg.layers; i++) {
    const n = `dec.${i}`;
    const h = ln(y, `${n}.ln1`);
    y = b.add(y, attention(h, h, `${n}.self`, true));
    y = b.add(y, attention(ln(y, `${n}.ln2`), memory, `${n}.cross`, false));
    y = b.add(y, ffn(ln(y, `${n}.ln3`), `${n}.ffn`));
  }
  return b.linear(ln(y, 'dec.ln'), w('lm_head.weight', [d, cfg.vocab]));
}
