/** Writers for tiny dataset files in the exact official on-disk formats, for loader tests. */

import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';

export function makeTempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `awm-${prefix}-`));
}

export function writeBytes(path: string, bytes: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
}

function u32be(value: number): number[] {
  return [(value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
}

/** IDX3 unsigned-byte images: 00 00 08 03, N, rows, cols (big-endian), then pixels. */
export function idxImagesBytes(n: number, rows: number, cols: number, pixels: Uint8Array): Uint8Array {
  return new Uint8Array([0, 0, 8, 3, ...u32be(n), ...u32be(rows), ...u32be(cols), ...pixels]);
}

/** IDX1 unsigned-byte labels: 00 00 08 01, N, then one byte per label. */
export function idxLabelsBytes(labels: number[]): Uint8Array {
  return new Uint8Array([0, 0, 8, 1, ...u32be(labels.length), ...labels]);
}

export function gzip(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(gzipSync(bytes));
}

/** One CIFAR-10 binary record: label byte, then 1024 R, 1024 G, 1024 B bytes. */
export function cifarRecord(label: number, pixel: (channel: number, index: number) => number): Uint8Array {
  const record = new Uint8Array(3073);
  record[0] = label;
  for (let c = 0; c < 3; c++) for (let i = 0; i < 1024; i++) record[1 + c * 1024 + i] = pixel(c, i) & 0xff;
  return record;
}

/** Binary PPM as GTSRB stores it: "P6\n<w> <h>\n255\n" then RGB triples. */
export function ppmBytes(width: number, height: number, rgb: Uint8Array): Uint8Array {
  const header = new TextEncoder().encode(`P6\n${width} ${height}\n255\n`);
  return new Uint8Array([...header, ...rgb]);
}

/** Binary PGM: "P5\n<w> <h>\n255\n" then gray bytes. */
export function pgmBytes(width: number, height: number, gray: Uint8Array): Uint8Array {
  const header = new TextEncoder().encode(`P5\n${width} ${height}\n255\n`);
  return new Uint8Array([...header, ...gray]);
}

/** Side of the images `writeLearnableIdxSplit` makes. */
export const LEARNABLE_IDX_SIDE = 8;

/**
 * A tiny IDX split (gzip) that a model can learn: class k (of 8) lights row k, plus noise, so every
 * image differs. Used by the CLI tests that train for real.
 */
export function writeLearnableIdxSplit(dir: string, prefix: 'train' | 't10k', n: number, seed: number): void {
  const side = LEARNABLE_IDX_SIDE;
  const pixels = new Uint8Array(n * side * side);
  const labels: number[] = [];
  let s = seed;
  for (let i = 0; i < n; i++) {
    const label = i % 8;
    labels.push(label);
    for (let p = 0; p < side * side; p++) {
      s = (s * 1103515245 + 12345) >>> 0;
      pixels[i * side * side + p] = (Math.floor(p / side) === label ? 200 : 0) + (s >>> 26);
    }
  }
  writeBytes(join(dir, `${prefix}-images-idx3-ubyte.gz`), gzip(idxImagesBytes(n, side, side, pixels)));
  writeBytes(join(dir, `${prefix}-labels-idx1-ubyte.gz`), gzip(idxLabelsBytes(labels)));
}
