/** Small fixtures for the attack tests. */
import type { ImageDataset } from '../../src/data/dataset.js';

/** n constant images (value v) of shape c x h x w, as floats. */
export function constantImages(n: number, c: number, h: number, w: number, v: number): Float32Array {
  return new Float32Array(n * c * h * w).fill(v);
}

/** Indices (within one image, CHW) where a and b differ, for image `i`. */
export function changedPixels(a: Float32Array, b: Float32Array, size: number, i = 0): number[] {
  const out: number[] = [];
  for (let j = 0; j < size; j++) if (a[i * size + j] !== b[i * size + j]) out.push(j);
  return out;
}

/** CHW flat indices of a rectangle in every channel. */
export function rectIndices(c: number, h: number, w: number, top: number, left: number, height: number, width: number): number[] {
  const out: number[] = [];
  for (let ch = 0; ch < c; ch++) for (let y = top; y < top + height; y++) for (let x = left; x < left + width; x++) out.push((ch * h + y) * w + x);
  return out.sort((a, b) => a - b);
}

/** A dataset whose image i has every byte equal to (i * 7) % 200 and label labels[i]. */
export function toyDataset(labels: number[], numClasses: number, c = 1, h = 5, w = 5): ImageDataset {
  const size = c * h * w;
  const images = new Uint8Array(labels.length * size);
  labels.forEach((_, i) => images.fill((i * 7) % 200, i * size, (i + 1) * size));
  return { images, labels: Int32Array.from(labels), n: labels.length, c, h, w, numClasses };
}
