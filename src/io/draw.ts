/**
 * Drawing on RGB rasters for the report pictures: filled and outlined rectangles, lines, scaled
 * images and text in the 5x7 font of font.ts at an integer zoom. Everything clips at the image's
 * edges, so callers may draw partly outside. Browser-safe (no node: imports).
 */
import { CELL_WIDTH, GLYPH_HEIGHT, GLYPH_WIDTH, LINE_HEIGHT, glyph, inked } from './font.js';
import type { RasterImage } from './raster.js';

export type Rgb = readonly [number, number, number];

export const WHITE: Rgb = [255, 255, 255];
export const BLACK: Rgb = [0, 0, 0];

export interface TextOptions {
  color?: Rgb;
  /** Each font pixel becomes a zoom x zoom block (a positive integer; default 1). */
  zoom?: number;
  /** Where x is: the text's left end (default), its middle, or its right end. */
  align?: 'left' | 'center' | 'right';
}

/** A width x height RGB image filled with one colour. */
export function blankImage(width: number, height: number, background: Rgb = WHITE): RasterImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`blankImage: width and height must be positive integers, got ${width}x${height}`);
  }
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) {
    data[i] = background[0];
    data[i + 1] = background[1];
    data[i + 2] = background[2];
  }
  return { width, height, channels: 3, data };
}

function rgbOnly(image: RasterImage): void {
  if (image.channels !== 3) throw new Error(`drawing needs an RGB image (3 channels), got ${image.channels}`);
}

export function setPixel(image: RasterImage, x: number, y: number, color: Rgb): void {
  if (x < 0 || y < 0 || x >= image.width || y >= image.height) return;
  const o = (y * image.width + x) * 3;
  image.data[o] = color[0];
  image.data[o + 1] = color[1];
  image.data[o + 2] = color[2];
}

/** The colour at (x, y), for tests and checks. */
export function getPixel(image: RasterImage, x: number, y: number): Rgb {
  const o = (y * image.width + x) * image.channels;
  return image.channels >= 3 ? [image.data[o]!, image.data[o + 1]!, image.data[o + 2]!] : [image.data[o]!, image.data[o]!, image.data[o]!];
}

/** Fills the w x h rectangle whose top-left pixel is (x, y); coordinates are rounded to whole pixels. */
export function fillRect(image: RasterImage, x: number, y: number, w: number, h: number, color: Rgb): void {
  rgbOnly(image);
  const x0 = Math.max(0, Math.round(x));
  const y0 = Math.max(0, Math.round(y));
  const x1 = Math.min(image.width, Math.round(x + w));
  const y1 = Math.min(image.height, Math.round(y + h));
  for (let yy = y0; yy < y1; yy++) {
    for (let xx = x0; xx < x1; xx++) {
      const o = (yy * image.width + xx) * 3;
      image.data[o] = color[0];
      image.data[o + 1] = color[1];
      image.data[o + 2] = color[2];
    }
  }
}

/** A one-pixel outline just inside the w x h rectangle at (x, y). */
export function strokeRect(image: RasterImage, x: number, y: number, w: number, h: number, color: Rgb): void {
  fillRect(image, x, y, w, 1, color);
  fillRect(image, x, y + h - 1, w, 1, color);
  fillRect(image, x, y, 1, h, color);
  fillRect(image, x + w - 1, y, 1, h, color);
}

/** A one-pixel line from (x0, y0) to (x1, y1), both ends included (Bresenham's walk over whole pixels). */
export function drawLine(image: RasterImage, x0: number, y0: number, x1: number, y1: number, color: Rgb): void {
  rgbOnly(image);
  let x = Math.round(x0);
  let y = Math.round(y0);
  const xe = Math.round(x1);
  const ye = Math.round(y1);
  const dx = Math.abs(xe - x);
  const dy = -Math.abs(ye - y);
  const sx = x < xe ? 1 : -1;
  const sy = y < ye ? 1 : -1;
  let err = dx + dy;
  for (;;) {
    setPixel(image, x, y, color);
    if (x === xe && y === ye) return;
    const e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      x += sx;
    }
    if (e2 <= dx) {
      err += dx;
      y += sy;
    }
  }
}

/** Copies an HWC RGB picture (w x h) with its top-left at (x, y), each pixel a zoom x zoom block. */
export function drawRgb(image: RasterImage, rgb: Uint8Array, w: number, h: number, x: number, y: number, zoom = 1): void {
  rgbOnly(image);
  if (rgb.length !== w * h * 3) throw new Error(`drawRgb: expected ${w * h * 3} bytes for ${w}x${h} RGB, got ${rgb.length}`);
  for (let sy = 0; sy < h; sy++) {
    for (let sx = 0; sx < w; sx++) {
      const s = (sy * w + sx) * 3;
      fillRect(image, x + sx * zoom, y + sy * zoom, zoom, zoom, [rgb[s]!, rgb[s + 1]!, rgb[s + 2]!]);
    }
  }
}

function checkZoom(zoom: number): number {
  if (!Number.isInteger(zoom) || zoom < 1) throw new Error(`text zoom must be a positive integer, got ${zoom}`);
  return zoom;
}

/** Width in pixels of one line of text (no trailing gap after the last character). */
export function textWidth(text: string, zoom = 1): number {
  const n = [...text].length;
  return n === 0 ? 0 : (n * CELL_WIDTH - (CELL_WIDTH - GLYPH_WIDTH)) * checkZoom(zoom);
}

/** Height in pixels of the ink of one line (capitals and digits); lines are lineHeight(zoom) apart. */
export function textHeight(zoom = 1): number {
  return GLYPH_HEIGHT * checkZoom(zoom);
}

export function lineHeight(zoom = 1): number {
  return LINE_HEIGHT * checkZoom(zoom);
}

/** Draws one line of text with its top at y; returns its width. Characters outside ASCII 32-126 draw as '?'. */
export function drawText(image: RasterImage, text: string, x: number, y: number, opts: TextOptions = {}): number {
  const zoom = checkZoom(opts.zoom ?? 1);
  const color = opts.color ?? BLACK;
  const width = textWidth(text, zoom);
  let left = Math.round(x);
  if (opts.align === 'center') left = Math.round(x - width / 2);
  else if (opts.align === 'right') left = Math.round(x - width);
  const top = Math.round(y);
  [...text].forEach((ch, i) => {
    const rows = glyph(ch);
    const gx = left + i * CELL_WIDTH * zoom;
    for (let r = 0; r < GLYPH_HEIGHT; r++) {
      for (let c = 0; c < GLYPH_WIDTH; c++) if (inked(rows, c, r)) fillRect(image, gx + c * zoom, top + r * zoom, zoom, zoom, color);
    }
  });
  return width;
}

/** Splits text at spaces into lines no wider than maxWidth pixels (a single longer word keeps its own line). */
export function wrapText(text: string, maxWidth: number, zoom = 1): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w.length > 0)) {
    const next = line ? `${line} ${word}` : word;
    if (line && textWidth(next, zoom) > maxWidth) {
      lines.push(line);
      line = word;
    } else {
      line = next;
    }
  }
  if (line) lines.push(line);
  return lines;
}
