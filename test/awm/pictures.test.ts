/** The report's pictures: their sizes as written, their text, and bars and colours that follow the data. */
import { describe, expect, it } from 'vitest';
import { decodePngNode, encodePngCompressed } from '../../src/io/png.node.js';
import { getPixel, textWidth, type Rgb } from '../../src/io/draw.js';
import type { RasterImage } from '../../src/io/raster.js';
import { maskHistogram, triggerGrid, l1Norm } from '../../src/awm/pictures.js';
import { barHeight, histogramDecades, histogramGrid, maskStrips, stripValues, type LayerMasks } from '../../src/awm/mask-pictures.js';
import { maskColor, PALETTE } from '../../src/awm/picture-parts.js';
import { pictureLinks, reportPictures, PICTURE_FILES } from '../../src/awm/report-pictures.js';
import { maskStatistics, type PurifyReport } from '../../src/awm/purify.js';
import { reportMarkdown } from '../../src/awm/report.js';

const same = (a: Rgb, b: Rgb) => a[0] === b[0] && a[1] === b[1] && a[2] === b[2];

/** The x of every pixel of one colour at or below row y0. */
function columnsOf(image: RasterImage, color: Rgb, y0 = 0): number[] {
  const xs = new Set<number>();
  for (let y = y0; y < image.height; y++) for (let x = 0; x < image.width; x++) if (same(getPixel(image, x, y), color)) xs.add(x);
  return [...xs].sort((a, b) => a - b);
}

function firstRowWith(image: RasterImage, color: Rgb, y0 = 0): number {
  for (let y = y0; y < image.height; y++) for (let x = 0; x < image.width; x++) if (same(getPixel(image, x, y), color)) return y;
  return -1;
}

/** Pixels darker than `below` in rows y0..y1 (text is drawn dark on white). */
function darkPixels(image: RasterImage, y0: number, y1: number, below = 100): number {
  let n = 0;
  for (let y = y0; y < y1; y++) for (let x = 0; x < image.width; x++) if (getPixel(image, x, y)[0] < below) n++;
  return n;
}

function layer(name: string, values: Float32Array): LayerMasks {
  return maskStatistics(new Map([[name, values]]))[0]!;
}

describe('histogramGrid', () => {
  // Rows under the legend's swatches, which use the bar colours too.
  const plotsFrom = (image: RasterImage) => firstRowWith(image, PALETTE.below) + 10;

  it('puts a mask of all ones in the last bin and of all zeros in the first, on the same axes', () => {
    const image = histogramGrid([layer('ones', new Float32Array(50).fill(1)), layer('zeros', new Float32Array(50).fill(0))], { perRow: 1 });
    const y0 = plotsFrom(image);
    const top = columnsOf(image, PALETTE.above, y0);
    const bottom = columnsOf(image, PALETTE.below, y0);
    // One bar each, 7 pixels wide (160 / 20 bins, less a 1-pixel gap), the ones' at the right end of the axis.
    expect(top).toHaveLength(7);
    expect(bottom).toHaveLength(7);
    expect(top[0]! - bottom[0]!).toBe(19 * 8);
    // perRow 1: the first layer's panel lies above the second's.
    expect(firstRowWith(image, PALETTE.above, y0)).toBeLessThan(firstRowWith(image, PALETTE.below, y0));
  });

  it('scales bars by share on one log axis for every panel', () => {
    expect(histogramDecades([layer('a', new Float32Array(50)), layer('b', new Float32Array(20_000))])).toBe(5);
    expect(barHeight(1, 4, 80)).toBe(80);
    expect(barHeight(0.01, 4, 80)).toBe(40);
    expect(barHeight(1e-6, 4, 80)).toBe(1);
    expect(barHeight(0, 4, 80)).toBe(0);
    // Two layers, each with a share of 1 in a bin: the same bar height in both panels whatever their size.
    const image = histogramGrid([layer('small', new Float32Array(10).fill(1)), layer('big', new Float32Array(5000).fill(1))], { perRow: 2 });
    const heights: number[] = [];
    const y0 = plotsFrom(image);
    const xs = columnsOf(image, PALETTE.above, y0);
    for (const x of [xs[0]!, xs[xs.length - 1]!]) {
      let h = 0;
      for (let y = y0; y < image.height; y++) if (same(getPixel(image, x, y), PALETTE.above)) h++;
      heights.push(h);
    }
    expect(heights[0]).toBe(heights[1]);
    expect(heights[0]).toBe(90);
  });

  it('titles the picture and each panel', () => {
    const image = histogramGrid([layer('conv1', new Float32Array(40).fill(0.3))]);
    expect(darkPixels(image, 10, 24)).toBeGreaterThan(100);
    const y0 = plotsFrom(image);
    expect(darkPixels(image, y0 - 2, y0 + 16)).toBeGreaterThan(40);
  });
});

