/** Shape arithmetic shared by every backend and op. Shapes are plain number arrays, row-major. */

export type Shape = readonly number[];

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

export function assertShape(shape: Shape, what = 'shape'): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${what} must hold non-negative integers, got [${shape.join(', ')}]`);
  }
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** NumPy broadcasting of two shapes; throws naming both shapes when they do not broadcast. */
export function broadcastShapes(a: Shape, b: Shape): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`shapes [${a.join(', ')}] and [${b.join(', ')}] do not broadcast (dimension ${i}: ${da} vs ${db})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * Strides that read a contiguous tensor of `shape` as if it had `outShape` (broadcast dims get stride 0).
 * `shape` must broadcast to `outShape`.
 */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const own = contiguousStrides(shape);
  const rank = outShape.length;
  const strides = new Array<number>(rank).fill(0);
  for (let i = 0; i < rank; i++) {
    const j = shape.length - rank + i;
    if (j < 0) continue;
    strides[i] = shape[j] === 1 ? 0 : own[j]!;
  }
  return strides;
}

/** Normalises a possibly negative axis for a tensor of the given rank. */
export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new Error(`axis ${axis} is out of range for rank ${rank}`);
  return a;
}

export function normAxes(axes: number | readonly number[] | undefined, rank: number): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : [...axes];
  const out = [...new Set(list.map((a) => normAxis(a, rank)))].sort((x, y) => x - y);
  return out;
}

/** Sums a gradient of `gradShape` back down to `shape` (the inverse of broadcasting): the axes to reduce. */
export function reducedAxesForBroadcast(shape: Shape, gradShape: Shape): number[] {
  const axes: number[] = [];
  const lead = gradShape.length - shape.length;
  for (let i = 0; i < gradShape.length; i++) {
    if (i < lead) axes.push(i);
    else if (shape[i - lead] === 1 && gradShape[i] !== 1) axes.push(i);
  }
  return axes;
}
