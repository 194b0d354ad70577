/**
 * Batch-norm kernels over contiguous [n, c, hw] data: per-channel statistics, the normalising
 * affine map, and its backward. Sums accumulate in JS numbers (doubles), so in float32 mode the
 * results are the exactly rounded statistics that the WebGPU kernels' compensated sums aim for.
 */
import type { BatchNormParams, FloatArray } from '../../tensor/backend.js';

/** Visits channel ci's values: fn(offset of the first of hw contiguous values) once per batch item. */
function channelRows(p: BatchNormParams, ci: number, fn: (base: number) => void): void {
  for (let ni = 0; ni < p.n; ni++) fn((ni * p.c + ci) * p.hw);
}

/** Two passes per channel: the mean, then the mean squared deviation from it (biased variance). */
export function batchNormStatsKernel(x: FloatArray, p: BatchNormParams, mean: FloatArray, variance: FloatArray): void {
  const m = p.n * p.hw;
  for (let ci = 0; ci < p.c; ci++) {
    let s = 0;
    channelRows(p, ci, (base) => {
      for (let j = 0; j < p.hw; j++) s += x[base + j]!;
    });
    const mu = s / m;
    let q = 0;
    channelRows(p, ci, (base) => {
      for (let j = 0; j < p.hw; j++) {
        const d = x[base + j]! - mu;
        q += d * d;
      }
    });
    mean[ci] = mu;
    variance[ci] = q / m;
  }
}

/**
 * running = (1 - momentum) * running + momentum * batch, with the unbiased batch variance. Each
 * product is rounded to the storage precision before the sum, as the composed ops it replaces did.
 */
export function runningUpdateKernel(
  runMean: FloatArray, runVar: FloatArray, mean: FloatArray, variance: FloatArray, momentum: number, m: number,
): void {
  const round = (v: number): number => (runMean instanceof Float32Array ? Math.fround(v) : v);
  const unbias = (momentum * m) / (m - 1);
  for (let ci = 0; ci < runMean.length; ci++) {
    runMean[ci] = round(runMean[ci]! * (1 - momentum)) + round(mean[ci]! * momentum);
    runVar[ci] = round(runVar[ci]! * (1 - momentum)) + round(variance[ci]! * unbias);
  }
}

function invStd(variance: FloatArray, eps: number): Float64Array {
  return Float64Array.from(variance, (v) => 1 / Math.sqrt(v + eps));
}

export function batchNormForwardKernel(
  x: FloatArray, mean: FloatArray, variance: FloatArray, weight: FloatArray | null, bias: FloatArray | null,
  p: BatchNormParams, out: FloatArray, residual: FloatArray | null = null, relu = false,
): void {
  const inv = invStd(variance, p.eps);
  for (let ci = 0; ci < p.c; ci++) {
    const mu = mean[ci]!;
    const scale = inv[ci]! * (weight ? weight[ci]! : 1);
    const shift = bias ? bias[ci]! : 0;
    channelRows(p, ci, (base) => {
      for (let j = base; j < base + p.hw; j++) {
        const v = (x[j]! - mu) * scale + shift + (residual ? residual[j]! : 0);
        out[j] = relu && !(v > 0 || v !== v) ? 0 : v; // as the relu op: NaN propagates
      }
    });
  }
}

/**
 * Per channel: sum(dy) and sum(dy * xhat), then (if wanted) dx. In training the batch statistics
 * depend on x, which adds the two mean-centred correction terms of the standard formula.
 */
export function batchNormBackwardKernel(
  dy: FloatArray, x: FloatArray, mean: FloatArray, variance: FloatArray, weight: FloatArray | null,
  p: BatchNormParams, training: boolean,
  out: { dx: FloatArray | null; dweight: FloatArray | null; dbias: FloatArray | null },
): void {
  const m = p.n * p.hw;
  const inv = invStd(variance, p.eps);
  const needSums = out.dweight !== null || out.dbias !== null || (out.dx !== null && training);
  for (let ci = 0; ci < p.c; ci++) {
    const mu = mean[ci]!;
    const is = inv[ci]!;
    let sumDy = 0;
    let sumDyXhat = 0;
    if (needSums) {
      channelRows(p, ci, (base) => {
        for (let j = base; j < base + p.hw; j++) {
          sumDy += dy[j]!;
          sumDyXhat += dy[j]! * (x[j]! - mu) * is;
        }
      });
    }
    if (out.dbias) out.dbias[ci] = sumDy;
    if (out.dweight) out.dweight[ci] = sumDyXhat;
    const dx = out.dx;
    if (!dx) continue;
    const k = is * (weight ? weight[ci]! : 1);
    if (!training) {
      // Fixed statistics: dx does not depend on x at all (so a NaN in x does not reach it).
      channelRows(p, ci, (base) => {
        for (let j = base; j < base + p.hw; j++) dx[j] = k * dy[j]!;
      });
      continue;
    }
    const meanDy = sumDy / m;
    const meanDyXhat = sumDyXhat / m;
    channelRows(p, ci, (base) => {
      for (let j = base; j < base + p.hw; j++) dx[j] = k * (dy[j]! - meanDy - (x[j]! - mu) * is * meanDyXhat);
    });
  }
}
