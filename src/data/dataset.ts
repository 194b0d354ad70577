/** In-memory labelled image datasets (uint8, NCHW) and the sampling utilities built on them. */

import { Rng } from './rng.js';

export { Rng, type MutableIndexable } from './rng.js';
export { resizeBilinearU8, type ResizeOptions } from './resize.js';

export interface ImageDataset {
  /** N*C*H*W bytes, NCHW order, values 0..255. */
  images: Uint8Array;
  labels: Int32Array;
  n: number;
  c: number;
  h: number;
  w: number;
  numClasses: number;
  classNames?: string[];
}

/** Which half of a dataset with an official train/test split to load. */
export type Split = 'train' | 'test';

/** Rejects anything but 'train'/'test' (JS callers and CLI strings are not type-checked). */
export function assertSplit(split: string, who: string): asserts split is Split {
  if (split !== 'train' && split !== 'test') throw new Error(`${who}: split must be "train" or "test", got "${split}"`);
}

/** Bytes per image (C*H*W). */
export function imageSize(ds: ImageDataset): number {
  return ds.c * ds.h * ds.w;
}

/** Throws an Error naming `source` and the first inconsistency found. */
export function validateDataset(ds: ImageDataset, source = 'dataset'): void {
  const fail = (message: string): Error => new Error(`${source}: ${message}`);
  for (const key of ['c', 'h', 'w', 'numClasses'] as const) {
    if (!Number.isInteger(ds[key]) || ds[key] < 1) throw fail(`${key} must be a positive integer, got ${ds[key]}`);
  }
  if (!Number.isInteger(ds.n) || ds.n < 0) throw fail(`n must be a non-negative integer, got ${ds.n}`);
  if (ds.images.length !== ds.n * imageSize(ds)) {
    throw fail(`images has ${ds.images.length} bytes, expected n*c*h*w = ${ds.n * imageSize(ds)}`);
  }
  if (ds.labels.length !== ds.n) throw fail(`labels has ${ds.labels.length} entries, expected n = ${ds.n}`);
  for (let i = 0; i < ds.n; i++) {
    const label = ds.labels[i];
    if (label < 0 || label >= ds.numClasses) throw fail(`label ${label} of image ${i} is outside [0, ${ds.numClasses})`);
  }
  if (ds.classNames !== undefined && ds.classNames.length !== ds.numClasses) {
    throw fail(`classNames has ${ds.classNames.length} entries, expected numClasses = ${ds.numClasses}`);
  }
}

/** Copies the listed images (in the given order, repeats allowed) into a new dataset. */
export function subset(ds: ImageDataset, indices: ArrayLike<number>): ImageDataset {
  const size = imageSize(ds);
  const images = new Uint8Array(indices.length * size);
  const labels = new Int32Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!Number.isInteger(i) || i < 0 || i >= ds.n) throw new Error(`subset: index ${i} is outside [0, ${ds.n})`);
    images.set(ds.images.subarray(i * size, (i + 1) * size), k * size);
    labels[k] = ds.labels[i];
  }
  return { ...ds, images, labels, n: indices.length };
}

/** Appends datasets with identical image geometry and class count (e.g. the five CIFAR-10 training batches). */
export function concatDatasets(parts: readonly ImageDataset[]): ImageDataset {
  if (parts.length === 0) throw new Error('concatDatasets: no datasets given');
  const first = parts[0];
  for (const part of parts) {
    if (part.c !== first.c || part.h !== first.h || part.w !== first.w || part.numClasses !== first.numClasses) {
      throw new Error(
        `concatDatasets: shape ${part.c}x${part.h}x${part.w}/${part.numClasses} classes differs from ${first.c}x${first.h}x${first.w}/${first.numClasses}`,
      );
    }
  }
  const n = parts.reduce((total, part) => total + part.n, 0);
  const images = new Uint8Array(n * imageSize(first));
  const labels = new Int32Array(n);
  let at = 0;
  for (const part of parts) {
    images.set(part.images, at * imageSize(first));
    labels.set(part.labels, at);
    at += part.n;
  }
  return { ...first, images, labels, n };
}

/** Number of images of each class. */
export function classCounts(ds: ImageDataset): Int32Array {
  const counts = new Int32Array(ds.numClasses);
  for (let i = 0; i < ds.n; i++) counts[ds.labels[i]]++;
  return counts;
}

export interface BatchOptions {
  /** Visit images in a seeded random order instead of 0..n-1. Default false. */
  shuffle?: boolean;
  /** Seed for the shuffle (uint32). Default 0. */
  seed?: number;
  /** Skip a final batch smaller than batchSize. Default false. */
  dropLast?: boolean;
}

export interface Batch {
  indices: Int32Array;
  /** batch*C*H*W bytes, NCHW. */
  images: Uint8Array;
  labels: Int32Array;
}

/** Yields copies of consecutive batches; one pass over the dataset. */
export function* batches(ds: ImageDataset, batchSize: number, options: BatchOptions = {}): Generator<Batch> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batches: batchSize must be a positive integer, got ${batchSize}`);
  const order = options.shuffle ? new Rng(options.seed ?? 0).permutation(ds.n) : identity(ds.n);
  const size = imageSize(ds);
  for (let start = 0; start < ds.n; start += batchSize) {
    const count = Math.min(batchSize, ds.n - start);
    if (count < batchSize && options.dropLast) return;
    const indices = order.slice(start, start + count);
    const images = new Uint8Array(count * size);
    const labels = new Int32Array(count);
    for (let k = 0; k < count; k++) {
      const i = indices[k];
      images.set(ds.images.subarray(i * size, (i + 1) * size), k * size);
      labels[k] = ds.labels[i];
    }
    yield { indices, images, labels };
  }
}

/**
 * Picks `perClass` random images of every class (seeded). The result lists class 0's picks first, then
 * class 1's, and so on, each group in ascending index order. Throws naming the first class that is too small.
 */
export function perClassSample(ds: ImageDataset, perClass: number, seed: number): Int32Array {
  if (!Number.isInteger(perClass) || perClass < 0) throw new Error(`perClassSample: perClass must be a non-negative integer, got ${perClass}`);
  const byClass: number[][] = Array.from({ length: ds.numClasses }, () => []);
  for (let i = 0; i < ds.n; i++) byClass[ds.labels[i]].push(i);
  const rng = new Rng(seed);
  const out = new Int32Array(ds.numClasses * perClass);
  for (let c = 0; c < ds.numClasses; c++) {
    const members = byClass[c];
    if (members.length < perClass) {
      const name = ds.classNames?.[c] !== undefined ? ` ("${ds.classNames[c]}")` : '';
      throw new Error(`perClassSample: class ${c}${name} has only ${members.length} images, ${perClass} requested`);
    }
    const picked = rng.shuffle(members).slice(0, perClass).sort((a, b) => a - b);
    out.set(picked, c * perClass);
  }
  return out;
}

function identity(n: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return out;
}
