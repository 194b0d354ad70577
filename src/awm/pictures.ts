/**
 * Pictures for reports and the browser page, drawn into plain RGB rasters (PNG-encoded by
 * src/io/png): the recovered trigger of each round, labelled, and the helpers the mask pictures
 * (mask-pictures.ts) and the demo's summary (summary-picture.ts) build on.
 */
import { blankImage, drawRgb, drawText, lineHeight, textWidth } from '../io/draw.js';
import type { RasterImage } from '../io/raster.js';
import { COLOR_SCALE_HEIGHT, MARGIN, PALETTE, colorScale, fitText, signColor, titleBlock, titleHeight, titleWidth } from './picture-parts.js';

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

export interface TriggerGridOptions {
  /** Pixels per trigger pixel (default: about 84 pixels across a trigger). */
  zoom?: number;
  /** Triggers per row (default 10). */
  perRow?: number;
  title?: string;
  /** Each trigger's first caption line (default "round i"), in trigger order. */
  captions?: readonly string[];
  /** A third caption line per trigger (e.g. its share on the attack's pixels), in trigger order. */
  extra?: readonly string[];
  /** One more subtitle line saying what `extra` means. */
  extraNote?: string;
}

/** The sum of |delta| over every value of a trigger. */
export function l1Norm(delta: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < delta.length; i++) s += Math.abs(delta[i]!);
  return s;
}

/**
 * The recovered triggers (each C x H x W, one per round) side by side, each captioned with its round and L1 norm,
 * under a title that says how to read the grey levels and over a colour scale of the sign.
 */
export function triggerGrid(triggers: readonly ArrayLike<number>[], shape: { c: number; h: number; w: number }, opts: TriggerGridOptions = {}): RasterImage {
  const { c, h, w } = shape;
  const zoom = opts.zoom ?? Math.max(1, Math.round(84 / Math.max(h, w)));
  const perRow = Math.max(1, Math.min(opts.perRow ?? 10, triggers.length));
  const rows = Math.max(1, Math.ceil(triggers.length / perRow));
  const subtitles = [
    'grey = 0 (pixel unchanged), brighter = added, darker = removed; each trigger scaled to its own peak |value|',
    ...(c > 1 ? ['colour images: red, green and blue each show their own channel of the trigger'] : []),
    ...(opts.extraNote ? [opts.extraNote] : []),
  ];
  const title = opts.title ?? `Recovered triggers, one per round (${triggers.length})`;
  const captionLines = opts.extra ? 3 : 2;
  const tileW = Math.max(w * zoom, 64);
  const tileH = h * zoom + 4 + captionLines * lineHeight();
  const gap = 10;
  const legendW = 160;
  const width = Math.max(titleWidth(title, subtitles), 2 * MARGIN + perRow * (tileW + gap) - gap, 2 * MARGIN + legendW + 10 + textWidth('trigger value'));
  const top = titleHeight(subtitles);
  const height = top + rows * (tileH + gap) + COLOR_SCALE_HEIGHT + MARGIN;
  const image = blankImage(width, height);
  titleBlock(image, title, subtitles);
  triggers.forEach((t, i) => {
    const x = MARGIN + (i % perRow) * (tileW + gap);
    const y = top + Math.floor(i / perRow) * (tileH + gap);
    drawRgb(image, triggerToRgb(t, c, h, w), w, h, x + Math.floor((tileW - w * zoom) / 2), y, zoom);
    const lines = [opts.captions?.[i] ?? `round ${i + 1}`, `L1 ${l1Norm(t).toFixed(1)}`, ...(opts.extra ? [opts.extra[i] ?? ''] : [])];
    lines.forEach((line, k) => drawText(image, fitText(line, tileW), x + tileW / 2, y + h * zoom + 4 + k * lineHeight(), { align: 'center', color: k === 0 ? PALETTE.text : PALETTE.muted }));
  });
  colorScale(image, MARGIN, top + rows * (tileH + gap), legendW, (t) => signColor(2 * t - 1), ['-peak', '0', '+peak'], 'trigger value');
  return image;
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
