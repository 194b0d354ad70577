/**
 * NCHW convolution (groups 1, dilation 1) and its two gradients as direct loops: the reference every
 * WGSL kernel is checked against. Accumulators are float64, never coarser than the storage.
 *
 * All three share one indexing fact: output (oy, ox) reads input (oy*strideH - padH + ky, ox*strideW - padW + kx).
 * For a fixed tap (ky, kx) the outputs whose input lies inside the image form a contiguous range,
 * computed once per tap so the inner loops carry no bounds checks. Channels are folded four at a
 * time into each pass over a row (see madd.ts).
 */
import type { Conv2dParams, FloatArray } from '../../tensor/backend.js';
import { dot1, dot4, madd1, madd4 } from './madd.js';
import { expectLength } from './storage.js';

/** Outputs [lo, hi) whose input index o*stride - pad + tap lies in [0, size). */
export function validOutputs(tap: number, pad: number, stride: number, size: number, outSize: number): [number, number] {
  const lo = Math.max(0, Math.ceil((pad - tap) / stride));
  const hi = Math.min(outSize, Math.floor((size - 1 + pad - tap) / stride) + 1);
  return [lo, Math.max(lo, hi)];
}

export function checkConv2d(p: Conv2dParams, sizes: { x?: number; w?: number; dy?: number; bias?: number }): void {
  for (const [name, v] of Object.entries(p)) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`conv2d: ${name} must be a non-negative integer, got ${v}`);
  }
  if (p.strideH < 1 || p.strideW < 1) throw new Error(`conv2d: strides must be at least 1, got ${p.strideH}x${p.strideW}`);
  if (sizes.x !== undefined) expectLength(sizes.x, p.n * p.cIn * p.h * p.w, 'conv2d input x');
  if (sizes.w !== undefined) expectLength(sizes.w, p.cOut * p.cIn * p.kh * p.kw, 'conv2d weight');
  if (sizes.dy !== undefined) expectLength(sizes.dy, p.n * p.cOut * p.outH * p.outW, 'conv2d output gradient');
  if (sizes.bias !== undefined) expectLength(sizes.bias, p.cOut, 'conv2d bias');
}

/** y[b, co, oy, ox] = bias[co] + sum over ci, ky, kx of x[b, ci, iy, ix] * w[co, ci, ky, kx]. */
export function conv2dForward(x: FloatArray, w: FloatArray, bias: FloatArray | null, p: Conv2dParams, out: FloatArray): void {
  const { n, cIn, h, cOut, kh, kw, strideH, strideW, padH, padW, outH, outW } = p;
  const width = p.w;
  const inPlane = h * width;
  const taps = kh * kw;
  const acc = new Float64Array(outH * outW);
  for (let b = 0; b < n; b++) {
    for (let co = 0; co < cOut; co++) {
      acc.fill(bias ? bias[co]! : 0);
      for (let ky = 0; ky < kh; ky++) {
        const [oy0, oy1] = validOutputs(ky, padH, strideH, h, outH);
        for (let kx = 0; kx < kw; kx++) {
          const [ox0, ox1] = validOutputs(kx, padW, strideW, width, outW);
          const count = ox1 - ox0;
          // Input offset of output (oy, ox0) within a channel plane.
          const rowAt = (oy: number) => (oy * strideH - padH + ky) * width + ox0 * strideW - padW + kx;
          let ci = 0;
          for (; ci + 4 <= cIn; ci += 4) {
            const wAt = (co * cIn + ci) * taps + ky * kw + kx;
            const xBase = (b * cIn + ci) * inPlane;
            for (let oy = oy0; oy < oy1; oy++) {
              madd4(acc, oy * outW + ox0, 1, x, xBase + rowAt(oy), strideW, inPlane, count,
                w[wAt]!, w[wAt + taps]!, w[wAt + 2 * taps]!, w[wAt + 3 * taps]!);
            }
          }
          for (; ci < cIn; ci++) {
            const wv = w[(co * cIn + ci) * taps + ky * kw + kx]!;
            const xBase = (b * cIn + ci) * inPlane;
            for (let oy = oy0; oy < oy1; oy++) madd1(acc, oy * outW + ox0, 1, x, xBase + rowAt(oy), strideW, count, wv);
          }
        }
      }
      out.set(acc, (b * cOut + co) * outH * outW);
    }
  }
}

