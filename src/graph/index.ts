/**
 * The graph engine: a typed ONNX graph builder, reverse-mode autodiff, serialization.
 * ONNX Runtime itself is reached only through ./runtime.ts.
 *
 *   const g = new Graph('example');                       // opset 17 unless given
 *   const x = g.input('x', 'float32', ['batch_size', 4]);  // symbolic and static dims
 *   const w = g.input('w', 'float32', [4, 3]);
 *   const loss = g.reduceSum(g.gelu(g.matMul(x, w)), undefined, false);
 *   g.output(loss, 'loss');
 *   const [dw] = grad(loss, [w]);                          // backward ops appended to g
 *   g.output(dw!, 'grad.w');
 *   const session = await createSession(serializeModel(g), { threads: 2 });
 *
 * Loop/If bodies are `g.subgraph(name)` graphs (they see the outer graph's tensors and all
 * constants); `g.loop(...)` and `g.ifThenElse(...)` attach them.
 */
export { Graph, attr, swapLastPerm, DEFAULT_OPSET, DTYPE_CODE, GELU_C, GELU_K } from './builder.ts';
export type { Attr, NodeSpec, TapeEntry, ConstantData, Initializer, NumericArray } from './builder.ts';
export { Tensor, isFloat, broadcastShapes, formatShape, elementCount } from './tensor.ts';
export type { DType, Dim, Shape } from './tensor.ts';
export { grad, sumToShape, DIFFERENTIABLE_OPS } from './autodiff.ts';
export { serializeModel } from './serialize.ts';
export type { SerializeOptions } from './serialize.ts';
