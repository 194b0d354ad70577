/** Reductions over sorted axes of a contiguous tensor. */
import type { FloatArray, HostArray, ReduceOp } from '../../tensor/backend.js';
import { contiguousStrides, sizeOf } from '../../tensor/shape.js';
import { readView } from './strided.js';

export function checkReduceAxes(op: ReduceOp, shape: readonly number[], axes: readonly number[]): void {
  for (let i = 0; i < axes.length; i++) {
    const a = axes[i]!;
    if (!Number.isInteger(a) || a < 0 || a >= shape.length) throw new Error(`reduce: axis ${a} is out of range for rank ${shape.length}`);
    if (i > 0 && a <= axes[i - 1]!) throw new Error(`reduce: axes [${axes.join(', ')}] must be sorted and distinct`);
  }
  if (op === 'argmax' && axes.length !== 1) throw new Error(`reduce 'argmax' takes exactly one axis, got [${axes.join(', ')}]`);
  const group = sizeOf(axes.map((a) => shape[a]!));
  if (op !== 'sum' && group === 0 && sizeOf(reducedShape(shape, axes)) > 0) {
    throw new Error(`reduce '${op}' over an empty axis has no identity`);
  }
}

export function reducedShape(shape: readonly number[], axes: readonly number[]): number[] {
  return shape.filter((_, k) => !axes.includes(k));
}

/** x with the reduced axes moved innermost, so each output is one contiguous run of `group` values. */
function groupedInput(x: FloatArray, shape: readonly number[], axes: readonly number[]): FloatArray {
  const kept = shape.map((_, k) => k).filter((k) => !axes.includes(k));
  const order = [...kept, ...axes];
  if (order.every((k, i) => k === i)) return x;
  const strides = contiguousStrides(shape);
  const out = x instanceof Float64Array ? new Float64Array(x.length) : new Float32Array(x.length);
  readView(x, { shape: order.map((k) => shape[k]!), strides: order.map((k) => strides[k]!), offset: 0 }, out);
  return out;
}

export function reduceFloat(op: 'sum' | 'max' | 'min', x: FloatArray, shape: readonly number[], axes: readonly number[], out: FloatArray): void {
  const src = groupedInput(x, shape, axes);
  const group = sizeOf(axes.map((a) => shape[a]!));
  for (let o = 0; o < out.length; o++) {
    const start = o * group;
    const end = start + group;
    if (op === 'sum') {
      let acc = 0;
      for (let i = start; i < end; i++) acc += src[i]!;
      out[o] = acc;
    } else {
      // NaN is sticky (PyTorch's max/min propagate it): nothing compares greater or less than NaN.
      let best = src[start]!;
      for (let i = start + 1; i < end && best === best; i++) {
        const v = src[i]!;
        if (v !== v || (op === 'max' ? v > best : v < best)) best = v;
      }
      out[o] = best;
    }
  }
}

/** First maximum along `axis` wins; a NaN counts as the maximum, as in PyTorch. */
export function argmax(x: FloatArray, shape: readonly number[], axis: number, out: HostArray): void {
  const outer = sizeOf(shape.slice(0, axis));
  const n = shape[axis]!;
  const inner = sizeOf(shape.slice(axis + 1));
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * n * inner + i;
      let best = x[base]!;
      let bestIndex = 0;
      for (let k = 1; k < n && best === best; k++) {
        const v = x[base + k * inner]!;
        if (v > best || v !== v) {
          best = v;
          bestIndex = k;
        }
      }
      out[o * inner + i] = bestIndex;
    }
  }
}
