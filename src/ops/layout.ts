/**
 * Layout ops. Reshape is a view sharing storage; permute, slice, expand and friends make contiguous
 * copies through the backend's strided copy, and their backwards write or sum gradients back.
 */
import { Tensor } from '../tensor/tensor.js';
import { assertShape, broadcastStrides, contiguousStrides, normAxis, sizeOf, type Shape } from '../tensor/shape.js';
import { record } from '../autograd/engine.js';
import { sameBackend, shapeStr, wrap } from './util.js';
import { zeros } from './create.js';
// reduce.ts imports this file too; ES modules resolve the cycle because both only call at run time.
import { sum } from './reduce.js';

/** Same elements, new shape; one dimension may be -1. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const inferred = [...shape];
  const unknown = inferred.indexOf(-1);
  if (unknown >= 0) {
    const known = inferred.reduce((p, d, i) => (i === unknown ? p : p * d), 1);
    if (known === 0 || x.size % known !== 0) throw new Error(`reshape: cannot infer -1 reshaping ${shapeStr(x.shape)} to ${shapeStr(shape)}`);
    inferred[unknown] = x.size / known;
  }
  assertShape(inferred, 'reshape target');
  if (sizeOf(inferred) !== x.size) throw new Error(`reshape: ${shapeStr(x.shape)} (${x.size} elements) cannot become ${shapeStr(shape)}`);
  const out = Tensor.view(x, inferred);
  return record(out, 'reshape', [x], (g) => [reshape(g, x.shape)]);
}

/** Flattens dimensions from `startDim` on (torch.flatten). */
export function flatten(x: Tensor, startDim = 1): Tensor {
  const s = normAxis(startDim, Math.max(1, x.rank));
  return reshape(x, [...x.shape.slice(0, s), x.shape.slice(s).reduce((a, b) => a * b, 1)]);
}

export function permute(x: Tensor, dims: readonly number[]): Tensor {
  const be = sameBackend('permute', x);
  if (dims.length !== x.rank) throw new Error(`permute: ${dims.length} dims for a tensor of rank ${x.rank}`);
  const axes = dims.map((d) => normAxis(d, x.rank));
  if (new Set(axes).size !== axes.length) throw new Error(`permute: repeated dims [${dims.join(', ')}]`);
  const strides = contiguousStrides(x.shape);
  const shape = axes.map((a) => x.shape[a]!);
  const out = wrap(be, be.copy({ storage: x.storage, shape, strides: axes.map((a) => strides[a]!), offset: 0 }), shape);
  const inverse = new Array<number>(axes.length);
  axes.forEach((a, i) => (inverse[a] = i));
  return record(out, 'permute', [x], (g) => [permute(g, inverse)]);
}

export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  const dims = Array.from({ length: x.rank }, (_, i) => i);
  const i = normAxis(a, x.rank);
  const j = normAxis(b, x.rank);
  [dims[i], dims[j]] = [dims[j]!, dims[i]!];
  return permute(x, dims);
}

/** Broadcasts x to `shape` (materialised). */
export function expand(x: Tensor, shape: Shape): Tensor {
  const be = sameBackend('expand', x);
  const lead0 = shape.length - x.rank;
  if (lead0 < 0 || x.shape.some((d, i) => d !== 1 && d !== shape[lead0 + i])) {
    throw new Error(`expand: cannot expand ${shapeStr(x.shape)} to ${shapeStr(shape)}`);
  }
  assertShape(shape, 'expand target');
  const strides = broadcastStrides(x.shape, shape);
  const out = wrap(be, be.copy({ storage: x.storage, shape, strides, offset: 0 }), shape);
  return record(out, 'expand', [x], (g) => {
    const lead = shape.length - x.rank;
    const axes = shape.map((_, i) => i).filter((i) => i < lead || (x.shape[i - lead] === 1 && shape[i] !== 1));
    return [reshape(sum(g, axes), x.shape)];
  });
}

