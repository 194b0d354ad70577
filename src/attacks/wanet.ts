/**
 * WaNet (Nguyen & Tran 2021; BackdoorBench's port): images are warped by a fixed smooth random field.
 *
 * Field: k x k x 2 values uniform in [-1, 1], divided by their mean absolute value, upsampled to H x W
 * bicubically with align_corners=True (PyTorch's kernel, A = -0.75, border-clamped taps), as the original.
 * Grid: (identity + s * field / size) * grid_rescale, clamped to [-1, 1], where the x offsets are divided by W
 * and the y offsets by H (the original divides both by H and only handles square images, where the two agree).
 * Warping is F.grid_sample(mode='bilinear', align_corners=True): grid -1 and 1 are the centres of the first and
 * last pixels. Clamped grids never sample outside the image, so the padding mode does not matter.
 */
import { Rng } from '../data/rng.js';
import { imageCount } from './image.js';
import type { ImageShape } from './types.js';

export interface WarpParams {
  k: number;
  s: number;
  gridRescale: number;
  seed: number;
}

/** The k x k field, [2, k, k] (channel 0 moves x, channel 1 moves y), normalised by its mean |value|. */
export function wanetField(k: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const field = new Float64Array(2 * k * k);
  let meanAbs = 0;
  for (let i = 0; i < field.length; i++) {
    field[i] = rng.uniform() * 2 - 1;
    meanAbs += Math.abs(field[i]!);
  }
  meanAbs /= field.length;
  return Float32Array.from(field, (v) => v / meanAbs);
}

const CUBIC_A = -0.75;

function cubicWeights(t: number): [number, number, number, number] {
  const near = (x: number): number => ((CUBIC_A + 2) * x - (CUBIC_A + 3)) * x * x + 1;
  const far = (x: number): number => ((CUBIC_A * x - 5 * CUBIC_A) * x + 8 * CUBIC_A) * x - 4 * CUBIC_A;
  return [far(t + 1), near(t), near(1 - t), far(2 - t)];
}

/** 1-D taps (clamped indices and weights) of align_corners=True bicubic resampling from n to m points. */
function bicubicTaps(n: number, m: number): Array<{ idx: number[]; wts: number[] }> {
  const scale = m > 1 ? (n - 1) / (m - 1) : 0;
  return Array.from({ length: m }, (_, i) => {
    const real = i * scale;
    const base = Math.floor(real);
    const wts = cubicWeights(real - base);
    const idx = [-1, 0, 1, 2].map((d) => Math.min(Math.max(base + d, 0), n - 1));
    return { idx, wts };
  });
}

/** Bicubic (align_corners=True) upsampling of [channels, n, n] planes to [channels, h, w]. */
export function upsampleBicubic(planes: Float32Array, channels: number, n: number, h: number, w: number): Float32Array {
  const rows = bicubicTaps(n, h);
  const cols = bicubicTaps(n, w);
  const out = new Float32Array(channels * h * w);
  for (let ch = 0; ch < channels; ch++) {
    const plane = ch * n * n;
    for (let y = 0; y < h; y++) {
      const ry = rows[y]!;
      for (let x = 0; x < w; x++) {
        const cx = cols[x]!;
        let acc = 0;
        for (let a = 0; a < 4; a++) {
          let row = 0;
          for (let b = 0; b < 4; b++) row += cx.wts[b]! * planes[plane + ry.idx[a]! * n + cx.idx[b]!]!;
          acc += ry.wts[a]! * row;
        }
        out[(ch * h + y) * w + x] = acc;
      }
    }
  }
  return out;
}

/** The warping grid, [H, W, 2] holding (x, y) in [-1, 1]. s = 0 gives the identity grid. */
export function wanetGrid(params: WarpParams, h: number, w: number): Float32Array {
  const field = upsampleBicubic(wanetField(params.k, params.seed), 2, params.k, h, w);
  const grid = new Float32Array(h * w * 2);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const idX = w > 1 ? -1 + (2 * x) / (w - 1) : 0;
      const idY = h > 1 ? -1 + (2 * y) / (h - 1) : 0;
      const gx = (idX + (params.s * field[y * w + x]!) / w) * params.gridRescale;
      const gy = (idY + (params.s * field[(h + y) * w + x]!) / h) * params.gridRescale;
      grid[(y * w + x) * 2] = Math.min(Math.max(gx, -1), 1);
      grid[(y * w + x) * 2 + 1] = Math.min(Math.max(gy, -1), 1);
    }
  }
  return grid;
}

/**
 * Bilinear grid sampling, align_corners=True, zeros padding. `grids` holds one [H, W, 2] grid shared by
 * every image, or one per image ([n, H, W, 2]). Returns new images.
 */
export function warpImages(images: Float32Array, shape: ImageShape, grids: Float32Array): Float32Array {
  const { c, h, w } = shape;
  const n = imageCount(images, shape, 'warpImages');
  const gridSize = h * w * 2;
  const perImage = grids.length === n * gridSize && n > 1;
  if (grids.length !== gridSize && !perImage) throw new Error(`warpImages: grid has ${grids.length} values, expected ${gridSize} or ${n * gridSize}`);
  const out = new Float32Array(images.length);
  const plane = h * w;
  for (let i = 0; i < n; i++) {
    const g0 = perImage ? i * gridSize : 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const g = g0 + (y * w + x) * 2;
        const ix = ((grids[g]! + 1) / 2) * (w - 1);
        const iy = ((grids[g + 1]! + 1) / 2) * (h - 1);
        const x0 = Math.floor(ix);
        const y0 = Math.floor(iy);
        const fx = ix - x0;
        const fy = iy - y0;
        for (let ch = 0; ch < c; ch++) {
          const src = (i * c + ch) * plane;
          const at = (yy: number, xx: number): number => (yy >= 0 && yy < h && xx >= 0 && xx < w ? images[src + yy * w + xx]! : 0);
          const top = at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx;
          const bottom = at(y0 + 1, x0) * (1 - fx) + at(y0 + 1, x0 + 1) * fx;
          out[src + y * w + x] = top * (1 - fy) + bottom * fy;
        }
      }
    }
  }
  return out;
}

/** WaNet's noise mode: n grids, each grid + uniform[-1, 1) / size (x by W, y by H), clamped to [-1, 1]. */
export function wanetNoiseGrids(grid: Float32Array, n: number, h: number, w: number, rng: Rng): Float32Array {
  const out = new Float32Array(n * grid.length);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < grid.length; p += 2) {
      const gx = grid[p]! + (rng.uniform() * 2 - 1) / w;
      const gy = grid[p + 1]! + (rng.uniform() * 2 - 1) / h;
      out[i * grid.length + p] = Math.min(Math.max(gx, -1), 1);
      out[i * grid.length + p + 1] = Math.min(Math.max(gy, -1), 1);
    }
  }
  return out;
}
