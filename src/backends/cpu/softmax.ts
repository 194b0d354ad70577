/** Row-wise softmax and cross-entropy, stabilised by subtracting each row's maximum before exp. */
import type { FloatArray } from '../../tensor/backend.js';

function rowMax(x: FloatArray, start: number, cols: number): number {
  let m = -Infinity;
  for (let j = start; j < start + cols; j++) m = Math.max(m, x[j]!);
  return m;
}

/** log of sum exp(x - max) for one row; with the max added back this is the row's logsumexp. */
function logSumExpShifted(x: FloatArray, start: number, cols: number, max: number): number {
  let sum = 0;
  for (let j = start; j < start + cols; j++) sum += Math.exp(x[j]! - max);
  return Math.log(sum);
}

export function softmaxKernel(x: FloatArray, rows: number, cols: number, log: boolean, out: FloatArray): void {
  for (let r = 0; r < rows; r++) {
    const start = r * cols;
    const max = rowMax(x, start, cols);
    const lse = logSumExpShifted(x, start, cols, max);
    for (let j = start; j < start + cols; j++) {
      const shifted = x[j]! - max - lse;
      out[j] = log ? shifted : Math.exp(shifted);
    }
  }
}

function labelInRange(label: number, cols: number): boolean {
  return label >= 0 && label < cols;
}

/** ce[r] = logsumexp(x[r]) - x[r, label[r]]; NaN for a label outside [0, cols). */
export function crossEntropyKernel(logits: FloatArray, labels: Int32Array, rows: number, cols: number, out: FloatArray): void {
  for (let r = 0; r < rows; r++) {
    const label = labels[r]!;
    if (!labelInRange(label, cols)) {
      out[r] = NaN;
      continue;
    }
    const start = r * cols;
    const max = rowMax(logits, start, cols);
    out[r] = max + logSumExpShifted(logits, start, cols, max) - logits[start + label]!;
  }
}

/** dlogits[r, j] = g[r] * (softmax[r, j] - (j == label[r])); a NaN row for an out-of-range label. */
export function crossEntropyBackwardKernel(
  logits: FloatArray, labels: Int32Array, gradPerRow: FloatArray, rows: number, cols: number, out: FloatArray,
): void {
  for (let r = 0; r < rows; r++) {
    const start = r * cols;
    const label = labels[r]!;
    const g = gradPerRow[r]!;
    if (!labelInRange(label, cols)) {
      out.fill(NaN, start, start + cols);
      continue;
    }
    const max = rowMax(logits, start, cols);
    const lse = logSumExpShifted(logits, start, cols, max);
    for (let j = 0; j < cols; j++) {
      const p = Math.exp(logits[start + j]! - max - lse);
      out[start + j] = g * (j === label ? p - 1 : p);
    }
  }
}
