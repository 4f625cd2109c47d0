import type { GraphBuilder } from '../../graph/builder.js';
import type { Node, Tensor } from '../../graph/ir.js';
import { ChangelingError } from '../../util/errors.js';

/**
 * Prefix-tuning as Li and Liang define it, as a graph transform: every attention (encoder and decoder
 * self-attention, cross-attention) gets P trainable key and value vectors per layer, prepended to its keys
 * and values; its mask/bias is extended with zeros so every query sees the prefix (padding stays masked).
 * Attentions are found by their shape in the graph: Softmax over MatMul(q, Transpose(k)) [+ bias], then
 * MatMul(probabilities, v). Prefix positions carry no position bias (T5's relative bias applies to real
 * tokens only). Parameters are direct (no reparameterisation MLP): `base_model.model.<site>.prefix_key` /
 * `.prefix_value` [P, heads * head_dim], where <site> is the attention module (e.g.
 * `encoder.block.0.layer.0.SelfAttention`).
 */
export interface InjectedPrefix {
  site: string;
  key: Tensor;
  value: Tensor;
  heads: number;
  headDim: number;
}

const prefixKey = (site: string, which: 'key' | 'value') => `base_model.model.${site}.prefix_${which}`;

/**
 * The attention module a query tensor was projected by: walk up to the Transpose of "<module>.q.weight" (or
 * query/q_proj). The query side, because in a cached decoder step the keys may be graph inputs (the
 * cross-attention cache) or a concatenation with the past, while the query is always projected in the graph.
 */
function siteOf(q: Tensor): string | null {
  let t: Tensor | null = q;
  for (let depth = 0; t && depth < 8; depth++) {
    const n: Node | null = t.producer;
    if (!n) return null;
    if (n.op === 'Transpose' && n.inputs[0]!.name.endsWith('.weight')) {
      const m = n.inputs[0]!.name.slice(0, -'.weight'.length);
      if (!/\.(q|query|q_proj)$/.test(m)) return null;
      return m.replace(/\.(q|query|q_proj)$/, '').replace(/\.self$/, '');
    }
    // Follow the data input (the first one, or the MatMul's weight side for projections).
    t = n.op === 'MatMul' ? n.inputs[1]! : n.inputs[0]!;
  }
  return null;
}

/**
 * `values`: trained prefixes by name; given, they are constants of the graph (inference) instead of inputs
 * (training). `optional`: a graph with no attention (the cross-attention key/value graph) is left as it is.
 */
export function injectPrefixes(
  b: GraphBuilder,
  length: number,
  o: { values?: Map<string, { shape: number[]; data: Float32Array }>; optional?: boolean } = {},
): InjectedPrefix[] {
  const found: InjectedPrefix[] = [];
  for (const sm of b.nodes.slice()) {
    if (sm.op !== 'Softmax') continue;
    const probs = sm.outputs[0]!;
    let scores = sm.inputs[0]!;
    let addNode: Node | null = null;
    if (scores.producer?.op === 'Add') {
      addNode = scores.producer;
      const mm = addNode.inputs.find((t) => t?.producer?.op === 'MatMul' && t.producer.inputs[1]?.producer?.op === 'Transpose');
      if (!mm) continue;
      scores = mm;
    }
    const scoreNode = scores.producer;
    if (!scoreNode || scoreNode.op !== 'MatMul') continue;
    const kT = scoreNode.inputs[1]!;
    const kTnode = kT.producer;
    if (!kTnode || kTnode.op !== 'Transpose') continue;
    const k = kTnode.inputs[0]!;
    const pv = b.nodes.find((n) => n.op === 'MatMul' && n.inputs[0] === probs);
    if (!pv || k.rank !== 4) continue;
    const v = pv.inputs[1]!;
    const heads = k.shape[1] as number;
    const headDim = k.shape[3] as number;
    const site = siteOf(scoreNode.inputs[0]!);
    if (!site) continue;
    const param = (which: 'key' | 'value') => {
      const name = prefixKey(site, which);
      const shape = [length, heads * headDim];
      if (!o.values) return b.input(name, 'float32', shape);
      const v = o.values.get(name);
      if (!v || v.shape.join(',') !== shape.join(','))
        throw new ChangelingError(
          'io',
          `the prefix adapter has no ${name} of shape [${shape.join(', ')}]${v ? ` (it is [${v.shape.join(', ')}])` : ''}: an adapter for another model, or another number of virtual tokens`,
        );
      return b.initializer(name, 'float32', shape, v.data);
    };
    const keyPrefix = param('key');
    const valuePrefix = param('value');
    // Build the new pieces at the end, then move them to just before the score product.
    const before = b.nodes.length;
    const batch = b.slice(b.shapeOf(k), [0], [1], [0]);
    const toHeads = (p: Tensor) =>
      b.expand(
        b.transpose(b.reshape(p, [1, length, heads, headDim]), [0, 2, 1, 3]),
        b.concat([batch, b.ints([heads, length, headDim])], 0),
        [k.shape[0]!, heads, length, headDim],
      );
    const k2 = b.concat([toHeads(keyPrefix), k], 2);
    const v2 = b.concat([toHeads(valuePrefix), v], 2);
    const kT2 = b.transposeLast(k2);
    let bias2: Tensor | null = null;
    let biasIndex = -1;
    if (addNode) {
      biasIndex = addNode.inputs.findIndex((t) => t !== scores);
      const bias = addNode.inputs[biasIndex]!;
      const lead = b.slice(b.shapeOf(bias), [0], [bias.rank - 1], [0]);
      const zeros = b.constantOfShape(b.concat([lead, b.ints([length])], 0), 'float32', 0, [...bias.shape.slice(0, -1), length]);
      bias2 = b.concat([zeros, bias], bias.rank - 1);
    }
    const added = b.nodes.splice(before);
    b.nodes.splice(b.nodes.indexOf(scoreNode), 0, ...added);
    scoreNode.inputs[1] = kT2;
    if (addNode && bias2) addNode.inputs[biasIndex] = bias2;
    pv.inputs[1] = v2;
    // The rewired nodes' output shapes gain P along the key axis.
    const grow = (t: Tensor) =>
      ((t as { shape: unknown }).shape = [
        ...t.shape.slice(0, -1),
        typeof t.shape.at(-1) === 'number' ? (t.shape.at(-1) as number) + length : `${t.shape.at(-1)}+${length}`,
      ]);
    grow(scores);
    if (addNode) grow(addNode.outputs[0]!);
    grow(probs);
    found.push({ site, key: keyPrefix, value: valuePrefix, heads, headDim });
  }
  if (found.length === 0 && !o.optional) throw new ChangelingError('usage', 'prefix-tuning: no attention found in the graph');
  return found;
}

/** Initialisation: U(-0.1, 0.1) for every prefix key and value. */
export function initPrefix(p: InjectedPrefix, rand: () => number): Record<string, Float32Array> {
  const n = (p.key.shape as number[]).reduce((a, d) => a * d, 1);
  const fresh = () => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * 0.1);
  return { [p.key.name]: fresh(), [p.value.name]: fresh() };
}