describe('maskStrips', () => {
  it('colours each row by its sorted values, low on the left', () => {
    const close = (got: Float32Array, want: number[]) => want.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 6));
    close(stripValues([2, 0, 2], 4), [1 / 6, 1 / 6, 5 / 6, 5 / 6]);
    close(stripValues([0, 0, 3], 3), [5 / 6, 5 / 6, 5 / 6]);
    close(stripValues([1, 0, 0, 3], 4), [1 / 8, 7 / 8, 7 / 8, 7 / 8]);
    expect(Number.isNaN(stripValues([0, 0], 2)[0])).toBe(true);
    const half = new Float32Array(100);
    half.fill(1, 50);
    const image = maskStrips([layer('ones', new Float32Array(10).fill(1)), layer('half', half)]);
    const blue = maskColor(0.975);
    const red = maskColor(0.025);
    const onesRow = firstRowWith(image, blue);
    const halfRow = firstRowWith(image, red);
    expect(halfRow).toBeGreaterThan(onesRow);
    const count = (y: number, c: Rgb) => Array.from({ length: image.width }, (_, x) => same(getPixel(image, x, y), c)).filter(Boolean).length;
    expect(count(onesRow + 2, blue)).toBe(400);
    expect(count(halfRow + 2, red)).toBe(200);
    expect(count(halfRow + 2, blue)).toBe(200);
    const redXs = columnsOf(image, red, halfRow).filter((x) => same(getPixel(image, x, halfRow + 2), red));
    const blueXs = columnsOf(image, blue, halfRow).filter((x) => same(getPixel(image, x, halfRow + 2), blue));
    expect(Math.max(...redXs)).toBeLessThan(Math.min(...blueXs));
  });
});

describe('triggerGrid', () => {
  const shape = { c: 2, h: 3, w: 4 };
  const darkest: Rgb = [1, 1, 1];
  const count = (image: RasterImage, c: Rgb) => {
    let n = 0;
    for (let y = 0; y < image.height; y++) for (let x = 0; x < image.width; x++) if (same(getPixel(image, x, y), c)) n++;
    return n;
  };

  it('draws each trigger by sign and captions it with its round and L1 norm under a title', () => {
    expect(l1Norm(Float32Array.from([1, -2, 0.5]))).toBe(3.5);
    const up = new Float32Array(24).fill(0.25);
    const down = new Float32Array(24).fill(-0.5);
    // An all-negative trigger is a 20 x 15 block of the darkest grey (zoom 5); the legend's left end adds one column of 10.
    expect(count(triggerGrid([up, down, up], shape, { zoom: 5 }), darkest)).toBe(300 + 10);
    expect(count(triggerGrid([down, down, up], shape, { zoom: 5 }), darkest)).toBe(600 + 10);
    const image = triggerGrid([up], shape, { zoom: 5 });
    expect(darkPixels(image, 10, 24)).toBeGreaterThan(100);
    const legendTop = firstRowWith(image, darkest);
    const tilesTop = legendTop - 15 - 4 - 2 * 9 - 10;
    // The white tile has no ink, so the ink between it and the legend is its caption; another L1 draws another caption.
    expect(darkPixels(image, tilesTop + 15, legendTop, 160)).toBeGreaterThan(40);
    const other = triggerGrid([up.map((v) => 2 * v)], shape, { zoom: 5 });
    expect([other.width, other.height]).toEqual([image.width, image.height]);
    expect(Buffer.compare(Buffer.from(other.data), Buffer.from(image.data))).not.toBe(0);
  });
});