/** dx[b, ci, iy, ix] = sum of dy[b, co, oy, ox] * w[co, ci, ky, kx] over every (oy, ox, ky, kx) that read it. */
export function conv2dBackwardData(dy: FloatArray, w: FloatArray, p: Conv2dParams, out: FloatArray): void {
  const { n, cIn, h, cOut, kh, kw, strideH, strideW, padH, padW, outH, outW } = p;
  const width = p.w;
  const outPlane = outH * outW;
  const taps = kh * kw;
  const acc = new Float64Array(h * width);
  for (let b = 0; b < n; b++) {
    for (let ci = 0; ci < cIn; ci++) {
      acc.fill(0);
      for (let ky = 0; ky < kh; ky++) {
        const [oy0, oy1] = validOutputs(ky, padH, strideH, h, outH);
        for (let kx = 0; kx < kw; kx++) {
          const [ox0, ox1] = validOutputs(kx, padW, strideW, width, outW);
          const count = ox1 - ox0;
          const rowAt = (oy: number) => (oy * strideH - padH + ky) * width + ox0 * strideW - padW + kx;
          // Consecutive output channels sit cIn*taps apart in w and one plane apart in dy.
          const wStep = cIn * taps;
          let co = 0;
          for (; co + 4 <= cOut; co += 4) {
            const wAt = (co * cIn + ci) * taps + ky * kw + kx;
            const dyBase = (b * cOut + co) * outPlane;
            for (let oy = oy0; oy < oy1; oy++) {
              madd4(acc, rowAt(oy), strideW, dy, dyBase + oy * outW + ox0, 1, outPlane, count,
                w[wAt]!, w[wAt + wStep]!, w[wAt + 2 * wStep]!, w[wAt + 3 * wStep]!);
            }
          }
          for (; co < cOut; co++) {
            const wv = w[(co * cIn + ci) * taps + ky * kw + kx]!;
            const dyBase = (b * cOut + co) * outPlane;
            for (let oy = oy0; oy < oy1; oy++) madd1(acc, rowAt(oy), strideW, dy, dyBase + oy * outW + ox0, 1, count, wv);
          }
        }
      }
      out.set(acc, (b * cIn + ci) * h * width);
    }
  }
}

/** dw[co, ci, ky, kx] = sum over b, oy, ox of dy[b, co, oy, ox] * x[b, ci, iy, ix]. */
export function conv2dBackwardWeight(x: FloatArray, dy: FloatArray, p: Conv2dParams, out: FloatArray): void {
  const { n, cIn, h, cOut, kh, kw, strideH, strideW, padH, padW, outH, outW } = p;
  const width = p.w;
  const inPlane = h * width;
  const outPlane = outH * outW;
  const taps = kh * kw;
  const sums = new Float64Array(4);
  for (let co = 0; co < cOut; co++) {
    for (let ky = 0; ky < kh; ky++) {
      const [oy0, oy1] = validOutputs(ky, padH, strideH, h, outH);
      for (let kx = 0; kx < kw; kx++) {
        const [ox0, ox1] = validOutputs(kx, padW, strideW, width, outW);
        const count = ox1 - ox0;
        const rowAt = (oy: number) => (oy * strideH - padH + ky) * width + ox0 * strideW - padW + kx;
        const outAt = (ci: number) => (co * cIn + ci) * taps + ky * kw + kx;
        let ci = 0;
        for (; ci + 4 <= cIn; ci += 4) {
          sums.fill(0);
          for (let b = 0; b < n; b++) {
            const xBase = (b * cIn + ci) * inPlane;
            const dyBase = (b * cOut + co) * outPlane;
            for (let oy = oy0; oy < oy1; oy++) dot4(sums, dy, dyBase + oy * outW + ox0, x, xBase + rowAt(oy), strideW, inPlane, count);
          }
          for (let t = 0; t < 4; t++) out[outAt(ci + t)] = sums[t]!;
        }
        for (; ci < cIn; ci++) {
          let sum = 0;
          for (let b = 0; b < n; b++) {
            const xBase = (b * cIn + ci) * inPlane;
            const dyBase = (b * cOut + co) * outPlane;
            for (let oy = oy0; oy < oy1; oy++) sum += dot1(dy, dyBase + oy * outW + ox0, x, xBase + rowAt(oy), strideW, count);
          }
          out[outAt(ci)] = sum;
        }
      }
    }
  }
}
