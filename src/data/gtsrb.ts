/**
 * German Traffic Sign Recognition Benchmark (official "Final" release).
 * Annotation CSVs are semicolon-separated with the header
 * `Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId`; images are binary PPM (P6) of varying size.
 *
 * By default the whole image is resized to 32x32 (what BackdoorBench and torchvision do); `crop: 'roi'`
 * first cuts the annotated region [X1, X2) × [Y1, Y2) (X2/Y2 treated as exclusive, which leaves the documented
 * ≥5-pixel border on both sides). Resizing is the antialiased half-pixel bilinear of resize.ts.
 */

import { ParseError } from '../io/parse-error.js';
import { parsePnm } from '../io/pnm.js';
import { hwcToChw, convertChannels } from '../io/raster.js';
import { resizeBilinearU8 } from './resize.js';

export const GTSRB_NUM_CLASSES = 43;
export const GTSRB_CSV_COLUMNS = ['Filename', 'Width', 'Height', 'Roi.X1', 'Roi.Y1', 'Roi.X2', 'Roi.Y2', 'ClassId'] as const;

export interface GtsrbRow {
  filename: string;
  width: number;
  height: number;
  roi: { x1: number; y1: number; x2: number; y2: number };
  classId: number;
}

export interface GtsrbImageOptions {
  /** Output height and width. Default 32. */
  size?: number;
  /** 'none' (default) resizes the whole image; 'roi' crops to the annotated sign first. */
  crop?: 'none' | 'roi';
}

/** Parses a GT-*.csv annotation file; every row must carry all eight columns including ClassId. */
export function parseGtsrbCsv(text: string, source = 'GTSRB csv'): GtsrbRow[] {
  const fail = (message: string): Error => new ParseError(`gtsrb (${source}): ${message}`);
  const lines = text.split(/\r?\n/).filter((line) => line.trim().length > 0);
  if (lines.length === 0) throw fail('file is empty');
  const header = lines[0].trim().split(';');
  if (header.join(';') !== GTSRB_CSV_COLUMNS.join(';')) {
    const hint = header.includes('ClassId') ? '' : ' (ClassId missing: the test set needs GT-final_test.csv, not GT-final_test.test.csv)';
    throw fail(`header "${lines[0].trim()}" does not match "${GTSRB_CSV_COLUMNS.join(';')}"${hint}`);
  }
  return lines.slice(1).map((line, i) => {
    const cells = line.trim().split(';');
    if (cells.length !== GTSRB_CSV_COLUMNS.length) throw fail(`line ${i + 2} has ${cells.length} fields, expected 8`);
    const numbers = cells.slice(1).map((cell, k) => {
      if (!/^\d+$/.test(cell)) throw fail(`line ${i + 2}: ${GTSRB_CSV_COLUMNS[k + 1]} "${cell}" is not a non-negative integer`);
      // Longer digit runs would round to a different number without a word.
      if (!Number.isSafeInteger(Number(cell))) throw fail(`line ${i + 2}: ${GTSRB_CSV_COLUMNS[k + 1]} ${cell} is too large (at most ${Number.MAX_SAFE_INTEGER})`);
      return Number(cell);
    });
    const [width, height, x1, y1, x2, y2, classId] = numbers;
    if (classId >= GTSRB_NUM_CLASSES) throw fail(`line ${i + 2}: ClassId ${classId} is outside 0..${GTSRB_NUM_CLASSES - 1}`);
    return { filename: cells[0], width, height, roi: { x1, y1, x2, y2 }, classId };
  });
}

/** Decodes one PPM, checks it against its CSV row, optionally crops, and resizes to 3×size×size CHW. */
export function gtsrbImageToChw(bytes: Uint8Array, row: GtsrbRow, source: string, options: GtsrbImageOptions = {}): Uint8Array {
  const size = options.size ?? 32;
  const image = convertChannels(parsePnm(bytes, source), 3);
  if (image.width !== row.width || image.height !== row.height) {
    throw new ParseError(`gtsrb (${source}): image is ${image.width}x${image.height} but the CSV says ${row.width}x${row.height}`);
  }
  let chw = hwcToChw(image.data, image.height, image.width, 3);
  let { width, height } = image;
  if (options.crop === 'roi') {
    const x1 = Math.min(row.roi.x1, width - 1);
    const y1 = Math.min(row.roi.y1, height - 1);
    const x2 = Math.max(x1 + 1, Math.min(row.roi.x2, width));
    const y2 = Math.max(y1 + 1, Math.min(row.roi.y2, height));
    chw = cropChw(chw, 3, height, width, x1, y1, x2, y2);
    width = x2 - x1;
    height = y2 - y1;
  }
  return resizeBilinearU8(chw, 3, height, width, size, size);
}

function cropChw(src: Uint8Array, channels: number, height: number, width: number, x1: number, y1: number, x2: number, y2: number): Uint8Array {
  const cropW = x2 - x1;
  const cropH = y2 - y1;
  const out = new Uint8Array(channels * cropH * cropW);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < cropH; y++) {
      const from = (c * height + y1 + y) * width + x1;
      out.set(src.subarray(from, from + cropW), (c * cropH + y) * cropW);
    }
  }
  return out;
}
