/** torch.gather along the middle axis of [outer, n, inner], its adjoint scatterAdd, and oneHot. */
import type { FloatArray } from '../../tensor/backend.js';

/** Out-of-range indices are caller bugs; the reference says so instead of reading garbage. */
function checkIndex(index: number, nIn: number, what: string): void {
  if (!(index >= 0 && index < nIn)) throw new Error(`${what}: index ${index} is out of range [0, ${nIn})`);
}

export function gatherKernel(x: FloatArray, index: Int32Array, outer: number, nIn: number, inner: number, nIdx: number, out: FloatArray): void {
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < nIdx; j++) {
      const row = (o * nIdx + j) * inner;
      for (let i = 0; i < inner; i++) {
        const k = index[row + i]!;
        checkIndex(k, nIn, 'gather');
        out[row + i] = x[(o * nIn + k) * inner + i]!;
      }
    }
  }
}

export function scatterAddKernel(g: FloatArray, index: Int32Array, outer: number, nIn: number, inner: number, nIdx: number, out: FloatArray): void {
  // Repeated indices add into one slot, so sums are kept in float64 until the end.
  const acc = new Float64Array(out.length);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < nIdx; j++) {
      const row = (o * nIdx + j) * inner;
      for (let i = 0; i < inner; i++) {
        const k = index[row + i]!;
        checkIndex(k, nIn, 'scatterAdd');
        acc[(o * nIn + k) * inner + i] += g[row + i]!;
      }
    }
  }
  out.set(acc);
}

export function oneHotKernel(labels: Int32Array, n: number, classes: number, out: FloatArray): void {
  out.fill(0);
  for (let r = 0; r < n; r++) {
    const label = labels[r]!;
    checkIndex(label, classes, 'oneHot');
    out[r * classes + label] = 1;
  }
}
