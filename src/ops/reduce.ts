/** Reductions along axes (sum, mean, max, argmax) and norms, with keepDim as in PyTorch. */
import { Tensor } from '../tensor/tensor.js';
import { normAxes, normAxis } from '../tensor/shape.js';
import { record } from '../autograd/engine.js';
import { sameBackend, wrap } from './util.js';
import { expand, reshape } from './layout.js';
import { abs, div, eq, mul, sqrt, square } from './elementwise.js';

function keptShape(shape: readonly number[], axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

function reducedShape(shape: readonly number[], axes: readonly number[], keepDim: boolean): number[] {
  return keepDim ? keptShape(shape, axes) : shape.filter((_, i) => !axes.includes(i));
}

/** Sum over `axes` (all when omitted). */
export function sum(x: Tensor, axes?: number | readonly number[], keepDim = false): Tensor {
  const be = sameBackend('sum', x);
  const ax = normAxes(axes, x.rank);
  const shape = reducedShape(x.shape, ax, keepDim);
  const out = wrap(be, be.reduce('sum', x.storage, x.shape, ax), shape);
  return record(out, 'sum', [x], (g) => [expand(reshape(g, keptShape(x.shape, ax)), x.shape)]);
}

export function mean(x: Tensor, axes?: number | readonly number[], keepDim = false): Tensor {
  const ax = normAxes(axes, x.rank);
  const n = ax.reduce((p, a) => p * x.shape[a]!, 1);
  return mul(sum(x, ax, keepDim), 1 / n);
}

/** Max over `axes`; the gradient is shared equally among tied maxima (PyTorch's amax rule). */
export function max(x: Tensor, axes?: number | readonly number[], keepDim = false): Tensor {
  return extremum('max', x, axes, keepDim);
}

export function min(x: Tensor, axes?: number | readonly number[], keepDim = false): Tensor {
  return extremum('min', x, axes, keepDim);
}

function extremum(op: 'max' | 'min', x: Tensor, axes: number | readonly number[] | undefined, keepDim: boolean): Tensor {
  const be = sameBackend(op, x);
  const ax = normAxes(axes, x.rank);
  const out = wrap(be, be.reduce(op, x.storage, x.shape, ax), reducedShape(x.shape, ax, keepDim));
  return record(out, op, [x], (g) => {
    const kept = keptShape(x.shape, ax);
    const hit = eq(x, reshape(out, kept));
    const count = sum(hit, ax, true);
    return [mul(div(hit, count), reshape(g, kept))];
  });
}

/** Index of the first maximum along `axis` (int32). */
export function argmax(x: Tensor, axis = -1, keepDim = false): Tensor {
  const be = sameBackend('argmax', x);
  const a = normAxis(axis, x.rank);
  return wrap(be, be.reduce('argmax', x.storage, x.shape, [a]), reducedShape(x.shape, [a], keepDim));
}

/** Sum of |x| over `axes` (all when omitted). */
export function normL1(x: Tensor, axes?: number | readonly number[], keepDim = false): Tensor {
  return sum(abs(x), axes, keepDim);
}

/** Euclidean norm over `axes` (all when omitted). */
export function normL2(x: Tensor, axes?: number | readonly number[], keepDim = false): Tensor {
  return sqrt(sum(square(x), axes, keepDim));
}
