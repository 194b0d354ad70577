/**
 * Writers the project has no use for outside the fuzz tests (IDX, CIFAR-10 batches, GTSRB CSV, raw
 * PNG chunks, PGM/PPM with any header layout), and comparisons that treat NaN as equal to itself.
 */
import { writeU32BE } from '../../src/io/bytes.js';
import { PNG_SIGNATURE } from '../../src/io/png-chunks.js';
import { pngChunk } from '../../src/io/png-encode.js';
import type { RasterImage } from '../../src/io/raster.js';
import { GTSRB_CSV_COLUMNS, type GtsrbRow } from '../../src/data/gtsrb.js';

/** An unsigned-byte IDX file: magic 0x0000080N, N big-endian dimensions, the data. */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  writeU32BE(out, 0, 0x00000800 | dims.length);
  dims.forEach((d, i) => writeU32BE(out, 4 + 4 * i, d));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** CIFAR-10 binary records: one label byte, then the 3072 CHW pixel bytes. */
export function encodeCifar10(labels: ArrayLike<number>, images: Uint8Array): Uint8Array {
  const out = new Uint8Array(labels.length * 3073);
  for (let i = 0; i < labels.length; i++) {
    out[i * 3073] = labels[i]!;
    out.set(images.subarray(i * 3072, (i + 1) * 3072), i * 3073 + 1);
  }
  return out;
}

export function encodeGtsrbCsv(rows: readonly GtsrbRow[], newline = '\n'): string {
  const lines = rows.map((r) => [r.filename, r.width, r.height, r.roi.x1, r.roi.y1, r.roi.x2, r.roi.y2, r.classId].join(';'));
  return [GTSRB_CSV_COLUMNS.join(';'), ...lines].join(newline) + newline;
}


export function pngFile(chunks: ReadonlyArray<readonly [string, Uint8Array]>): Uint8Array {
  return concat([PNG_SIGNATURE, ...chunks.map(([type, data]) => pngChunk(type, data))]);
}

export function ihdr(width: number, height: number, colorType: number): Uint8Array {
  const out = new Uint8Array(13);
  writeU32BE(out, 0, width);
  writeU32BE(out, 4, height);
  out[8] = 8;
  out[9] = colorType;
  return out;
}

/** The chunks of a PNG as far as their length fields allow reading them (CRCs not checked). */
export function readPngChunks(bytes: Uint8Array): Array<[string, Uint8Array]> | null {
  if (bytes.length < 8) return null;
  const out: Array<[string, Uint8Array]> = [];
  let at = 8;
  while (at + 12 <= bytes.length) {
    const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(at, false);
    if (at + 12 + length > bytes.length) break;
    out.push([String.fromCharCode(...bytes.subarray(at + 4, at + 8)), bytes.slice(at + 8, at + 8 + length)]);
    at += 12 + length;
  }
  return out;
}

/** A binary PGM/PPM whose header tokens are separated by the given whitespace and comment runs. */
export function encodePnmWith(image: RasterImage, maxval: number, separators: readonly string[], trailing: Uint8Array = new Uint8Array(0)): Uint8Array {
  const sep = (i: number) => separators[i % separators.length] || ' ';
  // The last separator is the single whitespace byte before the raster.
  const header = `${image.channels === 3 ? 'P6' : 'P5'}${sep(0)}${image.width}${sep(1)}${image.height}${sep(2)}${maxval}\n`;
  return concat([new TextEncoder().encode(header), image.data, trailing]);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Element-wise equality where NaN equals NaN and -0 equals 0. */
export function sameValues(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!(a[i] === b[i] || (Number.isNaN(a[i]) && Number.isNaN(b[i])))) return false;
  return true;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
