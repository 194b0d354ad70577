/** 2-D max and average pooling over NCHW planes, and their gradients. */
import type { FloatArray, Pool2dParams } from '../../tensor/backend.js';
import { expectLength } from './storage.js';

export function checkPool2d(p: Pool2dParams, xLength: number, yLength?: number): void {
  for (const [name, v] of Object.entries(p)) {
    if (typeof v === 'number' && (!Number.isInteger(v) || v < 0)) throw new Error(`pool2d: ${name} must be a non-negative integer, got ${v}`);
  }
  if (p.strideH < 1 || p.strideW < 1) throw new Error(`pool2d: strides must be at least 1, got ${p.strideH}x${p.strideW}`);
  expectLength(xLength, p.n * p.c * p.h * p.w, 'pool2d input');
  if (yLength !== undefined) expectLength(yLength, p.n * p.c * p.outH * p.outW, 'pool2d output gradient');
}

/**
 * Calls `visit` for every output with its window clipped to the image: rows [y0, y1), columns [x0, x1)
 * of the plane starting at `planeBase`. Padding positions lie outside the clip.
 */
function forEachWindow(
  p: Pool2dParams,
  visit: (outIndex: number, planeBase: number, y0: number, y1: number, x0: number, x1: number) => void,
): void {
  const { h, w, kh, kw, strideH, strideW, padH, padW, outH, outW } = p;
  for (let plane = 0; plane < p.n * p.c; plane++) {
    const planeBase = plane * h * w;
    for (let oy = 0; oy < outH; oy++) {
      const top = oy * strideH - padH;
      const y0 = Math.max(top, 0);
      const y1 = Math.min(top + kh, h);
      for (let ox = 0; ox < outW; ox++) {
        const left = ox * strideW - padW;
        visit((plane * outH + oy) * outW + ox, planeBase, y0, y1, Math.max(left, 0), Math.min(left + kw, w));
      }
    }
  }
}

/**
 * Offset of the window's maximum, scanning row-major: the first maximum wins, a NaN wins like in
 * PyTorch, and -1 when the window holds only padding (padding counts as -infinity).
 */
function maxOffset(x: FloatArray, planeBase: number, width: number, y0: number, y1: number, x0: number, x1: number): number {
  let best = -Infinity;
  let bestAt = -1;
  for (let y = y0; y < y1; y++) {
    const row = planeBase + y * width;
    for (let xi = x0; xi < x1; xi++) {
      const v = x[row + xi]!;
      if (bestAt < 0 || v > best || v !== v) {
        best = v;
        bestAt = row + xi;
      }
    }
  }
  return bestAt;
}

function avgDivisor(p: Pool2dParams, y0: number, y1: number, x0: number, x1: number): number {
  return p.countIncludePad ? p.kh * p.kw : (y1 - y0) * (x1 - x0);
}

export function pool2dForward(x: FloatArray, p: Pool2dParams, out: FloatArray): void {
  forEachWindow(p, (o, base, y0, y1, x0, x1) => {
    if (p.kind === 'max') {
      const at = maxOffset(x, base, p.w, y0, y1, x0, x1);
      out[o] = at < 0 ? -Infinity : x[at]!;
      return;
    }
    let sum = 0;
    for (let y = y0; y < y1; y++) for (let xi = x0; xi < x1; xi++) sum += x[base + y * p.w + xi]!;
    const divisor = avgDivisor(p, y0, y1, x0, x1);
    // A window entirely in padding averages nothing; 0 rather than 0/0.
    out[o] = divisor > 0 ? sum / divisor : 0;
  });
}

export function pool2dBackward(dy: FloatArray, x: FloatArray, p: Pool2dParams, out: FloatArray): void {
  // Overlapping windows add into the same input, so gradients are summed in float64 first.
  const acc = new Float64Array(out.length);
  forEachWindow(p, (o, base, y0, y1, x0, x1) => {
    const g = dy[o]!;
    if (p.kind === 'max') {
      const at = maxOffset(x, base, p.w, y0, y1, x0, x1);
      if (at >= 0) acc[at] += g;
      return;
    }
    const divisor = avgDivisor(p, y0, y1, x0, x1);
    if (divisor === 0) return;
    const share = g / divisor;
    for (let y = y0; y < y1; y++) for (let xi = x0; xi < x1; xi++) acc[base + y * p.w + xi] += share;
  });
  out.set(acc);
}
