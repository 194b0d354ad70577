/**
 * Pieces every report picture shares: its palette, the title block at the top, colour swatches for
 * legends, the colour scale of mask values and the sign scale of trigger pictures. Browser-safe.
 */
import { drawText, fillRect, lineHeight, strokeRect, textWidth, type Rgb } from '../io/draw.js';
import { LINE_HEIGHT } from '../io/font.js';
import type { RasterImage } from '../io/raster.js';

export const PALETTE = {
  text: [20, 20, 20] as Rgb,
  muted: [100, 100, 100] as Rgb,
  axis: [60, 60, 60] as Rgb,
  grid: [225, 225, 225] as Rgb,
  frame: [170, 170, 170] as Rgb,
  /** Mask bins below 0.5 (entries mostly switched off) and the rest. */
  below: [200, 40, 40] as Rgb,
  above: [40, 80, 200] as Rgb,
  /** The model's answer: the right class, the attack's target, another wrong class. */
  right: [20, 140, 60] as Rgb,
  target: [205, 30, 30] as Rgb,
  otherWrong: [120, 120, 120] as Rgb,
  /** The backdoored model and the purified one. */
  before: [215, 110, 30] as Rgb,
  after: [40, 100, 200] as Rgb,
};

/** Outer margin of every picture, in pixels. */
export const MARGIN = 10;
const TITLE_ZOOM = 2;

/** Height of the block titleBlock draws: the title line, then one line per subtitle line, then a gap. */
export function titleHeight(subtitles: readonly string[]): number {
  return MARGIN + lineHeight(TITLE_ZOOM) + subtitles.length * lineHeight() + 6;
}

/** Draws the title (twice the text size) and its subtitle lines from the top of the picture; returns the y below them. */
export function titleBlock(image: RasterImage, title: string, subtitles: readonly string[]): number {
  drawText(image, title, MARGIN, MARGIN, { zoom: TITLE_ZOOM, color: PALETTE.text });
  let y = MARGIN + lineHeight(TITLE_ZOOM);
  for (const line of subtitles) {
    drawText(image, line, MARGIN, y, { color: PALETTE.muted });
    y += lineHeight();
  }
  return y + 6;
}

/** Width a picture needs for its title block: the title at its zoom or the widest subtitle line, plus margins. */
export function titleWidth(title: string, subtitles: readonly string[]): number {
  return 2 * MARGIN + Math.max(textWidth(title, TITLE_ZOOM), ...subtitles.map((s) => textWidth(s)));
}

/** A filled square with a label to its right; returns the x where the next swatch may start. */
export function swatch(image: RasterImage, x: number, y: number, color: Rgb, label: string): number {
  fillRect(image, x, y, 7, 7, color);
  const w = drawText(image, label, x + 10, y, { color: PALETTE.text });
  return x + 10 + w + 14;
}

/** Width a swatch with this label takes (as swatch advances). */
export function swatchWidth(label: string): number {
  return 10 + textWidth(label) + 14;
}

/** Shortens text with a trailing '..' until it fits maxWidth pixels. */
export function fitText(text: string, maxWidth: number, zoom = 1): string {
  if (textWidth(text, zoom) <= maxWidth) return text;
  let cut = text;
  while (cut.length > 1 && textWidth(`${cut}..`, zoom) > maxWidth) cut = cut.slice(0, -1);
  return `${cut}..`;
}

const LOW: Rgb = [178, 24, 43];
const MID: Rgb = [247, 247, 247];
const HIGH: Rgb = [33, 102, 172];

/** The colour of a mask value: dark red at 0, near-white at 0.5, blue at 1 (the histograms' red and blue sides). */
export function maskColor(value: number): Rgb {
  const v = Math.min(1, Math.max(0, Number.isFinite(value) ? value : 0));
  const [a, b, t] = v < 0.5 ? [LOW, MID, v / 0.5] : [MID, HIGH, (v - 0.5) / 0.5];
  const mix = (k: number) => Math.round(a[k]! + (b[k]! - a[k]!) * t);
  return [mix(0), mix(1), mix(2)];
}

/**
 * A horizontal colour bar from `color(0)` to `color(1)`, framed, with labels under its ends and middle and a
 * caption to its right; returns the height it takes.
 */
export function colorScale(image: RasterImage, x: number, y: number, width: number, color: (t: number) => Rgb, labels: readonly [string, string, string], caption: string): number {
  for (let i = 0; i < width; i++) fillRect(image, x + i, y, 1, 10, color(width === 1 ? 0 : i / (width - 1)));
  strokeRect(image, x - 1, y - 1, width + 2, 12, PALETTE.frame);
  drawText(image, labels[0], x, y + 14, { color: PALETTE.text });
  drawText(image, labels[1], x + width / 2, y + 14, { color: PALETTE.text, align: 'center' });
  drawText(image, labels[2], x + width, y + 14, { color: PALETTE.text, align: 'right' });
  drawText(image, caption, x + width + 10, y + 2, { color: PALETTE.muted });
  return COLOR_SCALE_HEIGHT;
}

/** Height colorScale takes. */
export const COLOR_SCALE_HEIGHT = 14 + LINE_HEIGHT;

/** The grey level triggerToRgb gives a delta of t in [-1, 1] times the peak. */
export function signColor(t: number): Rgb {
  const v = Math.max(0, Math.min(255, Math.round(128 + 127 * t)));
  return [v, v, v];
}

/** A percentage with one decimal, '12.3 %'. */
export function pct(x: number): string {
  return `${(100 * x).toFixed(1)} %`;
}
