/**
 * The tensor IR: a graph of ONNX nodes over tensors with a dtype and a (possibly symbolic) shape.
 * Models are written against the builder (builder.ts); autodiff (grad.ts) walks this IR backwards and
 * appends the backward nodes to the same graph; serialize.ts turns it into an ONNX ModelProto.
 */
export type DType = 'float32' | 'float64' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';
/** A dimension: a number, or a name for a size known only at run time ("batch", "seq"). */
export type Dim = number | string;
export type Shape = readonly Dim[];

export type TypedData = Float32Array | Float64Array | BigInt64Array | Int32Array | Int8Array | Uint8Array;

export type AttrValue = number | string | number[] | string[] | { float: number } | { floats: number[] } | { tensor: ConstantData };

export interface ConstantData {
  dtype: DType;
  shape: number[];
  data: TypedData;
}

export type TensorKind = 'input' | 'initializer' | 'value';

export class Tensor {
  /** The node that computes this tensor; null for graph inputs and initializers. */
  constructor(
    readonly id: number,
    readonly name: string,
    readonly dtype: DType,
    readonly shape: Shape,
    readonly kind: TensorKind,
    readonly producer: Node | null,
  ) {}

  get rank(): number {
    return this.shape.length;
  }

  toString(): string {
    return `${this.name}: ${this.dtype}[${this.shape.join(', ')}]`;
  }
}

export interface Node {
  id: number;
  op: string;
  /** ONNX allows empty optional inputs: null. */
  inputs: Array<Tensor | null>;
  outputs: Tensor[];
  attrs: Record<string, AttrValue>;
  domain?: string;
}

/** The tensors computed from `from` (themselves included), through `nodes` in graph order. */
export function reachedFrom(nodes: readonly Node[], from: Iterable<Tensor>): Set<Tensor> {
  const reached = new Set<Tensor>(from);
  for (const n of nodes) if (n.inputs.some((t) => t && reached.has(t))) for (const o of n.outputs) reached.add(o);
  return reached;
}

export function isFloat(d: DType): boolean {
  return d === 'float32' || d === 'float64';
}

export function staticSize(shape: Shape): number | null {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number') return null;
    n *= d;
  }
  return n;
}

export function typedArrayFor(dtype: DType, n: number): TypedData {
  switch (dtype) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'int64':
      return new BigInt64Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'int8':
      return new Int8Array(n);
    case 'uint8':
    case 'bool':
      return new Uint8Array(n);
  }
}

export class GraphError extends Error {
  override name = 'GraphError';
}
