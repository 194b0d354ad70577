/** Unary, binary and where kernels over plain typed arrays; the backend allocates and checks dtypes. */
import type { BinaryOp, DType, HostArray, StridedView, UnaryOp, UnaryParams } from '../../tensor/backend.js';
import { sizeOf } from '../../tensor/shape.js';
import { checkView, isDenseView, readView } from './strided.js';

type Scalar1 = (x: number) => number;
type Scalar2 = (x: number, y: number) => number;

/** An empty array of the same element type as `like`. */
export function arrayLike(like: HostArray, length: number): HostArray {
  if (like instanceof Float64Array) return new Float64Array(length);
  if (like instanceof Float32Array) return new Float32Array(length);
  return new Int32Array(length);
}

/** The view's elements in row-major order: the storage itself when already dense, else a copy. */
export function denseData(data: HostArray, view: StridedView, shape: readonly number[], what: string): HostArray {
  checkView(view, shape, what);
  if (isDenseView(view)) return data;
  const out = arrayLike(data, sizeOf(shape));
  readView(data, view, out);
  return out;
}

/** WGSL's float -> i32 conversion saturates; doing the same keeps out-of-range values comparable. */
function truncateToInt32(x: number): number {
  if (x !== x) return 0;
  return Math.trunc(Math.min(Math.max(x, -2147483648), 2147483647));
}

function sigmoid(x: number): number {
  // Two branches so exp never overflows to produce Infinity/Infinity.
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

function floatUnary(op: UnaryOp, params: UnaryParams): Scalar1 {
  switch (op) {
    case 'neg': return (x) => -x;
    case 'exp': return Math.exp;
    case 'log': return Math.log;
    case 'sqrt': return Math.sqrt;
    case 'rsqrt': return (x) => 1 / Math.sqrt(x);
    case 'abs': return Math.abs;
    case 'sign': return (x) => (x > 0 ? 1 : x < 0 ? -1 : x); // keeps 0, -0 and NaN as they are
    case 'relu': return (x) => (x > 0 || x !== x ? x : 0); // NaN propagates, as in PyTorch
    case 'sigmoid': return sigmoid;
    case 'tanh': return Math.tanh;
    case 'square': return (x) => x * x;
    case 'reciprocal': return (x) => 1 / x;
    case 'floor': return Math.floor;
    case 'step': return (x) => (x > 0 ? 1 : 0);
    case 'affine': {
      const a = params.a ?? 1;
      const b = params.b ?? 0;
      return (x) => x * a + b;
    }
    case 'powScalar': {
      const a = params.a;
      if (a === undefined) throw new Error("unary 'powScalar' needs params.a (the exponent)");
      return (x) => Math.pow(x, a);
    }
    case 'clamp': {
      const lo = params.a ?? -Infinity;
      const hi = params.b ?? Infinity;
      return (x) => Math.min(Math.max(x, lo), hi);
    }
    case 'toInt': return truncateToInt32;
    case 'toFloat': return (x) => x;
  }
}

/** The output dtype of a unary op on `input`; throws for combinations the backend does not define. */
export function unaryOutputDType(op: UnaryOp, input: DType): DType {
  if (op === 'toFloat') {
    if (input !== 'int32') throw new Error(`unary 'toFloat' expects an int32 input, got ${input}`);
    return 'float32';
  }
  if (input !== 'float32') throw new Error(`unary '${op}' expects a float32 input, got ${input}`);
  return op === 'toInt' ? 'int32' : 'float32';
}

export function unaryKernel(op: UnaryOp, x: HostArray, params: UnaryParams, out: HostArray): void {
  const f = floatUnary(op, params);
  for (let i = 0; i < x.length; i++) out[i] = f(x[i]!);
}

const comparisons: ReadonlySet<BinaryOp> = new Set<BinaryOp>(['eq', 'ne', 'lt', 'le', 'gt', 'ge']);

function scalarBinary(op: BinaryOp): Scalar2 {
  switch (op) {
    case 'add': return (x, y) => x + y;
    case 'sub': return (x, y) => x - y;
    case 'mul': return (x, y) => x * y;
    case 'div': return (x, y) => x / y;
    case 'pow': return Math.pow;
    case 'max': return Math.max; // Math.max/min already return NaN when either side is NaN
    case 'min': return Math.min;
    case 'eq': return (x, y) => (x === y ? 1 : 0);
    case 'ne': return (x, y) => (x !== y ? 1 : 0);
    case 'lt': return (x, y) => (x < y ? 1 : 0);
    case 'le': return (x, y) => (x <= y ? 1 : 0);
    case 'gt': return (x, y) => (x > y ? 1 : 0);
    case 'ge': return (x, y) => (x >= y ? 1 : 0);
    // A real product (not a select), so NaN/infinite gradients behave as in mul(g, step(x)).
    case 'reluGrad': return (g, x) => g * (x > 0 ? 1 : 0);
  }
}

/** Float inputs allow every op; int32 pairs only compare (indices are never combined arithmetically here). */
export function binaryOutputDType(op: BinaryOp, a: DType, b: DType): DType {
  if (a !== b) throw new Error(`binary '${op}': mixed dtypes ${a} and ${b}`);
  if (a === 'int32' && !comparisons.has(op)) throw new Error(`binary '${op}' is not supported on int32 inputs`);
  return 'float32';
}

export function binaryKernel(op: BinaryOp, a: HostArray, b: HostArray, out: HostArray): void {
  const f = scalarBinary(op);
  for (let i = 0; i < out.length; i++) out[i] = f(a[i]!, b[i]!);
}

export function whereKernel(cond: HostArray, a: HostArray, b: HostArray, out: HostArray): void {
  for (let i = 0; i < out.length; i++) out[i] = cond[i] !== 0 ? a[i]! : b[i]!;
}
