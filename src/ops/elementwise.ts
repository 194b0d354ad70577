/**
 * Elementwise ops with NumPy broadcasting. Each op's backward sits beside its forward; gradients of
 * broadcast inputs are summed back to the input's shape (sumTo).
 */
import type { BinaryOp, UnaryOp, UnaryParams } from '../tensor/backend.js';
import { Tensor } from '../tensor/tensor.js';
import { broadcastShapes, reducedAxesForBroadcast, sameShape } from '../tensor/shape.js';
import { record } from '../autograd/engine.js';
import { broadcastView, contiguousView, sameBackend, wrap } from './util.js';
import { full } from './create.js';
import { reshape } from './layout.js';
import { sum } from './reduce.js';

type Operand = Tensor | number;

/** Runs fn with `x` as a tensor; a number becomes a temporary scalar tensor disposed afterwards. */
function withOperand<T>(like: Tensor, x: Operand, fn: (t: Tensor) => T): T {
  if (typeof x !== 'number') return fn(x);
  const t = full(like.backend, [], x);
  try {
    return fn(t);
  } finally {
    t.dispose();
  }
}

/** Sums `g` over the axes that broadcasting expanded, giving a tensor of `shape`. */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const axes = reducedAxesForBroadcast(shape, g.shape);
  const s = sum(g, axes);
  return reshape(s, shape);
}

function unaryRaw(op: UnaryOp, x: Tensor, params?: UnaryParams): Tensor {
  const b = sameBackend(op, x);
  return wrap(b, b.unary(op, x.storage, params), x.shape);
}

function binaryRaw(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const be = sameBackend(op, a, b);
  const shape = broadcastShapes(a.shape, b.shape);
  const av = sameShape(a.shape, shape) ? contiguousView(a) : broadcastView(a, shape);
  const bv = sameShape(b.shape, shape) ? contiguousView(b) : broadcastView(b, shape);
  return wrap(be, be.binary(op, av, bv, shape), shape);
}

// ---- unary ----------------------------------------------------------------

function unaryOp(op: UnaryOp, x: Tensor, grad: ((x: Tensor, out: Tensor, g: Tensor) => Tensor) | null, params?: UnaryParams): Tensor {
  const out = unaryRaw(op, x, params);
  if (grad) record(out, op, [x], (g) => [grad(x, out, g)]);
  return out;
}

export const neg = (x: Tensor): Tensor => unaryOp('neg', x, (_x, _o, g) => neg(g));
export const exp = (x: Tensor): Tensor => unaryOp('exp', x, (_x, o, g) => mul(g, o));
export const log = (x: Tensor): Tensor => unaryOp('log', x, (x, _o, g) => div(g, x));
export const sqrt = (x: Tensor): Tensor => unaryOp('sqrt', x, (_x, o, g) => div(mul(g, 0.5), o));
export const rsqrt = (x: Tensor): Tensor => unaryOp('rsqrt', x, (_x, o, g) => mul(g, mul(powScalar(o, 3), -0.5)));
export const abs = (x: Tensor): Tensor => unaryOp('abs', x, (x, _o, g) => mul(g, sign(x)));
export const sign = (x: Tensor): Tensor => unaryOp('sign', x, (x) => unaryRaw('affine', x, { a: 0, b: 0 }));
/** The backward is one fused pass, g * step(x) (the backend's 'reluGrad'), instead of step then mul. */
export const relu = (x: Tensor): Tensor => unaryOp('relu', x, (x, _o, g) => binaryRaw('reluGrad', g, x));
export const sigmoid = (x: Tensor): Tensor => unaryOp('sigmoid', x, (_x, o, g) => mul(g, mul(o, affine(o, -1, 1))));
export const tanh = (x: Tensor): Tensor => unaryOp('tanh', x, (_x, o, g) => mul(g, affine(square(o), -1, 1)));
export const square = (x: Tensor): Tensor => unaryOp('square', x, (x, _o, g) => mul(g, mul(x, 2)));
export const reciprocal = (x: Tensor): Tensor => unaryOp('reciprocal', x, (_x, o, g) => neg(mul(g, square(o))));
export const floor = (x: Tensor): Tensor => unaryOp('floor', x, (x) => unaryRaw('affine', x, { a: 0, b: 0 }));
/** x > 0 ? 1 : 0 (no gradient). */
export const step = (x: Tensor): Tensor => unaryOp('step', x, null);
/** x * a + b. */
export const affine = (x: Tensor, a: number, b: number): Tensor => unaryOp('affine', x, (_x, _o, g) => unaryRaw('affine', g, { a, b: 0 }), { a, b });
export const powScalar = (x: Tensor, p: number): Tensor =>
  unaryOp('powScalar', x, (x, _o, g) => mul(g, mul(unaryRaw('powScalar', x, { a: p - 1 }), p)), { a: p });
