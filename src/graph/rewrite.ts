import type { GraphBuilder } from './builder.js';
import type { Node, Tensor } from './ir.js';

/**
 * Graph surgery for transforms that wrap an existing value (LoRA around a projection, an adapter after a
 * sublayer): `wrap` builds new nodes from `value`; they are moved to just after its producer (keeping the
 * node list topologically ordered, which autodiff relies on), and every later use of `value` (and a graph
 * output) is redirected to the result.
 */
export function wrapValue(b: GraphBuilder, value: Tensor, wrap: (v: Tensor) => Tensor): Tensor {
  const producer = value.producer;
  const at = producer ? b.nodes.indexOf(producer) : -1;
  const before = b.nodes.length;
  const result = wrap(value);
  const added = b.nodes.splice(before);
  const created = new Set<Node>(added);
  b.nodes.splice(at + 1, 0, ...added);
  for (const n of b.nodes) {
    if (created.has(n)) continue;
    n.inputs = n.inputs.map((t) => (t === value ? result : t));
  }
  for (const blk of b.blocks) {
    if (blk.output === value) blk.output = result;
    if (blk.input === value) blk.input = result;
  }
  const oi = b.outputs.indexOf(value);
  if (oi >= 0) b.outputs[oi] = result;
  return result;
}
