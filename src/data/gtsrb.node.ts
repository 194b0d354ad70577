/** Loads GTSRB from the official directory layout. */

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { assertSplit, type ImageDataset, type Split } from './dataset.js';
import { GTSRB_NUM_CLASSES, gtsrbImageToChw, parseGtsrbCsv, type GtsrbImageOptions, type GtsrbRow } from './gtsrb.js';

/**
 * `dir` is the folder holding Final_Training / Final_Test (i.e. GTSRB/) or the folder above GTSRB/.
 * Train: Final_Training/Images/000NN/GT-000NN.csv plus its .ppm files, classes in folder order.
 * Test: Final_Test/Images/*.ppm annotated by GT-final_test.csv (with ClassId), looked for in Final_Test/Images,
 * Final_Test, GTSRB/ and the folder above it, since the ground-truth archive unpacks separately.
 */
export function loadGtsrb(dir: string, split: Split, options: GtsrbImageOptions = {}): ImageDataset {
  assertSplit(split, 'loadGtsrb');
  const root = resolveRoot(dir);
  const entries = split === 'train' ? trainEntries(root) : testEntries(root);
  const size = options.size ?? 32;
  const pixels = 3 * size * size;
  const images = new Uint8Array(entries.length * pixels);
  const labels = new Int32Array(entries.length);
  entries.forEach(({ path, row }, i) => {
    if (!existsSync(path)) throw new Error(`gtsrb: missing image ${path}`);
    images.set(gtsrbImageToChw(new Uint8Array(readFileSync(path)), row, path, options), i * pixels);
    labels[i] = row.classId;
  });
  return { images, labels, n: entries.length, c: 3, h: size, w: size, numClasses: GTSRB_NUM_CLASSES };
}

interface Entry {
  path: string;
  row: GtsrbRow;
}

function resolveRoot(dir: string): string {
  const hasSplits = (folder: string): boolean => existsSync(join(folder, 'Final_Training')) || existsSync(join(folder, 'Final_Test'));
  if (hasSplits(dir)) return dir;
  if (hasSplits(join(dir, 'GTSRB'))) return join(dir, 'GTSRB');
  throw new Error(`gtsrb: ${dir} contains neither Final_Training/Final_Test nor GTSRB/Final_Training/Final_Test`);
}

function trainEntries(root: string): Entry[] {
  const imagesDir = join(root, 'Final_Training', 'Images');
  if (!existsSync(imagesDir)) throw new Error(`gtsrb: missing training folder ${imagesDir}`);
  const classDirs = readdirSync(imagesDir).filter((name) => /^\d{5}$/.test(name)).sort();
  if (classDirs.length === 0) throw new Error(`gtsrb: no class folders (00000..00042) in ${imagesDir}`);
  const entries: Entry[] = [];
  for (const classDir of classDirs) {
    const csvPath = join(imagesDir, classDir, `GT-${classDir}.csv`);
    if (!existsSync(csvPath)) throw new Error(`gtsrb: missing annotation file ${csvPath}`);
    for (const row of parseGtsrbCsv(readFileSync(csvPath, 'utf8'), csvPath)) {
      if (row.classId !== Number(classDir)) {
        throw new Error(`gtsrb (${csvPath}): ${row.filename} has ClassId ${row.classId} inside class folder ${classDir}`);
      }
      entries.push({ path: join(imagesDir, classDir, row.filename), row });
    }
  }
  return entries;
}

function testEntries(root: string): Entry[] {
  const imagesDir = join(root, 'Final_Test', 'Images');
  if (!existsSync(imagesDir)) throw new Error(`gtsrb: missing test folder ${imagesDir}`);
  const candidates = [imagesDir, join(root, 'Final_Test'), root, dirname(root)].map((folder) => join(folder, 'GT-final_test.csv'));
  const csvPath = candidates.find((path) => existsSync(path));
  if (csvPath === undefined) throw new Error(`gtsrb: missing test annotations, none of ${candidates.join(', ')} exists`);
  return parseGtsrbCsv(readFileSync(csvPath, 'utf8'), csvPath).map((row) => ({ path: join(imagesDir, row.filename), row }));
}
