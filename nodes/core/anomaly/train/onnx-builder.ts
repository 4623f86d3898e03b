// A tiny ONNX graph builder over onnx-proto's generated protobuf classes: enough for the dense, float32
// graphs moby-train exports (MatMul/Add/Sub/Mul/activations). Models declare IR version 8 and opset 13,
// which onnxruntime >= 1.10 runs.
import { onnx } from 'onnx-proto';

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

/** A dimension: a fixed size or a symbolic name such as "batch". */
export type Dim = number | string;

export class OnnxGraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  constructor(private readonly graphName: string) {}

  /** A fresh intermediate tensor name. */
  tmp(prefix = 't'): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`;
    while (this.names.has(name));
    this.names.add(name);
    return name;
  }

  input(name: string, dims: Dim[]): string {
    this.claim(name);
    this.inputs.push(valueInfo(name, dims));
    return name;
  }

  output(name: string, dims: Dim[]): void {
    this.outputs.push(valueInfo(name, dims));
  }

  /** A float32 constant (weights, means, ...). Values are rounded to float32 here, once. */
  constant(prefix: string, values: ArrayLike<number>, dims: number[]): string {
    const size = dims.reduce((a, b) => a * b, 1);
    if (values.length !== size)
      throw new Error(`constant ${prefix}: ${values.length} values for dims [${dims.join(', ')}]`);
    const name = this.tmp(prefix);
    const data = Float32Array.from(values);
    this.initializers.push({
      name,
      dims,
      dataType: FLOAT,
      rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    });
    return name;
  }

  /** An int64 constant (shapes for Reshape). */
  int64Constant(prefix: string, values: number[]): string {
    const name = this.tmp(prefix);
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.initializers.push({ name, dims: [values.length], dataType: INT64, rawData: new Uint8Array(data.buffer) });
    return name;
  }

  /** Adds a node; returns its (single) output name. `out` names the output, else a fresh name is used. */
  op(opType: string, inputs: string[], out?: string, attrs: Record<string, number> = {}): string {
    const output = out ?? this.tmp(opType.toLowerCase());
    if (out) this.claim(out);
    const attribute = Object.entries(attrs).map(([name, v]) =>
      Number.isInteger(v)
        ? { name, type: onnx.AttributeProto.AttributeType.INT, i: v }
        : { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: v }
    );
    this.nodes.push({ opType, input: inputs, output: [output], name: `${opType}_${this.nodes.length}`, attribute });
    return output;
  }

  /** Serialised ModelProto bytes, ready for model.onnx or InferenceSession.create(bytes). */
  toBytes(docString = ''): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'moby-train',
      producerVersion: '1',
      docString,
      opsetImport: [{ domain: '', version: 13 }],
      graph: {
        name: this.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }

  private claim(name: string): void {
    if (this.names.has(name)) throw new Error(`tensor name ${name} used twice`);
    this.names.add(name);
  }
}

function valueInfo(name: string, dims: Dim[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/**
 * The outputs every autoencoder bundle has, from input `x` and reconstruction `rec` (both [batch, D], D =
 * window·F, time-major): `score` = mean squared error per row, `contributions` = squared error summed per
 * feature over the time steps (a 0/1 selection matrix [D, F]), and the three graph outputs.
 */
export function addReconstructionOutputs(g: OnnxGraphBuilder, x: string, rec: string, D: number, F: number): void {
  const e = g.op('Sub', [x, rec]);
  const e2 = g.op('Mul', [e, e]);
  g.op('MatMul', [e2, g.constant('mean_w', new Array(D).fill(1 / D), [D])], 'score');
  const sel = new Float32Array(D * F);
  for (let i = 0; i < D; i++) sel[i * F + (i % F)] = 1;
  g.op('MatMul', [e2, g.constant('feature_sum', sel, [D, F])], 'contributions');
  g.output('reconstruction', ['batch', D]);
  g.output('score', ['batch']);
  g.output('contributions', ['batch', F]);
}