/** min(max(x, lo), hi); the gradient passes where lo <= x <= hi (PyTorch's rule). */
export function clamp(x: Tensor, lo: number, hi: number): Tensor {
  return unaryOp('clamp', x, (x, _o, g) => mul(g, mul(ge(x, lo), le(x, hi))), { a: lo, b: hi });
}
export const toInt = (x: Tensor): Tensor => unaryRaw('toInt', x);
export const toFloat = (x: Tensor): Tensor => unaryRaw('toFloat', x);

// ---- binary ---------------------------------------------------------------

export function add(a: Tensor, b: Operand): Tensor {
  if (typeof b === 'number') return affine(a, 1, b);
  const out = binaryRaw('add', a, b);
  return record(out, 'add', [a, b], (g) => [a.requiresGrad ? sumTo(g, a.shape) : null, b.requiresGrad ? sumTo(g, b.shape) : null]);
}

export function sub(a: Tensor, b: Operand): Tensor {
  if (typeof b === 'number') return affine(a, 1, -b);
  const out = binaryRaw('sub', a, b);
  return record(out, 'sub', [a, b], (g) => [a.requiresGrad ? sumTo(g, a.shape) : null, b.requiresGrad ? sumTo(neg(g), b.shape) : null]);
}

export function mul(a: Tensor, b: Operand): Tensor {
  if (typeof b === 'number') return affine(a, b, 0);
  const out = binaryRaw('mul', a, b);
  return record(out, 'mul', [a, b], (g) => [
    a.requiresGrad ? sumTo(mul(g, b), a.shape) : null,
    b.requiresGrad ? sumTo(mul(g, a), b.shape) : null,
  ]);
}

export function div(a: Tensor, b: Operand): Tensor {
  if (typeof b === 'number') return affine(a, 1 / b, 0);
  const out = binaryRaw('div', a, b);
  return record(out, 'div', [a, b], (g) => [
    a.requiresGrad ? sumTo(div(g, b), a.shape) : null,
    b.requiresGrad ? sumTo(neg(div(mul(g, out), b)), b.shape) : null,
  ]);
}

/** a ** b elementwise (b may be a tensor); for a scalar exponent prefer powScalar. */
export function pow(a: Tensor, b: Operand): Tensor {
  if (typeof b === 'number') return powScalar(a, b);
  const out = binaryRaw('pow', a, b);
  return record(out, 'pow', [a, b], (g) => [
    a.requiresGrad ? sumTo(mul(g, mul(b, binaryRaw('pow', a, sub(b, 1)))), a.shape) : null,
    b.requiresGrad ? sumTo(mul(g, mul(out, log(a))), b.shape) : null,
  ]);
}

/** Elementwise maximum; ties split the gradient equally (as PyTorch does). */
export function maximum(a: Tensor, b: Operand): Tensor {
  return extremum('max', a, b);
}

export function minimum(a: Tensor, b: Operand): Tensor {
  return extremum('min', a, b);
}

function extremum(op: 'max' | 'min', a: Tensor, b: Operand): Tensor {
  const out = withOperand(a, b, (bt) => binaryRaw(op, a, bt));
  const inputs = typeof b === 'number' ? [a] : [a, b];
  return record(out, op === 'max' ? 'maximum' : 'minimum', inputs, (g) => {
    const wa = withOperand(a, b, (bt) => add(op === 'max' ? gt(a, bt) : lt(a, bt), mul(eq(a, bt), 0.5)));
    const ga = a.requiresGrad ? sumTo(mul(g, wa), a.shape) : null;
    const gb = typeof b !== 'number' && b.requiresGrad ? sumTo(mul(g, affine(wa, -1, 1)), b.shape) : null;
    return [ga, gb];
  });
}

// ---- comparisons (float 0/1, no gradient) -----------------------------------

const compare = (op: BinaryOp) => (a: Tensor, b: Operand): Tensor => withOperand(a, b, (bt) => binaryRaw(op, a, bt));
export const eq = compare('eq');
export const ne = compare('ne');
export const lt = compare('lt');
export const le = compare('le');
export const gt = compare('gt');
export const ge = compare('ge');

/** cond != 0 ? a : b with broadcasting over all three. */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  const out = withOperand(cond, a, (at) => withOperand(cond, b, (bt) => {
    const be = sameBackend('where', cond, at, bt);
    const shape = broadcastShapes(broadcastShapes(cond.shape, at.shape), bt.shape);
    return wrap(be, be.where(broadcastView(cond, shape), broadcastView(at, shape), broadcastView(bt, shape), shape), shape);
  }));
  const at = typeof a === 'number' ? null : a;
  const bt = typeof b === 'number' ? null : b;
  return record(out, 'where', [cond, ...(at ? [at] : []), ...(bt ? [bt] : [])], (g) => {
    const grads: Array<Tensor | null> = [null];
    if (at) grads.push(at.requiresGrad ? sumTo(where(cond, g, 0), at.shape) : null);
    if (bt) grads.push(bt.requiresGrad ? sumTo(where(cond, 0, g), bt.shape) : null);
    return grads;
  });
}
