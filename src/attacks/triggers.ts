/** Triggers as pure functions over float [0, 1] NCHW image batches. */
import { imageCount, pixelsPerImage } from './image.js';
import { cornerPatches, patchOrigin, stampPatches } from './patch.js';
import { materializePattern, type Pattern } from './patterns.js';
import { wanetGrid, warpImages } from './wanet.js';
import type { AttackSpec, ImageShape, TriggerSpec } from './types.js';

/** A trigger prepared for one image shape: maps a batch to a new, triggered batch (the input is left alone). */
export type CompiledTrigger = (images: Float32Array) => Float32Array;

/** Prepares patterns and grids once, so applying to many batches costs only the per-pixel work. */
export function compileTrigger(trigger: TriggerSpec, shape: ImageShape): CompiledTrigger {
  const who = `trigger (${trigger.type})`;
  switch (trigger.type) {
    case 'patch': {
      const { top, left } = patchOrigin(trigger.position, trigger.height, trigger.width, shape);
      const patch = { top, left, height: trigger.height, width: trigger.width, values: trigger.values };
      stampPatches(new Float32Array(pixelsPerImage(shape)), shape, [patch]); // fail now on bad values, not per batch
      return (images) => {
        imageCount(images, shape, who);
        const out = images.slice();
        stampPatches(out, shape, [patch]);
        return out;
      };
    }
    case 'corners': {
      const patches = cornerPatches(trigger.size, shape);
      return (images) => {
        imageCount(images, shape, who);
        const out = images.slice();
        stampPatches(out, shape, patches);
        return out;
      };
    }
    case 'blend': {
      const pattern = materializePattern(trigger.pattern, shape);
      const a = trigger.alpha;
      return (images) => mapWithPattern(images, shape, pattern, who, (x, p) => (1 - a) * x + a * p);
    }
    case 'additive': {
      const pattern = materializePattern(trigger.pattern, shape);
      return (images) => mapWithPattern(images, shape, pattern, who, (x, p) => Math.min(Math.max(x + p, 0), 1));
    }
    case 'warp': {
      const grid = wanetGrid(trigger, shape.h, shape.w);
      return (images) => warpImages(images, shape, grid);
    }
  }
}

function mapWithPattern(images: Float32Array, shape: ImageShape, pattern: Pattern, who: string, f: (x: number, p: number) => number): Float32Array {
  const n = imageCount(images, shape, who);
  const plane = shape.h * shape.w;
  const out = new Float32Array(images.length);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < shape.c; ch++) {
      const src = (i * shape.c + ch) * plane;
      const pat = (pattern.c === 1 ? 0 : ch) * plane;
      for (let j = 0; j < plane; j++) out[src + j] = f(images[src + j]!, pattern.values[pat + j]!);
    }
  }
  return out;
}

/** Applies backdoor `backdoor`'s trigger (default the first) to every image of the batch; returns new images. */
export function applyTrigger(spec: AttackSpec, images: Float32Array, shape: ImageShape, backdoor = 0): Float32Array {
  const entry = spec.backdoors[backdoor];
  if (!entry) throw new Error(`applyTrigger: the attack "${spec.name}" has no backdoor ${backdoor} (it has ${spec.backdoors.length})`);
  return compileTrigger(entry.trigger, shape)(images);
}
