/** Browser-safe dataset code: parsers take bytes, never touch the file system. */

export {
  assertSplit,
  batches,
  classCounts,
  concatDatasets,
  imageSize,
  perClassSample,
  subset,
  validateDataset,
  type Batch,
  type BatchOptions,
  type ImageDataset,
  type Split,
} from './dataset.js';
export { Rng, type MutableIndexable } from './rng.js';
export { resizeBilinearU8, type ResizeOptions } from './resize.js';
export {
  FASHION_MNIST_CLASS_NAMES,
  IDX_IMAGES_MAGIC,
  IDX_LABELS_MAGIC,
  MNIST_CLASS_NAMES,
  MNIST_FILE_NAMES,
  idxDataset,
  parseIdxDataset,
  parseIdxImages,
  parseIdxLabels,
  type IdxDatasetOptions,
  type IdxImages,
} from './idx.js';
export {
  CIFAR10_CLASS_NAMES,
  CIFAR10_FILE_NAMES,
  CIFAR10_RECORD_BYTES,
  parseCifar10Batch,
  parseCifar10ClassNames,
} from './cifar10.js';
export {
  GTSRB_CSV_COLUMNS,
  GTSRB_NUM_CLASSES,
  gtsrbImageToChw,
  parseGtsrbCsv,
  type GtsrbImageOptions,
  type GtsrbRow,
} from './gtsrb.js';
export {
  FOLDER_IMAGE_EXTENSIONS,
  buildFolderDataset,
  decodeToChw,
  isFolderImageName,
  type FolderImageFile,
  type FolderOptions,
} from './folder.js';
