/** Node-only dataset loaders (read from disk) plus a single entry point that picks one by name. */

import { loadCifar10 } from './cifar10.node.js';
import { assertSplit, type ImageDataset, type Split } from './dataset.js';
import type { GtsrbImageOptions } from './gtsrb.js';
import { loadGtsrb } from './gtsrb.node.js';
import { FASHION_MNIST_CLASS_NAMES, MNIST_CLASS_NAMES } from './idx.js';
import { loadIdxDataset } from './idx.node.js';
import type { FolderOptions } from './folder.js';
import { loadImageFolder } from './folder.node.js';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

export { loadCifar10 } from './cifar10.node.js';
export { loadGtsrb } from './gtsrb.node.js';
export { loadIdxDataset, type IdxLoadOptions } from './idx.node.js';
export { loadImageFolder } from './folder.node.js';

export type DatasetName = 'mnist' | 'fashion-mnist' | 'cifar10' | 'gtsrb' | 'folder';

export interface LoadDatasetOptions {
  /** GTSRB: output size (default 32) and ROI cropping (default none). */
  gtsrb?: GtsrbImageOptions;
  /** Folder datasets: output size and channels (default 32x32 RGB). */
  folder?: Omit<FolderOptions, 'inflate'>;
}

/**
 * Loads a dataset by name. For 'folder', `dir/<split>` is used when it exists (train/ and test/ trees),
 * otherwise `dir` itself is the class-per-subfolder root whatever the split.
 */
export async function loadDataset(
  name: DatasetName,
  dir: string,
  split: Split,
  options: LoadDatasetOptions = {},
): Promise<ImageDataset> {
  assertSplit(split, 'loadDataset');
  switch (name) {
    case 'mnist':
      return loadIdxDataset(dir, split, { classNames: MNIST_CLASS_NAMES });
    case 'fashion-mnist':
      return loadIdxDataset(dir, split, { classNames: FASHION_MNIST_CLASS_NAMES });
    case 'cifar10':
      return loadCifar10(dir, split);
    case 'gtsrb':
      return loadGtsrb(dir, split, options.gtsrb);
    case 'folder': {
      const splitDir = join(dir, split);
      const root = existsSync(splitDir) && statSync(splitDir).isDirectory() ? splitDir : dir;
      return loadImageFolder(root, options.folder ?? { size: 32, channels: 3 });
    }
    default:
      throw new Error(`loadDataset: unknown dataset "${name as string}" (expected mnist, fashion-mnist, cifar10, gtsrb or folder)`);
  }
}
