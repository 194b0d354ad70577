/**
 * IDX files (MNIST, Fashion-MNIST): big-endian header `00 00 type ndims`, ndims uint32 sizes, then data.
 * Only unsigned-byte data (type 0x08) is used by these datasets: magic 0x00000803 for N×rows×cols images,
 * 0x00000801 for N labels. Gzipped bytes (1f 8b) are inflated transparently by the async entry points.
 */

import { readU32BE } from '../io/bytes.js';
import { gunzipBrowser, maybeGunzip, type Decompressor } from '../io/decompress.js';
import { ParseError } from '../io/parse-error.js';
import type { ImageDataset } from './dataset.js';

export const IDX_IMAGES_MAGIC = 0x00000803;
export const IDX_LABELS_MAGIC = 0x00000801;

/** Official file names without the optional .gz suffix. */
export const MNIST_FILE_NAMES = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
} as const;

export const MNIST_CLASS_NAMES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
export const FASHION_MNIST_CLASS_NAMES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

export interface IdxImages {
  n: number;
  rows: number;
  cols: number;
  /** n*rows*cols bytes (a copy, independent of the input buffer). */
  data: Uint8Array;
}

/** Parses an uncompressed unsigned-byte IDX file with the given magic; returns its dimensions and data. */
function parseIdxU8(bytes: Uint8Array, magic: number, source: string): { dims: number[]; data: Uint8Array } {
  const fail = (message: string): Error => new ParseError(`idx (${source}): ${message}`);
  if (bytes.length < 4) throw fail(`file is truncated: ${bytes.length} bytes, too short for the magic number`);
  const found = readU32BE(bytes, 0);
  if (found !== magic) throw fail(`wrong magic 0x${hex(found)}, expected 0x${hex(magic)}`);
  const ndims = magic & 0xff;
  const headerLength = 4 + 4 * ndims;
  if (bytes.length < headerLength) throw fail(`file is truncated: ${bytes.length} bytes, header needs ${headerLength}`);
  const dims: number[] = [];
  for (let d = 0; d < ndims; d++) dims.push(readU32BE(bytes, 4 + 4 * d));
  const expected = dims.reduce((a, b) => a * b, 1);
  const available = bytes.length - headerLength;
  if (available < expected) {
    throw fail(`file is truncated: ${available} data bytes, header [${dims.join(', ')}] needs ${expected}`);
  }
  if (available > expected) throw fail(`${available - expected} unexpected bytes after the data for [${dims.join(', ')}]`);
  return { dims, data: bytes.slice(headerLength) };
}

export function parseIdxImages(bytes: Uint8Array, source = 'idx images'): IdxImages {
  const { dims, data } = parseIdxU8(bytes, IDX_IMAGES_MAGIC, source);
  return { n: dims[0], rows: dims[1], cols: dims[2], data };
}

export function parseIdxLabels(bytes: Uint8Array, source = 'idx labels'): Uint8Array {
  return parseIdxU8(bytes, IDX_LABELS_MAGIC, source).data;
}

export interface IdxDatasetOptions {
  imagesSource?: string;
  labelsSource?: string;
  /** Labels must lie in [0, numClasses). Default 10. */
  numClasses?: number;
  classNames?: string[];
}

/** Combines uncompressed image and label IDX files into a 1-channel dataset, checking counts and label range. */
export function idxDataset(imagesBytes: Uint8Array, labelsBytes: Uint8Array, options: IdxDatasetOptions = {}): ImageDataset {
  const imagesSource = options.imagesSource ?? 'idx images';
  const labelsSource = options.labelsSource ?? 'idx labels';
  const numClasses = options.numClasses ?? options.classNames?.length ?? 10;
  const images = parseIdxImages(imagesBytes, imagesSource);
  const rawLabels = parseIdxLabels(labelsBytes, labelsSource);
  if (rawLabels.length !== images.n) {
    throw new ParseError(`idx: ${imagesSource} has ${images.n} images but ${labelsSource} has ${rawLabels.length} labels`);
  }
  const labels = new Int32Array(rawLabels.length);
  for (let i = 0; i < rawLabels.length; i++) {
    if (rawLabels[i] >= numClasses) {
      throw new ParseError(`idx (${labelsSource}): label ${rawLabels[i]} at index ${i} is outside [0, ${numClasses})`);
    }
    labels[i] = rawLabels[i];
  }
  return {
    images: images.data,
    labels,
    n: images.n,
    c: 1,
    h: images.rows,
    w: images.cols,
    numClasses,
    classNames: options.classNames?.slice(),
  };
}

/** Like idxDataset, but accepts gzipped or plain bytes for either file. */
export async function parseIdxDataset(
  imagesBytes: Uint8Array,
  labelsBytes: Uint8Array,
  options: IdxDatasetOptions & { gunzip?: Decompressor } = {},
): Promise<ImageDataset> {
  const gunzip = options.gunzip ?? gunzipBrowser;
  const images = await inflateNamed(imagesBytes, gunzip, options.imagesSource ?? 'idx images');
  const labels = await inflateNamed(labelsBytes, gunzip, options.labelsSource ?? 'idx labels');
  return idxDataset(images, labels, options);
}

async function inflateNamed(bytes: Uint8Array, gunzip: Decompressor, source: string): Promise<Uint8Array> {
  try {
    return await maybeGunzip(bytes, gunzip);
  } catch (error) {
    throw new ParseError(`idx (${source}): gzip data is corrupt or truncated: ${(error as Error).message}`);
  }
}

function hex(value: number): string {
  return value.toString(16).padStart(8, '0');
}
