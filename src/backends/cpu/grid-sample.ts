/**
 * Bilinear grid sampling with exactly PyTorch's grid_sample semantics (mode 'bilinear',
 * padding 'zeros' or 'border', either align_corners), and its gradients for x and grid.
 */
import type { FloatArray, GridSampleParams } from '../../tensor/backend.js';
import { expectLength } from './storage.js';

/** A source coordinate in pixels and its derivative with respect to the normalised grid value. */
interface SourceCoord {
  pos: number;
  dpos: number;
}

/**
 * PyTorch's grid_sampler_compute_source_index_set_grad: unnormalise, then for 'border' clamp to
 * [0, size-1]. The clamp's gradient is zero on and beyond the borders (PyTorch treats them as out).
 */
function sourceCoord(g: number, size: number, p: GridSampleParams, into: SourceCoord): void {
  let pos: number;
  let scale: number;
  if (p.alignCorners) {
    scale = (size - 1) / 2;
    pos = ((g + 1) / 2) * (size - 1);
  } else {
    scale = size / 2;
    pos = ((g + 1) * size - 1) / 2;
  }
  if (p.padding === 'border') {
    if (pos <= 0) {
      pos = 0;
      scale = 0;
    } else if (pos >= size - 1) {
      pos = size - 1;
      scale = 0;
    }
  }
  into.pos = pos;
  into.dpos = scale;
}

/** The four taps around (px, py) with their bilinear weights and whether each lies in the image. */
interface Taps {
  x0: number; y0: number;
  /** Weights of the north-west, north-east, south-west, south-east taps. */
  nw: number; ne: number; sw: number; se: number;
  inX0: boolean; inX1: boolean; inY0: boolean; inY1: boolean;
}

function bilinearTaps(px: number, py: number, w: number, h: number, t: Taps): void {
  const x0 = Math.floor(px);
  const y0 = Math.floor(py);
  const x1 = x0 + 1;
  const y1 = y0 + 1;
  // The same products PyTorch forms, so the reference agrees with it to the last bit where possible.
  t.nw = (x1 - px) * (y1 - py);
  t.ne = (px - x0) * (y1 - py);
  t.sw = (x1 - px) * (py - y0);
  t.se = (px - x0) * (py - y0);
  t.x0 = x0;
  t.y0 = y0;
  t.inX0 = x0 >= 0 && x0 < w;
  t.inX1 = x1 >= 0 && x1 < w;
  t.inY0 = y0 >= 0 && y0 < h;
  t.inY1 = y1 >= 0 && y1 < h;
}

function newTaps(): Taps {
  return { x0: 0, y0: 0, nw: 0, ne: 0, sw: 0, se: 0, inX0: false, inX1: false, inY0: false, inY1: false };
}

export function checkGridSample(p: GridSampleParams, xLength: number, gridLength: number, dyLength?: number): void {
  expectLength(xLength, p.n * p.c * p.h * p.w, 'gridSample input x');
  expectLength(gridLength, p.n * p.outH * p.outW * 2, 'gridSample grid');
  if (dyLength !== undefined) expectLength(dyLength, p.n * p.c * p.outH * p.outW, 'gridSample output gradient');
}

export function gridSampleForward(x: FloatArray, grid: FloatArray, p: GridSampleParams, out: FloatArray): void {
  const { n, c, h, w, outH, outW } = p;
  const cx: SourceCoord = { pos: 0, dpos: 0 };
  const cy: SourceCoord = { pos: 0, dpos: 0 };
  const t = newTaps();
  const outPlane = outH * outW;
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < outPlane; o++) {
      const g = (b * outPlane + o) * 2;
      sourceCoord(grid[g]!, w, p, cx);
      sourceCoord(grid[g + 1]!, h, p, cy);
      bilinearTaps(cx.pos, cy.pos, w, h, t);
      const tap = t.y0 * w + t.x0;
      for (let ch = 0; ch < c; ch++) {
        const base = (b * c + ch) * h * w + tap;
        let v = 0;
        if (t.inY0 && t.inX0) v += x[base]! * t.nw;
        if (t.inY0 && t.inX1) v += x[base + 1]! * t.ne;
        if (t.inY1 && t.inX0) v += x[base + w]! * t.sw;
        if (t.inY1 && t.inX1) v += x[base + w + 1]! * t.se;
        out[(b * c + ch) * outPlane + o] = v;
      }
    }
  }
}

export function gridSampleBackward(
  dy: FloatArray, x: FloatArray, grid: FloatArray, p: GridSampleParams, dx: FloatArray, dgrid: FloatArray,
): void {
  const { n, c, h, w, outH, outW } = p;
  const cx: SourceCoord = { pos: 0, dpos: 0 };
  const cy: SourceCoord = { pos: 0, dpos: 0 };
  const t = newTaps();
  const outPlane = outH * outW;
  // Many outputs can read one input pixel, so dx is summed in float64 first.
  const dxAcc = new Float64Array(dx.length);
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < outPlane; o++) {
      const g = (b * outPlane + o) * 2;
      sourceCoord(grid[g]!, w, p, cx);
      sourceCoord(grid[g + 1]!, h, p, cy);
      const px = cx.pos;
      const py = cy.pos;
      bilinearTaps(px, py, w, h, t);
      const x1 = t.x0 + 1;
      const y1 = t.y0 + 1;
      const tap = t.y0 * w + t.x0;
      // d(out)/d(px) and d(out)/d(py), summed over channels, weighted by the incoming gradient.
      let gx = 0;
      let gy = 0;
      for (let ch = 0; ch < c; ch++) {
        const base = (b * c + ch) * h * w + tap;
        const gOut = dy[(b * c + ch) * outPlane + o]!;
        if (t.inY0 && t.inX0) {
          const v = x[base]!;
          dxAcc[base] += t.nw * gOut;
          gx -= v * (y1 - py) * gOut;
          gy -= v * (x1 - px) * gOut;
        }
        if (t.inY0 && t.inX1) {
          const v = x[base + 1]!;
          dxAcc[base + 1] += t.ne * gOut;
          gx += v * (y1 - py) * gOut;
          gy -= v * (px - t.x0) * gOut;
        }
        if (t.inY1 && t.inX0) {
          const v = x[base + w]!;
          dxAcc[base + w] += t.sw * gOut;
          gx -= v * (py - t.y0) * gOut;
          gy += v * (x1 - px) * gOut;
        }
        if (t.inY1 && t.inX1) {
          const v = x[base + w + 1]!;
          dxAcc[base + w + 1] += t.se * gOut;
          gx += v * (py - t.y0) * gOut;
          gy += v * (px - t.x0) * gOut;
        }
      }
      dgrid[g] = gx * cx.dpos;
      dgrid[g + 1] = gy * cy.dpos;
    }
  }
  dx.set(dxAcc);
}
