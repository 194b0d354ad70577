/**
 * The multiply-add row loops shared by matmul and convolution. Four source rows are folded into one
 * pass over the accumulator: V8 then does four multiply-adds per accumulator load/store, about twice
 * the throughput of one row at a time. Callers handle a remainder of fewer than four rows with madd1
 * (padding with zero weights would turn an Infinity in the source into NaN).
 */
import type { FloatArray } from '../../tensor/backend.js';

/** acc[accAt + i*accStep] += sum over t < 4 of wt * src[srcAt + t*gap + i*srcStep], for i < count. */
export function madd4(
  acc: Float64Array, accAt: number, accStep: number,
  src: FloatArray, srcAt: number, srcStep: number, gap: number, count: number,
  w0: number, w1: number, w2: number, w3: number,
): void {
  const at1 = srcAt + gap;
  const at2 = at1 + gap;
  const at3 = at2 + gap;
  for (let i = 0; i < count; i++) {
    const s = i * srcStep;
    acc[accAt + i * accStep] += w0 * src[srcAt + s]! + w1 * src[at1 + s]! + w2 * src[at2 + s]! + w3 * src[at3 + s]!;
  }
}

/** acc[accAt + i*accStep] += w * src[srcAt + i*srcStep], for i < count. */
export function madd1(
  acc: Float64Array, accAt: number, accStep: number,
  src: FloatArray, srcAt: number, srcStep: number, count: number, w: number,
): void {
  for (let i = 0; i < count; i++) acc[accAt + i * accStep] += w * src[srcAt + i * srcStep]!;
}

/** sums[t] += sum over i < count of a[aAt + i] * b[bAt + t*gap + i*bStep], for t < 4: four dot products sharing a. */
export function dot4(
  sums: Float64Array, a: FloatArray, aAt: number,
  b: FloatArray, bAt: number, bStep: number, gap: number, count: number,
): void {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (let i = 0; i < count; i++) {
    const av = a[aAt + i]!;
    const j = bAt + i * bStep;
    s0 += av * b[j]!;
    s1 += av * b[j + gap]!;
    s2 += av * b[j + 2 * gap]!;
    s3 += av * b[j + 3 * gap]!;
  }
  sums[0] += s0;
  sums[1] += s1;
  sums[2] += s2;
  sums[3] += s3;
}

/** sum over i < count of a[aAt + i] * b[bAt + i*bStep]. */
export function dot1(a: FloatArray, aAt: number, b: FloatArray, bAt: number, bStep: number, count: number): number {
  let s = 0;
  for (let i = 0; i < count; i++) s += a[aAt + i]! * b[bAt + i * bStep]!;
  return s;
}
