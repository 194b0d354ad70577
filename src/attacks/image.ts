/** Conversions between stored uint8 images and the float [0, 1] images triggers work on. */
import type { ImageShape } from './types.js';

export function pixelsPerImage(shape: ImageShape): number {
  return shape.c * shape.h * shape.w;
}

/** Number of whole images in `images`; throws when the length is not a multiple of C*H*W. */
export function imageCount(images: ArrayLike<number>, shape: ImageShape, who: string): number {
  const size = pixelsPerImage(shape);
  if (images.length % size !== 0) {
    throw new Error(`${who}: ${images.length} values is not a whole number of ${shape.c}x${shape.h}x${shape.w} images`);
  }
  return images.length / size;
}

/** u8 / 255, as torchvision's ToTensor does. */
export function toFloatImages(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i]! / 255;
  return out;
}

/**
 * round(clamp(x, 0, 1) * 255) with halves rounded up. Poisoned training sets are stored as bytes, so a
 * trigger applied there lands on the nearest 1/255 step (at most 0.5/255 from the float trigger used at test time).
 */
export function toUint8Images(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    out[i] = v >= 1 ? 255 : v > 0 ? Math.floor(v * 255 + 0.5) : 0;
  }
  return out;
}

export function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}
