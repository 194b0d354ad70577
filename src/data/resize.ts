/**
 * Bilinear resizing of planar (CHW) uint8 images on the CPU.
 *
 * Convention: half-pixel centres (align_corners=False): output pixel i samples source coordinate
 * (i + 0.5) * srcSize / dstSize - 0.5, clamped at the borders. With `antialias` (the default), downscaling
 * widens the triangle filter to the scale factor, as PIL's Image.resize(BILINEAR) and torchvision's
 * Resize (antialias=True) do, so every source pixel contributes; upscaling is identical either way and equals
 * torch.nn.functional.interpolate(mode='bilinear', align_corners=False). Results can differ from PIL by ±1
 * because PIL rounds its intermediate pass to 8 bits and this keeps it in float.
 */

export interface ResizeOptions {
  /** Widen the filter when shrinking (PIL / torchvision behaviour). Default true. */
  antialias?: boolean;
}

interface AxisWeights {
  start: Int32Array;
  count: Int32Array;
  taps: number;
  weights: Float32Array;
}

export function resizeBilinearU8(
  src: Uint8Array,
  channels: number,
  srcH: number,
  srcW: number,
  dstH: number,
  dstW: number,
  options: ResizeOptions = {},
): Uint8Array {
  for (const [name, value] of Object.entries({ channels, srcH, srcW, dstH, dstW })) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`resizeBilinearU8: ${name} must be a positive integer, got ${value}`);
  }
  if (src.length !== channels * srcH * srcW) {
    throw new Error(`resizeBilinearU8: expected ${channels * srcH * srcW} bytes for ${channels}x${srcH}x${srcW}, got ${src.length}`);
  }
  if (srcH === dstH && srcW === dstW) return src.slice();
  const antialias = options.antialias ?? true;
  const horizontal = axisWeights(srcW, dstW, antialias);
  const vertical = axisWeights(srcH, dstH, antialias);

  // Pass 1: rows of every channel resized horizontally, kept in float to avoid double rounding.
  const rows = new Float32Array(channels * srcH * dstW);
  for (let r = 0; r < channels * srcH; r++) {
    for (let x = 0; x < dstW; x++) {
      const first = horizontal.start[x];
      const base = x * horizontal.taps;
      let sum = 0;
      for (let k = 0; k < horizontal.count[x]; k++) sum += horizontal.weights[base + k] * src[r * srcW + first + k];
      rows[r * dstW + x] = sum;
    }
  }
  // Pass 2: columns resized vertically, rounded to the nearest byte.
  const out = new Uint8Array(channels * dstH * dstW);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < dstH; y++) {
      const first = vertical.start[y];
      const base = y * vertical.taps;
      for (let x = 0; x < dstW; x++) {
        let sum = 0;
        for (let k = 0; k < vertical.count[y]; k++) {
          sum += vertical.weights[base + k] * rows[(c * srcH + first + k) * dstW + x];
        }
        out[(c * dstH + y) * dstW + x] = Math.min(255, Math.max(0, Math.round(sum)));
      }
    }
  }
  return out;
}

/** Normalised triangle-filter taps for each output position along one axis. */
function axisWeights(srcSize: number, dstSize: number, antialias: boolean): AxisWeights {
  const scale = srcSize / dstSize;
  const support = antialias && scale > 1 ? scale : 1;
  const taps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(dstSize);
  const count = new Int32Array(dstSize);
  const weights = new Float32Array(dstSize * taps);
  for (let i = 0; i < dstSize; i++) {
    const centre = (i + 0.5) * scale;
    // Taps outside the image are dropped and the rest renormalised, which equals clamping at the borders.
    const lo = Math.max(0, Math.floor(centre - support));
    const hi = Math.min(srcSize, Math.ceil(centre + support));
    let total = 0;
    for (let j = lo; j < hi; j++) {
      const w = Math.max(0, 1 - Math.abs((j + 0.5 - centre) / support));
      weights[i * taps + (j - lo)] = w;
      total += w;
    }
    for (let j = lo; j < hi; j++) weights[i * taps + (j - lo)] /= total;
    start[i] = lo;
    count[i] = hi - lo;
  }
  return { start, count, taps, weights };
}
