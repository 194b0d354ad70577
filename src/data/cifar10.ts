/**
 * CIFAR-10 binary version: each record is 1 label byte followed by 3072 pixel bytes (the 32x32 red plane,
 * then green, then blue, rows top to bottom), i.e. already CHW. batches.meta.txt lists class names one per line.
 */

import { ParseError } from '../io/parse-error.js';
import type { ImageDataset } from './dataset.js';

export const CIFAR10_RECORD_BYTES = 1 + 3 * 32 * 32;

export const CIFAR10_CLASS_NAMES = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
];

/** File names inside cifar-10-batches-bin. */
export const CIFAR10_FILE_NAMES = {
  train: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'],
  test: ['test_batch.bin'],
  meta: 'batches.meta.txt',
} as const;

/** Parses one batch file (any number of records; the official files hold 10000). */
export function parseCifar10Batch(bytes: Uint8Array, source = 'cifar10 batch', classNames?: string[]): ImageDataset {
  const fail = (message: string): Error => new ParseError(`cifar10 (${source}): ${message}`);
  if (bytes.length % CIFAR10_RECORD_BYTES !== 0) {
    throw fail(`size ${bytes.length} is not a multiple of the ${CIFAR10_RECORD_BYTES}-byte record (truncated or not a CIFAR-10 batch)`);
  }
  const n = bytes.length / CIFAR10_RECORD_BYTES;
  const pixels = CIFAR10_RECORD_BYTES - 1;
  const images = new Uint8Array(n * pixels);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const at = i * CIFAR10_RECORD_BYTES;
    const label = bytes[at];
    if (label > 9) throw fail(`record ${i} has label ${label}, expected 0..9`);
    labels[i] = label;
    images.set(bytes.subarray(at + 1, at + CIFAR10_RECORD_BYTES), i * pixels);
  }
  const names = classNames ?? CIFAR10_CLASS_NAMES;
  return { images, labels, n, c: 3, h: 32, w: 32, numClasses: 10, classNames: names.slice() };
}

/**
 * Reads batches.meta.txt: one class name per line, blank lines (the file ends with some) ignored. Lines
 * may end in LF, CRLF or a lone CR, so no name keeps a line break inside it.
 */
export function parseCifar10ClassNames(text: string, source: string = CIFAR10_FILE_NAMES.meta): string[] {
  const names = text
    .split(/\r\n|\r|\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  if (names.length !== 10) throw new ParseError(`cifar10 (${source}): expected 10 class names, found ${names.length}`);
  return names;
}
