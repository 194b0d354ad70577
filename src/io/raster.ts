/** In-memory 8-bit image as decoders produce it, and channel-count conversions. */

export type ChannelCount = 1 | 2 | 3 | 4;

/** 8-bit image with interleaved samples (HWC): gray, gray+alpha, RGB or RGBA. */
export interface RasterImage {
  width: number;
  height: number;
  channels: ChannelCount;
  data: Uint8Array;
}

/**
 * Converts an image to gray (1) or RGB (3) samples.
 * Alpha is dropped without compositing (as PIL's convert('RGB') / convert('L') do).
 * Gray → RGB replicates the value; RGB → gray uses ITU-R 601-2 luma with PIL's fixed-point weights
 * L = (19595 R + 38470 G + 7471 B + 32768) >> 16.
 */
export function convertChannels(image: RasterImage, channels: 1 | 3): RasterImage {
  const { width, height, channels: from, data } = image;
  if (from === channels) return image;
  const pixels = width * height;
  const out = new Uint8Array(pixels * channels);
  const fromColor = from >= 3;
  for (let p = 0; p < pixels; p++) {
    const at = p * from;
    if (channels === 1) {
      out[p] = fromColor ? luma(data[at], data[at + 1], data[at + 2]) : data[at];
    } else if (fromColor) {
      out[p * 3] = data[at];
      out[p * 3 + 1] = data[at + 1];
      out[p * 3 + 2] = data[at + 2];
    } else {
      out[p * 3] = out[p * 3 + 1] = out[p * 3 + 2] = data[at];
    }
  }
  return { width, height, channels, data: out };
}

function luma(r: number, g: number, b: number): number {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16;
}

/** Reorders interleaved HWC samples into planar CHW (the layout datasets use). */
export function hwcToChw(data: Uint8Array, height: number, width: number, channels: number): Uint8Array {
  const out = new Uint8Array(data.length);
  const plane = height * width;
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < channels; c++) out[c * plane + p] = data[p * channels + c];
  }
  return out;
}

/** Reorders planar CHW samples into interleaved HWC (the layout image encoders use). */
export function chwToHwc(data: Uint8Array, channels: number, height: number, width: number): Uint8Array {
  const out = new Uint8Array(data.length);
  const plane = height * width;
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < channels; c++) out[p * channels + c] = data[c * plane + p];
  }
  return out;
}
