/**
 * WaNet's per-batch poisoning, for the training loop (as in the original train loop and BackdoorBench):
 * of a shuffled batch of B images, the first floor(B * rate) are warped and relabelled, the next
 * floor(that * crossRatio) are warped by the grid plus fresh noise with labels kept (noise mode, which
 * stops the model from learning "any warp"), and the rest stay clean.
 */
import { Rng } from '../data/rng.js';
import { imageCount, pixelsPerImage } from './image.js';
import { labelFn } from './labels.js';
import type { BackdoorSpec, ImageShape } from './types.js';
import { wanetGrid, wanetNoiseGrids, warpImages } from './wanet.js';

export interface WanetBatch {
  images: Float32Array;
  labels: Int32Array;
  /** Batch positions [0, backdoor) were warped and relabelled. */
  backdoor: number;
  /** Batch positions [backdoor, backdoor + cross) were noise-warped with labels kept. */
  cross: number;
}

export interface WanetPoisoner {
  /** The fixed warping grid, [H, W, 2] (also usable with ops.gridSample, align_corners=True). */
  grid: Float32Array;
  /** Poisons one batch; `seed` draws the noise-mode grids, so pass a fresh one per step. */
  poisonBatch(images: Float32Array, labels: Int32Array, seed: number): WanetBatch;
}

export function wanetPoisoner(backdoor: BackdoorSpec, shape: ImageShape, numClasses: number): WanetPoisoner {
  const trigger = backdoor.trigger;
  if (trigger.type !== 'warp') throw new Error(`wanetPoisoner: the backdoor's trigger is "${trigger.type}", not "warp"`);
  const grid = wanetGrid(trigger, shape.h, shape.w);
  const relabel = labelFn(backdoor.label);
  const size = pixelsPerImage(shape);
  return {
    grid,
    poisonBatch(images, labels, seed) {
      const n = imageCount(images, shape, 'wanetPoisonBatch');
      if (labels.length !== n) throw new Error(`wanetPoisonBatch: ${labels.length} labels for ${n} images`);
      const bd = Math.floor(n * backdoor.poison.rate);
      const cross = Math.min(Math.floor(bd * trigger.crossRatio), n - bd);
      const out = images.slice();
      const outLabels = labels.slice();
      out.set(warpImages(images.subarray(0, bd * size), shape, grid), 0);
      for (let i = 0; i < bd; i++) outLabels[i] = relabel(labels[i]!, numClasses);
      if (cross > 0) {
        const noisy = wanetNoiseGrids(grid, cross, shape.h, shape.w, new Rng(seed));
        out.set(warpImages(images.subarray(bd * size, (bd + cross) * size), shape, noisy), bd * size);
      }
      return { images: out, labels: outLabels, backdoor: bd, cross };
    },
  };
}
