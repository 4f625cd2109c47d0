import type { GraphBuilder } from '../graph/builder.js';
import type { Node, Tensor } from '../graph/ir.js';

/**
 * The projections of a built graph, as LoRA and bottleneck adapters find them: a MatMul whose weight input is
 * the transpose of a 2-D `<module>.weight` initializer or input (the `x W^T` that hfLinear builds). One matcher
 * for every PEFT method, so that they all see the same modules.
 */
export interface Projection {
  node: Node;
  /** The `<module>.weight` tensor. */
  weight: Tensor;
  /** The module name: the weight's name without ".weight". */
  module: string;
  /** The projection's output: after its bias (`<module>.bias`) when it has one. */
  output: Tensor;
}

export function projections(b: GraphBuilder): Projection[] {
  const out: Projection[] = [];
  for (const node of b.nodes.slice()) {
    if (node.op !== 'MatMul') continue;
    const tr = node.inputs[1]!.producer;
    if (!tr || tr.op !== 'Transpose') continue;
    const weight = tr.inputs[0]!;
    if (!weight.name.endsWith('.weight') || weight.rank !== 2) continue;
    const module = weight.name.slice(0, -'.weight'.length);
    const y = node.outputs[0]!;
    const biasAdd = b.nodes.find((n) => n.op === 'Add' && n.inputs[0] === y && n.inputs[1]?.name === `${module}.bias`);
    out.push({ node, weight, module, output: biasAdd ? biasAdd.outputs[0]! : y });
  }
  return out;
}
