/** Patch triggers: BadNets' replaced square and CLB's four corner checkerboards. */
import type { ImageShape, PatchPosition } from './types.js';

export interface PlacedPatch {
  top: number;
  left: number;
  height: number;
  width: number;
  /** 1, C or C*height*width values, as in the spec. */
  values: ArrayLike<number>;
}

/** Top-left pixel of a height x width patch; throws when the patch would leave the image. */
export function patchOrigin(position: PatchPosition, height: number, width: number, shape: ImageShape): { top: number; left: number } {
  let top: number;
  let left: number;
  if ('corner' in position) {
    const m = position.margin;
    top = position.corner.startsWith('top') ? m : shape.h - m - height;
    left = position.corner.endsWith('left') ? m : shape.w - m - width;
  } else {
    ({ top, left } = position);
  }
  if (top < 0 || left < 0 || top + height > shape.h || left + width > shape.w) {
    throw new Error(`trigger: a ${height}x${width} patch at row ${top}, column ${left} does not fit ${shape.h}x${shape.w} images`);
  }
  return { top, left };
}

/** Overwrites the patch's pixels in every image of the batch (in place). */
export function stampPatches(images: Float32Array, shape: ImageShape, patches: readonly PlacedPatch[]): void {
  const { c, h, w } = shape;
  const size = c * h * w;
  for (const p of patches) {
    const area = p.height * p.width;
    const perChannel = p.values.length === c;
    const full = p.values.length === c * area && area > 1;
    if (p.values.length !== 1 && !perChannel && !full) {
      throw new Error(`trigger: patch values must number 1, ${c} (channels) or ${c * area} (C*height*width), got ${p.values.length}`);
    }
    for (let base = 0; base < images.length; base += size) {
      for (let ch = 0; ch < c; ch++) {
        for (let y = 0; y < p.height; y++) {
          for (let x = 0; x < p.width; x++) {
            const v = full ? p.values[(ch * p.height + y) * p.width + x]! : p.values[perChannel ? ch : 0]!;
            images[base + (ch * h + p.top + y) * w + p.left + x] = v;
          }
        }
      }
    }
  }
}

/**
 * CLB's trigger (Turner et al.): a size x size checkerboard in each corner, mirrored so that the
 * corner pixel itself is white: value 1 where (row distance + column distance) from the corner is even, else 0.
 */
export function cornerPatches(size: number, shape: ImageShape): PlacedPatch[] {
  if (size > shape.h || size > shape.w) throw new Error(`trigger: ${size}x${size} corner checkerboards do not fit ${shape.h}x${shape.w} images`);
  const corners: Array<[boolean, boolean]> = [[false, false], [false, true], [true, false], [true, true]];
  return corners.map(([bottom, right]) => {
    const values = new Float32Array(shape.c * size * size);
    for (let ch = 0; ch < shape.c; ch++) {
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const dy = bottom ? size - 1 - y : y;
          const dx = right ? size - 1 - x : x;
          values[(ch * size + y) * size + x] = (dy + dx) % 2 === 0 ? 1 : 0;
        }
      }
    }
    return { top: bottom ? shape.h - size : 0, left: right ? shape.w - size : 0, height: size, width: size, values };
  });
}
