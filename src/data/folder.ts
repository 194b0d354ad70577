/**
 * Class-per-subfolder image datasets (like torchvision's ImageFolder): class index = position of the
 * subfolder name in code-unit sorted order. Images may be PNG or binary PGM/PPM; each is converted to the
 * requested channel count (gray → RGB replicates the value, RGB → gray uses PIL's ITU-R 601-2 luma, alpha is
 * dropped) and resized with the antialiased half-pixel bilinear of resize.ts.
 */

import type { Decompressor } from '../io/decompress.js';
import { decodeImage } from '../io/image.js';
import { convertChannels, hwcToChw } from '../io/raster.js';
import type { ImageDataset } from './dataset.js';
import { resizeBilinearU8 } from './resize.js';

export const FOLDER_IMAGE_EXTENSIONS = ['.png', '.ppm', '.pgm'] as const;

export interface FolderOptions {
  /** Output size: one number for square images or [height, width]. */
  size: number | readonly [number, number];
  channels: 1 | 3;
  /** PNG inflater; defaults to DecompressionStream('deflate'). */
  inflate?: Decompressor;
}

export interface FolderImageFile {
  classIndex: number;
  /** Called once, when the image is decoded, so a large folder never sits in memory undecoded. */
  read: () => Uint8Array | Promise<Uint8Array>;
  /** File name used in error messages. */
  source: string;
}

/** True for file names this loader reads (extension match is case-insensitive). */
export function isFolderImageName(name: string): boolean {
  const lower = name.toLowerCase();
  return !lower.startsWith('.') && FOLDER_IMAGE_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

/** Decodes one image and returns it as channels×height×width CHW bytes. */
export async function decodeToChw(
  bytes: Uint8Array,
  source: string,
  channels: 1 | 3,
  height: number,
  width: number,
  inflate?: Decompressor,
): Promise<Uint8Array> {
  const image = convertChannels(await decodeImage(bytes, { source, inflate }), channels);
  const chw = hwcToChw(image.data, image.height, image.width, channels);
  return resizeBilinearU8(chw, channels, image.height, image.width, height, width);
}

/** Builds a dataset from a list of image files, decoding them one at a time in the order given. */
export async function buildFolderDataset(
  classNames: readonly string[],
  files: readonly FolderImageFile[],
  options: FolderOptions,
): Promise<ImageDataset> {
  const [h, w] = typeof options.size === 'number' ? [options.size, options.size] : options.size;
  const c = options.channels;
  if (c !== 1 && c !== 3) throw new Error(`folder dataset: channels must be 1 or 3, got ${c}`);
  const pixels = c * h * w;
  const images = new Uint8Array(files.length * pixels);
  const labels = new Int32Array(files.length);
  for (let i = 0; i < files.length; i++) {
    const file = files[i];
    if (!Number.isInteger(file.classIndex) || file.classIndex < 0 || file.classIndex >= classNames.length) {
      throw new Error(`folder dataset (${file.source}): class index ${file.classIndex} is outside [0, ${classNames.length})`);
    }
    images.set(await decodeToChw(await file.read(), file.source, c, h, w, options.inflate), i * pixels);
    labels[i] = file.classIndex;
  }
  return { images, labels, n: files.length, c, h, w, numClasses: classNames.length, classNames: classNames.slice() };
}
