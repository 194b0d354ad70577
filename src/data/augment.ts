/**
 * Data augmentation on the device. Each image gets an affine sampling grid built on the host from a
 * seeded Rng (random crop with zero padding, horizontal flip, random resized crop), and one bilinear
 * grid sample applies the whole batch's transforms in a single kernel.
 *
 * Geometry uses align_corners=false pixel centres: source x = left + (x + 0.5) * cropW / W - 0.5.
 * Integer crop offsets and flips therefore land exactly on pixel centres and copy pixels unchanged.
 */
import type { Tensor } from '../tensor/tensor.js';
import { gridSample } from '../ops/sample.js';
import { tensor } from '../ops/create.js';
import { Rng } from './rng.js';

export interface AugmentOptions {
  /** Random crop after zero padding by this many pixels (CIFAR's 4). 0 or undefined: off. */
  cropPadding?: number;
  /** Probability of a horizontal flip (0.5 for natural images; 0 for digits and signs). */
  flipProbability?: number;
  /** torchvision RandomResizedCrop: area scale range and aspect-ratio range; output keeps the input size. */
  resizedCrop?: { scale: [number, number]; ratio: [number, number] };
}

/** One image's crop window in source pixels (float allowed) and whether it is mirrored. */
export interface CropWindow {
  top: number;
  left: number;
  height: number;
  width: number;
  flip: boolean;
}

/** torchvision's RandomResizedCrop.get_params, seeded: ten tries, then a centre crop fallback. */
export function sampleResizedCrop(rng: Rng, h: number, w: number, scale: [number, number], ratio: [number, number]): Omit<CropWindow, 'flip'> {
  const area = h * w;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logLo, logHi));
    const cw = Math.round(Math.sqrt(target * aspect));
    const ch = Math.round(Math.sqrt(target / aspect));
    if (cw > 0 && cw <= w && ch > 0 && ch <= h) {
      return { top: rng.int(h - ch + 1), left: rng.int(w - cw + 1), height: ch, width: cw };
    }
  }
  const inRatio = w / h;
  let cw = w;
  let ch = h;
  if (inRatio < ratio[0]) ch = Math.round(w / ratio[0]);
  else if (inRatio > ratio[1]) cw = Math.round(h * ratio[1]);
  return { top: Math.floor((h - ch) / 2), left: Math.floor((w - cw) / 2), height: ch, width: cw };
}

/** Draws one window per image, in image order, from `rng`. */
export function sampleWindows(rng: Rng, n: number, h: number, w: number, opts: AugmentOptions): CropWindow[] {
  const out: CropWindow[] = [];
  for (let i = 0; i < n; i++) {
    let win: Omit<CropWindow, 'flip'> = { top: 0, left: 0, height: h, width: w };
    if (opts.resizedCrop) win = sampleResizedCrop(rng, h, w, opts.resizedCrop.scale, opts.resizedCrop.ratio);
    if (opts.cropPadding) {
      const p = opts.cropPadding;
      win = { ...win, top: win.top + rng.int(2 * p + 1) - p, left: win.left + rng.int(2 * p + 1) - p };
    }
    const flip = (opts.flipProbability ?? 0) > 0 && rng.uniform() < (opts.flipProbability ?? 0);
    out.push({ ...win, flip });
  }
  return out;
}

/** Normalised sampling grid [n, h, w, 2] (x, y) realising each window, for gridSample(alignCorners=false). */
export function windowsToGrid(windows: readonly CropWindow[], h: number, w: number): Float32Array {
  const grid = new Float32Array(windows.length * h * w * 2);
  windows.forEach((win, b) => {
    for (let y = 0; y < h; y++) {
      const sy = win.top + ((y + 0.5) * win.height) / h - 0.5;
      const gy = ((sy + 0.5) / h) * 2 - 1;
      for (let x = 0; x < w; x++) {
        const xo = win.flip ? w - 1 - x : x;
        const sx = win.left + ((xo + 0.5) * win.width) / w - 0.5;
        const o = ((b * h + y) * w + x) * 2;
        grid[o] = ((sx + 0.5) / w) * 2 - 1;
        grid[o + 1] = gy;
      }
    }
  });
  return grid;
}

/** Applies seeded random augmentation to a float batch [N, C, H, W] on its backend. */
export function augmentBatch(x: Tensor, rng: Rng, opts: AugmentOptions): Tensor {
  const [n, , h, w] = x.shape as [number, number, number, number];
  const windows = sampleWindows(rng, n, h, w, opts);
  const grid = tensor(x.backend, windowsToGrid(windows, h, w), [n, h, w, 2]);
  const out = gridSample(x, grid, { alignCorners: false, padding: 'zeros' });
  if (!out.requiresGrad) grid.dispose();
  return out;
}

export function isAugmenting(opts: AugmentOptions | undefined): boolean {
  return !!opts && (!!opts.cropPadding || (opts.flipProbability ?? 0) > 0 || !!opts.resizedCrop);
}
