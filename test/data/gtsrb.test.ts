import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GTSRB_CSV_COLUMNS, parseGtsrbCsv } from '../../src/data/gtsrb.js';
import { loadGtsrb } from '../../src/data/gtsrb.node.js';
import { makeTempDir, ppmBytes, writeBytes } from './fixtures.js';

const HEADER = GTSRB_CSV_COLUMNS.join(';');

/** HWC RGB pattern with distinct values per position and channel. */
function pattern(width: number, height: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 7 + seed) & 0xff);
}

function solid(width: number, height: number, rgb: [number, number, number]): Uint8Array {
  return Uint8Array.from({ length: width * height * 3 }, (_, i) => rgb[i % 3]);
}

/** The CHW bytes the loader should produce for a 32x32 HWC image (no resizing needed). */
function chw32(hwc: Uint8Array): Uint8Array {
  const out = new Uint8Array(3 * 1024);
  for (let p = 0; p < 1024; p++) for (let c = 0; c < 3; c++) out[c * 1024 + p] = hwc[p * 3 + c];
  return out;
}

function csv(rows: string[], eol = '\r\n'): string {
  return [HEADER, ...rows].join(eol) + eol;
}

describe('GTSRB', () => {
  let top: string;
  let gtsrb: string;
  const trainA = pattern(32, 32, 1);
  const testA = pattern(32, 32, 99);
  // 34x34 whose inner [1, 33) square is a known pattern and whose border is white.
  const framed = solid(34, 34, [255, 255, 255]);
  const inner = pattern(32, 32, 5);

  beforeAll(() => {
    top = makeTempDir('gtsrb');
    gtsrb = join(top, 'GTSRB');
    for (let y = 0; y < 32; y++) framed.set(inner.subarray(y * 96, (y + 1) * 96), ((y + 1) * 34 + 1) * 3);
    const train = join(gtsrb, 'Final_Training', 'Images');
    writeBytes(join(train, '00000', '00000_00000.ppm'), ppmBytes(32, 32, trainA));
    writeBytes(join(train, '00000', '00000_00001.ppm'), ppmBytes(3, 2, solid(3, 2, [10, 20, 30])));
    writeFileSync(join(train, '00000', 'GT-00000.csv'), csv(['00000_00000.ppm;32;32;5;5;27;27;0', '00000_00001.ppm;3;2;0;0;3;2;0']));
    writeBytes(join(train, '00002', '00000_00000.ppm'), ppmBytes(34, 34, framed));
    writeFileSync(join(train, '00002', 'GT-00002.csv'), csv(['00000_00000.ppm;34;34;1;1;33;33;2']));
    const test = join(gtsrb, 'Final_Test', 'Images');
    writeBytes(join(test, '00000.ppm'), ppmBytes(32, 32, testA));
    writeBytes(join(test, '00001.ppm'), ppmBytes(5, 4, solid(5, 4, [200, 100, 0])));
    // The ground-truth archive unpacks next to GTSRB/, not inside it.
    writeFileSync(join(top, 'GT-final_test.csv'), csv(['00000.ppm;32;32;5;5;27;27;16', '00001.ppm;5;4;0;0;5;4;42'], '\n'));
  });
  afterAll(() => rmSync(top, { recursive: true, force: true }));

  it('loads the training set resized to 32x32 without cropping', () => {
    const ds = loadGtsrb(top, 'train');
    expect(ds).toMatchObject({ n: 3, c: 3, h: 32, w: 32, numClasses: 43 });
    expect(Array.from(ds.labels)).toEqual([0, 0, 2]);
    expect(Buffer.compare(ds.images.subarray(0, 3072), chw32(trainA))).toBe(0);
    const second = ds.images.subarray(3072, 2 * 3072);
    expect([second[0], second[1024], second[2048], second[3071]]).toEqual([10, 20, 30, 30]);
    expect(new Set(second.subarray(0, 1024))).toEqual(new Set([10]));
    // Whole-image resize keeps the white frame: the corner stays near white instead of the inner pattern's 5.
    expect(ds.images[2 * 3072]).toBeGreaterThan(200);
  });

  it('crops to the ROI on request', () => {
    const ds = loadGtsrb(join(top, 'GTSRB'), 'train', { crop: 'roi' });
    expect(Buffer.compare(ds.images.subarray(2 * 3072), chw32(inner))).toBe(0);
    expect(Buffer.compare(ds.images.subarray(0, 3072), chw32(trainA))).not.toBe(0);
  });

  it('loads the test set with GT-final_test.csv from either directory form', () => {
    for (const dir of [top, gtsrb]) {
      const ds = loadGtsrb(dir, 'test', { size: 32 });
      expect(Array.from(ds.labels)).toEqual([16, 42]);
      expect(Buffer.compare(ds.images.subarray(0, 3072), chw32(testA))).toBe(0);
      expect(new Set(ds.images.subarray(3072 + 1024, 3072 + 2048))).toEqual(new Set([100]));
    }
    expect(loadGtsrb(top, 'test', { size: 8 }).images.length).toBe(2 * 3 * 64);
  });

  it('parses CSV rows and rejects the label-free test CSV', () => {
    expect(parseGtsrbCsv(csv(['a.ppm;29;30;5;6;24;25;13']))).toEqual([
      { filename: 'a.ppm', width: 29, height: 30, roi: { x1: 5, y1: 6, x2: 24, y2: 25 }, classId: 13 },
    ]);
    expect(parseGtsrbCsv(`\uFEFF${csv(['b.ppm;1;1;0;0;1;1;0'])}`)[0].filename).toBe('b.ppm');
    const noLabels = 'Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2\n00000.ppm;53;54;6;5;48;49\n';
    expect(() => parseGtsrbCsv(noLabels, 'GT-final_test.test.csv')).toThrow(/gtsrb \(GT-final_test\.test\.csv\): header .* \(ClassId missing/);
    expect(() => parseGtsrbCsv(csv(['a.ppm;1;1;0;0;1;1;43']), 'x.csv')).toThrow(/x\.csv\): line 2: ClassId 43 is outside 0\.\.42/);
    expect(() => parseGtsrbCsv(csv(['a.ppm;1;1;0;0;1']), 'x.csv')).toThrow(/line 2 has 6 fields/);
    expect(() => parseGtsrbCsv(csv(['a.ppm;1;w;0;0;1;1;0']), 'x.csv')).toThrow(/line 2: Height "w" is not a non-negative integer/);
    expect(() => parseGtsrbCsv(csv(['a.ppm;1;99999999999999999999;0;0;1;1;0']), 'x.csv')).toThrow(/line 2: Height 99999999999999999999 is too large/);
  });

  it('names the file for missing, truncated or inconsistent data', () => {
    const dir = makeTempDir('gtsrb-bad');
    try {
      expect(() => loadGtsrb(dir, 'train')).toThrow(/contains neither Final_Training/);
      const classDir = join(dir, 'Final_Training', 'Images', '00003');
      writeBytes(join(classDir, 'a.ppm'), ppmBytes(2, 2, solid(2, 2, [1, 2, 3])).subarray(0, 20));
      expect(() => loadGtsrb(dir, 'train')).toThrow(/missing annotation file .*GT-00003\.csv/);
      writeFileSync(join(classDir, 'GT-00003.csv'), csv(['a.ppm;2;2;0;0;2;2;3']));
      expect(() => loadGtsrb(dir, 'train')).toThrow(/pnm \(.*00003\/a\.ppm\): pixel data is truncated/);
      writeBytes(join(classDir, 'a.ppm'), ppmBytes(2, 3, solid(2, 3, [1, 2, 3])));
      expect(() => loadGtsrb(dir, 'train')).toThrow(/a\.ppm\): image is 2x3 but the CSV says 2x2/);
      writeFileSync(join(classDir, 'GT-00003.csv'), csv(['a.ppm;2;3;0;0;2;2;4']));
      expect(() => loadGtsrb(dir, 'train')).toThrow(/GT-00003\.csv\): a\.ppm has ClassId 4 inside class folder 00003/);
      writeFileSync(join(classDir, 'GT-00003.csv'), csv(['b.ppm;2;3;0;0;2;2;3']));
      expect(() => loadGtsrb(dir, 'train')).toThrow(/gtsrb: missing image .*00003\/b\.ppm/);
      writeBytes(join(dir, 'Final_Test', 'Images', 'x.ppm'), ppmBytes(1, 1, solid(1, 1, [0, 0, 0])));
      expect(() => loadGtsrb(dir, 'test')).toThrow(/missing test annotations, none of .*GT-final_test\.csv/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
