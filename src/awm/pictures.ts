/**
 * Pictures for reports and the browser page, drawn into plain RGB rasters (PNG-encoded by
 * src/io/png): the recovered trigger of each round, and one histogram of mask values per layer.
 */
import type { RasterImage } from '../io/raster.js';

/**
 * A trigger delta (C, H, W) as RGB: grey is 0, brighter is positive, darker negative, scaled by the
 * largest |delta| so faint triggers stay visible. Gray inputs repeat over the three channels.
 */
export function triggerToRgb(delta: ArrayLike<number>, c: number, h: number, w: number): Uint8Array {
  let peak = 0;
  for (let i = 0; i < delta.length; i++) peak = Math.max(peak, Math.abs(delta[i]!));
  const scale = peak > 0 ? 127 / peak : 0;
  const out = new Uint8Array(h * w * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let k = 0; k < 3; k++) {
        const ch = c === 1 ? 0 : Math.min(k, c - 1);
        const v = delta[(ch * h + y) * w + x]!;
        out[(y * w + x) * 3 + k] = Math.max(0, Math.min(255, Math.round(128 + v * scale)));
      }
    }
  }
  return out;
}

/** Tiles RGB images (each h x w) into rows of `perRow`, each pixel drawn as a zoom x zoom block, 2-pixel gaps. */
export function tileImages(images: readonly Uint8Array[], h: number, w: number, opts: { perRow?: number; zoom?: number } = {}): RasterImage {
  const zoom = opts.zoom ?? 4;
  const perRow = Math.max(1, Math.min(opts.perRow ?? 10, images.length));
  const rows = Math.max(1, Math.ceil(images.length / perRow));
  const gap = 2;
  const W = perRow * (w * zoom + gap) + gap;
  const H = rows * (h * zoom + gap) + gap;
  const data = new Uint8Array(W * H * 3).fill(255);
  images.forEach((img, i) => {
    const ox = gap + (i % perRow) * (w * zoom + gap);
    const oy = gap + Math.floor(i / perRow) * (h * zoom + gap);
    for (let y = 0; y < h * zoom; y++) {
      for (let x = 0; x < w * zoom; x++) {
        const src = (Math.floor(y / zoom) * w + Math.floor(x / zoom)) * 3;
        const dst = ((oy + y) * W + ox + x) * 3;
        data[dst] = img[src]!;
        data[dst + 1] = img[src + 1]!;
        data[dst + 2] = img[src + 2]!;
      }
    }
  });
  return { width: W, height: H, channels: 3, data };
}

/** Counts of mask values in `bins` equal bins over [0, 1] (1.0 falls in the last bin). */
export function maskHistogram(values: ArrayLike<number>, bins = 20): number[] {
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < values.length; i++) {
    const v = Math.min(1, Math.max(0, values[i]!));
    counts[Math.min(bins - 1, Math.floor(v * bins))]!++;
  }
  return counts;
}

/**
 * One small bar chart per layer (log-scaled counts, bins over [0, 1] from left to right; bars below
 * 0.5 drawn red, the rest blue), stacked in layer order, `perRow` charts per row.
 */
export function histogramGrid(histograms: readonly number[][], opts: { perRow?: number } = {}): RasterImage {
  const cw = 120;
  const ch = 60;
  const gap = 6;
  const perRow = Math.max(1, Math.min(opts.perRow ?? 5, histograms.length));
  const rows = Math.max(1, Math.ceil(histograms.length / perRow));
  const W = perRow * (cw + gap) + gap;
  const H = rows * (ch + gap) + gap;
  const data = new Uint8Array(W * H * 3).fill(255);
  const put = (x: number, y: number, rgb: [number, number, number]) => {
    const o = (y * W + x) * 3;
    data[o] = rgb[0];
    data[o + 1] = rgb[1];
    data[o + 2] = rgb[2];
  };
  histograms.forEach((hist, i) => {
    const ox = gap + (i % perRow) * (cw + gap);
    const oy = gap + Math.floor(i / perRow) * (ch + gap);
    for (let x = 0; x < cw; x++) {
      put(ox + x, oy + ch - 1, [0, 0, 0]);
      put(ox + x, oy, [220, 220, 220]);
    }
    for (let y = 0; y < ch; y++) {
      put(ox, oy + y, [0, 0, 0]);
      put(ox + cw - 1, oy + y, [220, 220, 220]);
    }
    const peak = Math.log1p(Math.max(1, ...hist));
    const bw = Math.floor((cw - 2) / hist.length);
    hist.forEach((count, b) => {
      const height = Math.round(((ch - 3) * Math.log1p(count)) / peak);
      const color: [number, number, number] = (b + 0.5) / hist.length < 0.5 ? [200, 40, 40] : [40, 80, 200];
      for (let x = 1 + b * bw; x < 1 + (b + 1) * bw - 1; x++) {
        for (let y = 0; y < height; y++) put(ox + x, oy + ch - 2 - y, color);
      }
    });
  });
  return { width: W, height: H, channels: 3, data };
}
