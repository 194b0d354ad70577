/** Reading and writing strided views: the layout machinery behind copy, writeStrided, binary and where. */
import type { HostArray, StridedView } from '../../tensor/backend.js';
import { sameShape, sizeOf } from '../../tensor/shape.js';

/** Where a view's elements sit, without the storage they sit in. */
export type Layout = Pick<StridedView, 'shape' | 'strides' | 'offset'>;

/**
 * A view walked as rows: element j of row r sits at rows[r] + j * innerStride.
 * Dimensions are collapsed first so rows are as long as the layout allows (per-row overhead stays small).
 */
interface RowPlan {
  rows: Float64Array;
  inner: number;
  innerStride: number;
}

function planRows(shape: readonly number[], strides: readonly number[], offset: number): RowPlan {
  if (sizeOf(shape) === 0) return { rows: new Float64Array(0), inner: 0, innerStride: 0 };
  const dims: number[] = [];
  const steps: number[] = [];
  for (let k = 0; k < shape.length; k++) {
    const size = shape[k]!;
    const stride = strides[k]!;
    if (size === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && steps[last] === stride * size) {
      dims[last] = dims[last]! * size;
      steps[last] = stride;
    } else {
      dims.push(size);
      steps.push(stride);
    }
  }
  if (dims.length === 0) return { rows: Float64Array.of(offset), inner: 1, innerStride: 0 };
  const inner = dims.pop()!;
  const innerStride = steps.pop()!;
  const rows = new Float64Array(sizeOf(dims));
  const index = new Array<number>(dims.length).fill(0);
  let base = offset;
  for (let r = 0; r < rows.length; r++) {
    rows[r] = base;
    for (let d = dims.length - 1; d >= 0; d--) {
      base += steps[d]!;
      if (++index[d]! < dims[d]!) break;
      base -= steps[d]! * dims[d]!;
      index[d] = 0;
    }
  }
  return { rows, inner, innerStride };
}

/** Throws unless the view is shaped `shape` and every offset it can reach lies inside its storage. */
export function checkView(view: StridedView, shape: readonly number[], what: string): void {
  const { strides, offset } = view;
  if (!sameShape(view.shape, shape)) {
    throw new Error(`${what}: view shape [${view.shape.join(', ')}] does not match [${shape.join(', ')}]`);
  }
  if (strides.length !== shape.length) {
    throw new Error(`${what}: ${strides.length} strides for a rank-${shape.length} view`);
  }
  if (sizeOf(shape) === 0) return;
  let lo = offset;
  let hi = offset;
  for (let k = 0; k < shape.length; k++) {
    const span = (shape[k]! - 1) * strides[k]!;
    if (span < 0) lo += span;
    else hi += span;
  }
  if (!Number.isInteger(lo) || lo < 0 || hi >= view.storage.length) {
    throw new Error(
      `${what}: view of shape [${shape.join(', ')}] strides [${strides.join(', ')}] offset ${offset} ` +
        `reaches outside its storage of ${view.storage.length} elements`,
    );
  }
}

/** True when the view reads its whole storage in order, so the data can be used without copying. */
export function isDenseView(view: StridedView): boolean {
  const n = sizeOf(view.shape);
  if (view.offset !== 0 || view.storage.length !== n) return false;
  let expected = 1;
  for (let k = view.shape.length - 1; k >= 0; k--) {
    if (view.shape[k] !== 1 && view.strides[k] !== expected) return false;
    expected *= view.shape[k]!;
  }
  return true;
}

/** Gathers the view's elements, row-major, into the contiguous `dst`. */
export function readView(src: HostArray, view: Layout, dst: HostArray): void {
  const { rows, inner, innerStride } = planRows(view.shape, view.strides, view.offset);
  let o = 0;
  for (let r = 0; r < rows.length; r++) {
    const base = rows[r]!;
    for (let j = 0; j < inner; j++) dst[o++] = src[base + j * innerStride]!;
  }
}

/** Scatters the contiguous `src` to the view's positions in `dst` (the inverse of readView). */
export function writeView(dst: HostArray, view: Layout, src: HostArray): void {
  const { rows, inner, innerStride } = planRows(view.shape, view.strides, view.offset);
  let o = 0;
  for (let r = 0; r < rows.length; r++) {
    const base = rows[r]!;
    for (let j = 0; j < inner; j++) dst[base + j * innerStride] = src[o++]!;
  }
}
