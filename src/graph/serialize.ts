import onnxProto from 'onnx-proto';
import type { onnx as O } from 'onnx-proto';

/** The IR as an ONNX ModelProto (onnx-proto, opset 17), with large initializers in an external data file. */

const { onnx } = onnxProto;
import type { GraphBuilder } from './builder.js';
import { ONNX_DTYPE } from './builder.js';
import type { AttrValue, ConstantData, Shape, Tensor, TypedData } from './ir.js';

const OPSET = 17;

export interface SerializeOptions {
  /** Initializers at least this large (bytes) go to the external data file (default 1 MiB). */
  externalThreshold?: number;
  /** The external data file's name, relative to the model file (default "model.onnx.data"). */
  externalName?: string;
}

export interface SerializedModel {
  model: Uint8Array;
  /** The external data file's content, as views of the initializers (never one copied blob): empty when every initializer fits inline. */
  externalParts: Buffer[];
  externalName: string;
}

function bytesOf(data: TypedData): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function valueInfo(t: Tensor | { name: string; dtype: Tensor['dtype']; shape: Shape }): O.IValueInfoProto {
  return {
    name: t.name,
    type: {
      tensorType: {
        elemType: ONNX_DTYPE[t.dtype],
        shape: { dim: t.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function tensorProto(name: string, c: ConstantData): O.ITensorProto {
  return { name, dims: c.shape, dataType: ONNX_DTYPE[c.dtype], rawData: bytesOf(c.data) };
}

function attribute(name: string, v: AttrValue): O.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return { name, type: T.FLOAT, f: v };
    return { name, type: T.INT, i: v };
  }
  if (typeof v === 'string') return { name, type: T.STRING, s: Buffer.from(v, 'utf8') };
  if (Array.isArray(v)) {
    if (v.length > 0 && typeof v[0] === 'string')
      return { name, type: T.STRINGS, strings: (v as string[]).map((s) => Buffer.from(s, 'utf8')) };
    return { name, type: T.INTS, ints: v as number[] };
  }
  if ('float' in v) return { name, type: T.FLOAT, f: v.float };
  if ('floats' in v) return { name, type: T.FLOATS, floats: v.floats };
  return { name, type: T.TENSOR, t: tensorProto(name, v.tensor) };
}

/** The graph as an ONNX ModelProto; large initializers go to one external data blob. */
export function serialize(b: GraphBuilder, o: SerializeOptions = {}): SerializedModel {
  const threshold = o.externalThreshold ?? 1 << 20;
  const externalName = o.externalName ?? 'model.onnx.data';
  const parts: Buffer[] = [];
  let offset = 0;
  const initializer = b.initializers.map(({ tensor, data }) => {
    const raw = bytesOf(data);
    const base = { name: tensor.name, dims: tensor.shape as number[], dataType: ONNX_DTYPE[tensor.dtype] };
    if (raw.length < threshold) return { ...base, rawData: raw };
    const pad = (64 - (offset % 64)) % 64; // aligned, so the runtime can map it
    if (pad) parts.push(Buffer.alloc(pad));
    offset += pad;
    parts.push(raw);
    const entry = {
      ...base,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: externalName },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(raw.length) },
      ],
    };
    offset += raw.length;
    return entry;
  });
  const graph: O.IGraphProto = {
    name: b.name,
    input: b.inputs.map(valueInfo),
    output: b.outputs.map(valueInfo),
    initializer,
    node: b.nodes.map((n) => ({
      name: `n${n.id}_${n.op}`,
      opType: n.op,
      domain: n.domain ?? '',
      input: n.inputs.map((t) => (t ? t.name : '')),
      output: n.outputs.map((t) => t.name),
      attribute: Object.entries(n.attrs).map(([k, v]) => attribute(k, v)),
    })),
  };
  const model = onnx.ModelProto.encode({
    irVersion: 8,
    producerName: 'changeling',
    opsetImport: [
      { domain: '', version: OPSET },
      ...(b.nodes.some((n) => n.domain === 'com.microsoft') ? [{ domain: 'com.microsoft', version: 1 }] : []),
    ],
    graph,
  }).finish();
  return { model, externalParts: parts, externalName };
}
