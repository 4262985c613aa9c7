/** The graph engine: typed ONNX graph builder, reverse-mode autodiff, serialization. */
export { Graph, attr, DEFAULT_OPSET, DTYPE_CODE, GELU_C, GELU_K } from './builder.ts';
export type { Attr, NodeSpec, TapeEntry, ConstantData, Initializer, NumericArray } from './builder.ts';
export { Tensor, isFloat, broadcastShapes, formatShape, elementCount } from './tensor.ts';
export type { DType, Dim, Shape } from './tensor.ts';
export { grad, sumToShape, DIFFERENTIABLE_OPS } from './autodiff.ts';
export { serializeModel } from './serialize.ts';
export type { SerializeOptions } from './serialize.ts';
