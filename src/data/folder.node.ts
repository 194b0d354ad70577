/** Loads a class-per-subfolder image dataset from disk. */

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { inflateNode } from '../io/decompress.node.js';
import type { ImageDataset } from './dataset.js';
import { buildFolderDataset, isFolderImageName, type FolderImageFile, type FolderOptions } from './folder.js';

/**
 * Every subfolder of `dir` is a class (sorted names → indices 0..K-1); inside, files ending in
 * .png/.ppm/.pgm are read in sorted name order, others (and hidden files) are skipped.
 * A class folder without any image is an error, as in torchvision's ImageFolder.
 */
export async function loadImageFolder(dir: string, options: Omit<FolderOptions, 'inflate'>): Promise<ImageDataset> {
  const classNames = readdirSync(dir)
    .filter((name) => !name.startsWith('.') && statSync(join(dir, name)).isDirectory())
    .sort();
  if (classNames.length === 0) throw new Error(`folder dataset: ${dir} has no class subfolders`);
  const files: FolderImageFile[] = [];
  classNames.forEach((className, classIndex) => {
    const classDir = join(dir, className);
    const names = readdirSync(classDir).filter(isFolderImageName).sort();
    if (names.length === 0) throw new Error(`folder dataset: class folder ${classDir} contains no .png/.ppm/.pgm images`);
    for (const name of names) {
      const path = join(classDir, name);
      files.push({ classIndex, read: () => new Uint8Array(readFileSync(path)), source: path });
    }
  });
  return buildFolderDataset(classNames, files, { ...options, inflate: inflateNode });
}
