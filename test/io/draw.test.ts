/** The 5x7 font and the raster drawing primitives the report pictures are made of. */
import { describe, expect, it } from 'vitest';
import { BLACK, blankImage, drawLine, drawRgb, drawText, fillRect, getPixel, strokeRect, textWidth, wrapText } from '../../src/io/draw.js';
import { GLYPH_HEIGHT, GLYPH_WIDTH, glyph, inked } from '../../src/io/font.js';
import type { RasterImage } from '../../src/io/raster.js';

function inkCount(image: RasterImage, x0 = 0, y0 = 0, x1 = image.width, y1 = image.height): number {
  let n = 0;
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (getPixel(image, x, y)[0] < 128) n++;
  return n;
}

describe('font', () => {
  const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i));

  it('has ink in every printable glyph but the space, and no two glyphs alike', () => {
    const shapes = new Set<string>();
    for (const ch of printable) {
      const rows = glyph(ch);
      expect(rows).toHaveLength(GLYPH_HEIGHT);
      let ink = 0;
      for (let y = 0; y < GLYPH_HEIGHT; y++) for (let x = 0; x < GLYPH_WIDTH; x++) if (inked(rows, x, y)) ink++;
      expect(ink > 0, `glyph '${ch}'`).toBe(ch !== ' ');
      shapes.add(Array.from(rows).join(','));
    }
    expect(shapes.size).toBe(95);
  });

  it('draws characters outside printable ASCII as ?', () => {
    expect(glyph('é')).toBe(glyph('?'));
    expect(glyph('\n')).toBe(glyph('?'));
  });
});

describe('drawText', () => {
  it('puts the glyph pixels where the text is, scaled by the zoom', () => {
    const image = blankImage(40, 20);
    const width = drawText(image, 'I', 3, 2, { zoom: 2 });
    expect(width).toBe(10);
    // 'I' is '.###.' on its top row: columns 1-3 inked, 0 and 4 blank; each font pixel is 2x2 at zoom 2.
    expect(getPixel(image, 3 + 2, 2)).toEqual(BLACK);
    expect(getPixel(image, 3 + 7, 3)).toEqual(BLACK);
    expect(getPixel(image, 3 + 1, 2)).toEqual([255, 255, 255]);
    expect(getPixel(image, 3 + 9, 2)).toEqual([255, 255, 255]);
    expect(inkCount(image, 0, 0, 40, 2)).toBe(0);
    expect(inkCount(image, 0, 16, 40, 20)).toBe(0);
  });

  it('measures, aligns and clips', () => {
    expect(textWidth('')).toBe(0);
    expect(textWidth('ab')).toBe(11);
    expect(textWidth('ab', 3)).toBe(33);
    const image = blankImage(30, 10);
    drawText(image, 'Hi', 29, 1, { align: 'right' });
    expect(inkCount(image, 18, 0, 30, 10)).toBeGreaterThan(0);
    expect(inkCount(image, 0, 0, 18, 10)).toBe(0);
    const centred = blankImage(31, 10);
    drawText(centred, 'W', 15, 1, { align: 'center' });
    expect(inkCount(centred, 0, 0, 13, 10)).toBe(0);
    expect(inkCount(centred, 18, 0, 31, 10)).toBe(0);
    expect(() => drawText(blankImage(50, 50), 'long text over the edge', -10, 45)).not.toThrow();
    expect(() => drawText(image, 'x', 0, 0, { zoom: 1.5 })).toThrow(/zoom must be a positive integer/);
  });

  it('wraps at spaces within the width', () => {
    const lines = wrapText('one two three four', textWidth('one two'));
    expect(lines).toEqual(['one two', 'three', 'four']);
    expect(wrapText('unbreakable', 5)).toEqual(['unbreakable']);
  });
});

describe('shapes', () => {
  it('fills, outlines and clips rectangles', () => {
    const image = blankImage(10, 10);
    fillRect(image, -3, 8, 5, 5, [1, 2, 3]);
    expect(getPixel(image, 0, 9)).toEqual([1, 2, 3]);
    expect(getPixel(image, 1, 8)).toEqual([1, 2, 3]);
    expect(getPixel(image, 2, 8)).toEqual([255, 255, 255]);
    strokeRect(image, 2, 2, 4, 3, BLACK);
    expect(inkCount(image, 0, 0, 10, 8)).toBe(10);
    expect(getPixel(image, 3, 3)).toEqual([255, 255, 255]);
  });

  it('draws lines with both ends, in any direction', () => {
    for (const [x0, y0, x1, y1] of [[0, 0, 9, 3], [9, 3, 0, 0], [4, 9, 4, 0], [0, 9, 9, 0]] as const) {
      const image = blankImage(10, 10);
      drawLine(image, x0, y0, x1, y1, BLACK);
      expect(getPixel(image, x0, y0)).toEqual(BLACK);
      expect(getPixel(image, x1, y1)).toEqual(BLACK);
      expect(inkCount(image)).toBe(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0)) + 1);
    }
  });

  it('copies a scaled RGB picture and checks its size', () => {
    const image = blankImage(6, 4);
    drawRgb(image, Uint8Array.from([10, 20, 30, 40, 50, 60]), 2, 1, 1, 1, 2);
    expect(getPixel(image, 1, 1)).toEqual([10, 20, 30]);
    expect(getPixel(image, 2, 2)).toEqual([10, 20, 30]);
    expect(getPixel(image, 3, 2)).toEqual([40, 50, 60]);
    expect(getPixel(image, 5, 1)).toEqual([255, 255, 255]);
    expect(() => drawRgb(image, new Uint8Array(5), 2, 1, 0, 0)).toThrow(/expected 6 bytes for 2x1 RGB, got 5/);
    expect(() => fillRect({ width: 2, height: 2, channels: 1, data: new Uint8Array(4) }, 0, 0, 1, 1, BLACK)).toThrow(/RGB image \(3 channels\), got 1/);
  });
});