/** x[start:end] along each axis (ranges per axis; omitted axes are whole). Negative indices count from the end. */
export function slice(x: Tensor, ranges: ReadonlyArray<readonly [number, number] | null>): Tensor {
  const be = sameBackend('slice', x);
  const starts: number[] = [];
  const shape: number[] = [];
  x.shape.forEach((d, i) => {
    const r = ranges[i];
    let s = r ? r[0] : 0;
    let e = r ? r[1] : d;
    if (s < 0) s += d;
    if (e < 0) e += d;
    s = Math.min(Math.max(s, 0), d);
    e = Math.min(Math.max(e, s), d);
    starts.push(s);
    shape.push(e - s);
  });
  const strides = contiguousStrides(x.shape);
  const offset = starts.reduce((o, s, i) => o + s * strides[i]!, 0);
  const out = wrap(be, be.copy({ storage: x.storage, shape, strides, offset }), shape);
  return record(out, 'slice', [x], (g) => {
    const dx = zeros(be, x.shape);
    be.writeStrided({ storage: dx.storage, shape, strides, offset }, g.storage);
    return [dx];
  });
}

/** Joins tensors along `axis`. */
export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new Error('concat: no tensors');
  const be = sameBackend('concat', ...xs);
  const first = xs[0]!;
  const ax = normAxis(axis, first.rank);
  for (const t of xs) {
    if (t.rank !== first.rank || t.shape.some((d, i) => i !== ax && d !== first.shape[i])) {
      throw new Error(`concat: shapes ${xs.map((u) => shapeStr(u.shape)).join(', ')} differ outside axis ${axis}`);
    }
  }
  const shape = [...first.shape];
  shape[ax] = xs.reduce((s, t) => s + t.shape[ax]!, 0);
  const out = wrap(be, be.fill(sizeOf(shape), 0, first.dtype), shape);
  const strides = contiguousStrides(shape);
  let at = 0;
  for (const t of xs) {
    be.writeStrided({ storage: out.storage, shape: t.shape, strides, offset: at * strides[ax]! }, t.storage);
    at += t.shape[ax]!;
  }
  return record(out, 'concat', xs, (g) => {
    let from = 0;
    return xs.map((t) => {
      const r: Array<[number, number] | null> = shape.map(() => null);
      r[ax] = [from, from + t.shape[ax]!];
      from += t.shape[ax]!;
      return t.requiresGrad ? slice(g, r) : null;
    });
  });
}

/** Zero (or constant) padding: `pads[i] = [before, after]` for each axis (missing axes unpadded). */
export function pad(x: Tensor, pads: ReadonlyArray<readonly [number, number]>, value = 0): Tensor {
  const be = sameBackend('pad', x);
  const p = x.shape.map((_, i) => pads[i] ?? [0, 0]);
  if (p.some(([a, b]) => a < 0 || b < 0 || !Number.isInteger(a) || !Number.isInteger(b))) throw new Error('pad: amounts must be non-negative integers');
  const shape = x.shape.map((d, i) => d + p[i]![0] + p[i]![1]);
  const strides = contiguousStrides(shape);
  const offset = p.reduce((o, [a], i) => o + a * strides[i]!, 0);
  const out = wrap(be, be.fill(sizeOf(shape), value, x.dtype), shape);
  be.writeStrided({ storage: out.storage, shape: x.shape, strides, offset }, x.storage);
  return record(out, 'pad', [x], (g) => [slice(g, x.shape.map((d, i) => [p[i]![0], p[i]![0] + d] as [number, number]))]);
}

/** Inserts a size-1 axis. */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  const ax = normAxis(axis, x.rank + 1);
  const shape = [...x.shape];
  shape.splice(ax, 0, 1);
  return reshape(x, shape);
}

/** Overwrites dst's values with src's (same shape), in place and outside autograd: for buffers such as BN running statistics and optimiser state. */
export function assign(dst: Tensor, src: Tensor): void {
  const be = sameBackend('assign', dst, src);
  if (dst.size !== src.size) throw new Error(`assign: ${shapeStr(src.shape)} into ${shapeStr(dst.shape)}`);
  if (dst.dtype !== src.dtype) throw new Error(`assign: ${src.dtype} into ${dst.dtype}`);
  be.writeStrided({ storage: dst.storage, shape: [dst.size], strides: [1], offset: 0 }, src.storage);
}
