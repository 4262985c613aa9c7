/** Graph → ONNX ModelProto bytes, through onnx-proto. */
import onnxProto from 'onnx-proto';
import { DTYPE_CODE, type Attr, type ConstantData, type Graph } from './builder.ts';
import type { Shape, Tensor } from './tensor.ts';

const { onnx } = onnxProto;
type IGraphProto = onnxProto.onnx.IGraphProto;
type IAttributeProto = onnxProto.onnx.IAttributeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type IValueInfoProto = onnxProto.onnx.IValueInfoProto;

const AT = onnx.AttributeProto.AttributeType;

/** IR version 8 pairs with opsets up to 18; 9 with 19-20; 10 with 21+. */
function irVersionFor(opset: number): number {
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

export interface SerializeOptions {
  producer?: string;
  /** extra opset imports, e.g. { 'com.microsoft': 1 } */
  domains?: Record<string, number>;
}

export function serializeModel(g: Graph, o: SerializeOptions = {}): Uint8Array {
  if (g.root !== g) throw new RangeError(`serializeModel: ${g.name} is a subgraph; serialize its root`);
  const opsetImport = [{ domain: '', version: g.opset }];
  const domains = { ...o.domains };
  for (const n of allNodes(g)) if (n.domain && !(n.domain in domains)) domains[n.domain] = 1;
  for (const [domain, version] of Object.entries(domains)) opsetImport.push({ domain, version });
  const model = onnx.ModelProto.create({
    irVersion: irVersionFor(g.opset),
    producerName: o.producer ?? 'synehr',
    opsetImport,
    graph: graphProto(g),
  });
  return onnx.ModelProto.encode(model).finish();
}

function* allNodes(g: Graph): Generator<Graph['nodes'][number]> {
  for (const n of g.nodes) {
    yield n;
    for (const a of Object.values(n.attrs)) if (a.type === 'graph') yield* allNodes(a.value);
  }
}

function graphProto(g: Graph): IGraphProto {
  return {
    name: g.name,
    node: g.nodes.map((n, i) => ({
      opType: n.op,
      domain: n.domain,
      input: n.inputs,
      output: n.outputs,
      name: `${n.op}_${i}_${n.outputs[0] ?? ''}`,
      attribute: Object.entries(n.attrs).map(([k, a]) => attributeProto(k, a)),
    })),
    input: g.inputs.map((t) => valueInfo(t.name, t)),
    output: g.outputs.map((o) => valueInfo(o.name, o.tensor)),
    initializer: g.root === g ? g.initializers.map((c) => tensorProto(c.name, c)) : [],
  };
}

function attributeProto(name: string, a: Attr): IAttributeProto {
  switch (a.type) {
    case 'int':
      return { name, type: AT.INT, i: a.value };
    case 'float':
      return { name, type: AT.FLOAT, f: a.value };
    case 'string':
      return { name, type: AT.STRING, s: new TextEncoder().encode(a.value) };
    case 'ints':
      return { name, type: AT.INTS, ints: a.value };
    case 'floats':
      return { name, type: AT.FLOATS, floats: a.value };
    case 'tensor':
      return { name, type: AT.TENSOR, t: tensorProto(name, a.value) };
    case 'graph':
      return { name, type: AT.GRAPH, g: graphProto(a.value) };
  }
}

function tensorProto(name: string, c: ConstantData): ITensorProto {
  const d = c.data;
  return {
    name,
    dims: c.dims,
    dataType: DTYPE_CODE[c.dtype],
    rawData: new Uint8Array(d.buffer, d.byteOffset, d.byteLength),
  };
}

function valueInfo(name: string, t: Tensor): IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType: DTYPE_CODE[t.dtype], shape: t.shape ? shapeProto(t.shape) : null } },
  };
}

function shapeProto(shape: Shape) {
  return {
    dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : typeof d === 'string' ? { dimParam: d } : {})),
  };
}
