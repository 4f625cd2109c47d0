import onnxProto from 'onnx-proto';

/** A one-MatMul model the provider probe runs to see whether an execution provider works here and how fast. */

const { onnx } = onnxProto;

/**
 * A tiny ONNX model, Y = Relu(A x B) for n x n float32 matrices, used to check that an execution
 * provider loads and computes correctly before real models run on it. (The graph builder of
 * src/graph/ will make real models; this one needs only onnx-proto.)
 */
export function matmulProbeModel(n: number): Uint8Array {
  const tensor = (name: string) => ({
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimValue: n }, { dimValue: n }] } } },
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'changeling',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'probe',
      node: [
        { opType: 'MatMul', input: ['A', 'B'], output: ['C'], name: 'matmul' },
        { opType: 'Relu', input: ['C'], output: ['Y'], name: 'relu' },
      ],
      input: [tensor('A'), tensor('B')],
      output: [tensor('Y')],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
