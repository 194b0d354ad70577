/** Loads the CIFAR-10 binary distribution from disk. */

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertSplit, concatDatasets, type ImageDataset, type Split } from './dataset.js';
import { CIFAR10_FILE_NAMES, parseCifar10Batch, parseCifar10ClassNames } from './cifar10.js';

/**
 * `dir` is either cifar-10-batches-bin itself or the folder containing it. Train concatenates
 * data_batch_1..5.bin in order; test is test_batch.bin. Class names come from batches.meta.txt when present,
 * otherwise the standard CIFAR-10 names are used.
 */
export function loadCifar10(dir: string, split: Split): ImageDataset {
  assertSplit(split, 'loadCifar10');
  const files = CIFAR10_FILE_NAMES[split];
  const root = existsSync(join(dir, 'cifar-10-batches-bin')) ? join(dir, 'cifar-10-batches-bin') : dir;
  const metaPath = join(root, CIFAR10_FILE_NAMES.meta);
  const classNames = existsSync(metaPath) ? parseCifar10ClassNames(readFileSync(metaPath, 'utf8'), metaPath) : undefined;
  const parts = files.map((file) => {
    const path = join(root, file);
    if (!existsSync(path)) throw new Error(`cifar10: missing file ${path}`);
    return parseCifar10Batch(new Uint8Array(readFileSync(path)), path, classNames);
  });
  return concatDatasets(parts);
}