/** The trigger picture's width once the subtitle on the attack's pixels is added. */
function image0Width(plain: RasterImage): number {
  return Math.max(plain.width, 20 + textWidth('patch: the share of the trigger\'s L1 mass on the attack\'s own pixels (1.0 % of the image; evaluation only)'));
}

describe('reportPictures', () => {
  const masks = new Map([['conv1', Float32Array.from({ length: 90 }, (_, i) => i / 89)], ['fc', new Float32Array(30).fill(0.9)]]);
  const report = { method: 'awm', maskStats: maskStatistics(masks), triggerOnAttack: { areaShare: 0.01, perRound: [0.2, 0.6], found: 1 } } as unknown as PurifyReport;
  const triggers = [new Float32Array(1 * 8 * 8).fill(0.1), new Float32Array(64).fill(-0.2)];

  it('writes every picture with its name, size and a titled top row; the Markdown embeds them', async () => {
    const files = reportPictures(report, { triggers, masks }, { c: 1, h: 8, w: 8 }, { prefix: 'run-', encode: encodePngCompressed });
    expect(files.map(([name]) => name)).toEqual(['run-triggers.png', 'run-masks.png', 'run-mask-strips.png']);
    const plain = triggerGrid(triggers, { c: 1, h: 8, w: 8 });
    const histograms = histogramGrid(report.maskStats!);
    const strips = maskStrips(report.maskStats!);
    const expected = [
      // The attack is known here: one more subtitle line (at least as wide) and one more caption line per trigger ('patch 20.0 %').
      [Math.max(plain.width, image0Width(plain)), plain.height + 2 * 9],
      [histograms.width, histograms.height],
      [strips.width, strips.height],
    ];
    for (const [k, [name, png]] of files.entries()) {
      const image = await decodePngNode(png, name);
      expect(image.channels, name).toBe(3);
      expect([image.width, image.height], name).toEqual(expected[k]);
      expect(darkPixels(image, 10, 24), name).toBeGreaterThan(100);
    }
    const links = pictureLinks(files, 'run-');
    expect(links).toEqual({ triggers: 'run-triggers.png', masks: 'run-masks.png', maskStrips: 'run-mask-strips.png' });
    const md = reportMarkdown({ ...report, model: { arch: 'small-cnn', width: 1, inChannels: 1, numClasses: 2 }, clean: { images: 2, perClass: [1, 1] }, backend: 'cpu', seed: 0, seconds: 1, settings: {}, details: {} } as PurifyReport, { ...links, summary: 'run-summary.png' });
    for (const name of [...Object.values(links), 'run-summary.png']) expect(md).toContain(`](${name})`);
    expect(md.indexOf('run-summary.png')).toBeLessThan(md.indexOf('run-triggers.png'));
  });

  it('draws the heat strips from the raw masks when given, else from the report\'s 20 bins', async () => {
    const withRaw = reportPictures(report, { masks }, { c: 1, h: 8, w: 8 });
    const fromReport = reportPictures(report, {}, { c: 1, h: 8, w: 8 });
    expect(withRaw.map(([n]) => n)).toEqual([PICTURE_FILES.masks, PICTURE_FILES.maskStrips]);
    const a = await decodePngNode(withRaw[1]![1]);
    const b = await decodePngNode(fromReport[1]![1]);
    expect([a.width, a.height]).toEqual([b.width, b.height]);
    // conv1's values run evenly from 0 to 1: 256 bins give more distinct colours along its strip than 20.
    const distinct = (image: RasterImage) => {
      const y = firstRowWith(image, maskColor(0.975)) + 2;
      return new Set(Array.from({ length: image.width }, (_, x) => getPixel(image, x, y).join(','))).size;
    };
    expect(distinct(a)).toBeGreaterThan(distinct(b) + 50);
    expect(maskHistogram(masks.get('conv1')!, 256).reduce((s, c) => s + c, 0)).toBe(90);
  });

  it('leaves out what it has no data for', () => {
    expect(reportPictures({ method: 'ft' } as PurifyReport, {}, { c: 1, h: 8, w: 8 })).toEqual([]);
  });
});
