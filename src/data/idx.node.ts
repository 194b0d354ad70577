/** Loads MNIST-style IDX datasets from disk (plain or .gz files, both official name spellings). */

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isGzip } from '../io/decompress.js';
import { gunzipNodeSync } from '../io/decompress.node.js';
import { ParseError } from '../io/parse-error.js';
import { assertSplit, type ImageDataset, type Split } from './dataset.js';
import { idxDataset, MNIST_FILE_NAMES, type IdxDatasetOptions } from './idx.js';

export type IdxLoadOptions = Pick<IdxDatasetOptions, 'numClasses' | 'classNames'>;

/**
 * Loads `split` from `dir`, which holds the four MNIST/Fashion-MNIST files, e.g.
 * train-images-idx3-ubyte.gz (as in /usr/share/datasets/fashion-mnist) or the uncompressed names.
 * The dotted spelling some mirrors use (train-images.idx3-ubyte) is accepted too.
 */
export function loadIdxDataset(dir: string, split: Split, options: IdxLoadOptions = {}): ImageDataset {
  assertSplit(split, 'loadIdxDataset');
  const names = MNIST_FILE_NAMES[split];
  const imagesPath = findIdxFile(dir, names.images);
  const labelsPath = findIdxFile(dir, names.labels);
  return idxDataset(readIdxFile(imagesPath), readIdxFile(labelsPath), {
    ...options,
    imagesSource: imagesPath,
    labelsSource: labelsPath,
  });
}

function findIdxFile(dir: string, name: string): string {
  const dotted = name.replace(/-(idx\d-ubyte)$/, '.$1');
  const candidates = [name, `${name}.gz`, dotted, `${dotted}.gz`].map((file) => join(dir, file));
  const found = candidates.find((path) => existsSync(path));
  if (found === undefined) throw new Error(`idx: missing file, none of ${candidates.join(', ')} exists`);
  return found;
}

function readIdxFile(path: string): Uint8Array {
  const bytes = new Uint8Array(readFileSync(path));
  if (!isGzip(bytes)) return bytes;
  try {
    return gunzipNodeSync(bytes);
  } catch (error) {
    throw new ParseError(`idx (${path}): gzip data is corrupt or truncated: ${(error as Error).message}`);
  }
}
