/** Bilinear grid sampling (WaNet's warp, augmentation) and bilinear resizing built on it. */
import type { GridSampleParams } from '../tensor/backend.js';
import { Tensor } from '../tensor/tensor.js';
import { record } from '../autograd/engine.js';
import { assertFloat, sameBackend, shapeStr, wrap } from './util.js';
import { tensor } from './create.js';

export interface GridSampleOptions {
  alignCorners?: boolean;
  padding?: 'zeros' | 'border';
}

/** PyTorch's F.grid_sample(mode='bilinear'): x [N,C,H,W], grid [N,outH,outW,2] holding (x, y) in [-1, 1]. */
export function gridSample(x: Tensor, grid: Tensor, opts: GridSampleOptions = {}): Tensor {
  const be = sameBackend('gridSample', x, grid);
  assertFloat('gridSample', x, grid);
  if (x.rank !== 4) throw new Error(`gridSample: input must be NCHW, got ${shapeStr(x.shape)}`);
  if (grid.rank !== 4 || grid.shape[3] !== 2 || grid.shape[0] !== x.shape[0]) {
    throw new Error(`gridSample: grid must be [${x.shape[0]}, outH, outW, 2], got ${shapeStr(grid.shape)}`);
  }
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const p: GridSampleParams = { n, c, h, w, outH: grid.shape[1]!, outW: grid.shape[2]!, alignCorners: opts.alignCorners ?? false, padding: opts.padding ?? 'zeros' };
  const out = wrap(be, be.gridSample(x.storage, grid.storage, p), [n, c, p.outH, p.outW]);
  return record(out, 'gridSample', [x, grid], (g) => {
    const { dx, dgrid } = be.gridSampleBackward(g.storage, x.storage, grid.storage, p);
    return [wrap(be, dx, x.shape), wrap(be, dgrid, grid.shape)];
  });
}

/** Normalised sampling grid for resizing to outH x outW (align_corners=false pixel centres), one per batch item. */
export function resizeGrid(n: number, outH: number, outW: number): Float32Array {
  const g = new Float32Array(n * outH * outW * 2);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < outH; i++) {
      for (let j = 0; j < outW; j++) {
        const o = ((b * outH + i) * outW + j) * 2;
        g[o] = ((j + 0.5) / outW) * 2 - 1;
        g[o + 1] = ((i + 0.5) / outH) * 2 - 1;
      }
    }
  }
  return g;
}

/**
 * Bilinear resize equal to F.interpolate(mode='bilinear', align_corners=False) without antialiasing:
 * a grid sample at pixel centres with border padding (interpolate clamps source coordinates to the edge).
 */
export function resizeBilinear(x: Tensor, outH: number, outW: number): Tensor {
  if (x.rank !== 4) throw new Error(`resizeBilinear: input must be NCHW, got ${shapeStr(x.shape)}`);
  const grid = tensor(x.backend, resizeGrid(x.shape[0]!, outH, outW), [x.shape[0]!, outH, outW, 2]);
  const out = gridSample(x, grid, { alignCorners: false, padding: 'border' });
  // The backward reads the grid; without one pending it can go now instead of at scope end.
  if (!out.requiresGrad) grid.dispose();
  return out;
}
