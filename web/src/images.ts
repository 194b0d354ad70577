/**
 * Clean images picked by a person: a folder with one subfolder per class (labels from the folder
 * names, as torchvision's ImageFolder), or loose files named `<class>_anything.png`. Each image
 * must already have the model's size: resizing silently would change what AWM sees.
 */
import type { ImageDataset } from '../../src/data/dataset.js';
import { isFolderImageName } from '../../src/data/folder.js';
import { decodeImage } from '../../src/io/image.js';
import { convertChannels, hwcToChw } from '../../src/io/raster.js';
import type { ModelSpec } from '../../src/nn/spec.js';
import { PageError } from './errors.js';

export interface PickedFile {
  /** Path as the browser gives it: `root/class/name.png` for a folder pick, `name.png` for files. */
  path: string;
  bytes: () => Promise<Uint8Array>;
}

export function pickedFiles(list: FileList | null): PickedFile[] {
  return Array.from(list ?? [], (f) => ({
    path: f.webkitRelativePath || f.name,
    bytes: async () => new Uint8Array(await f.arrayBuffer()),
  }));
}

const prefixOf = (file: string): string | null => /^([^_\-.]+)[_-]/.exec(file)?.[1] ?? null;

/**
 * The class name each path gives: its parent folder; but when every file sits in one folder (a flat
 * pick) and every name has a `<class>_` or `<class>-` prefix, the prefixes name the classes.
 */
export function classNamesOf(paths: readonly string[]): Array<string | null> {
  const split = paths.map((p) => p.split('/').filter(Boolean));
  const parents = new Set(split.map((parts) => parts.slice(0, -1).join('/')));
  if (parents.size === 1) {
    const prefixes = split.map((parts) => prefixOf(parts[parts.length - 1] ?? ''));
    if (prefixes.every((p) => p !== null)) return prefixes;
  }
  return split.map((parts) => (parts.length >= 2 ? parts[parts.length - 2]! : null));
}

/**
 * Class indices: folder names that are all whole numbers are the labels themselves; otherwise the
 * names in sorted order (ImageFolder's rule), which then must name every class of the model.
 */
export function classIndex(names: readonly string[], numClasses: number): Map<string, number> {
  const unique = [...new Set(names)].sort();
  if (unique.every((n) => /^\d+$/.test(n))) {
    const map = new Map(unique.map((n) => [n, Number(n)]));
    const bad = unique.find((n) => Number(n) >= numClasses);
    if (bad !== undefined) throw new PageError('images', 'A label is outside the model’s classes', `Folder "${bad}" names class ${bad}, but the model has classes 0 to ${numClasses - 1}.`);
    return map;
  }
  if (unique.length !== numClasses) {
    throw new PageError('images', 'The folders do not match the model’s classes',
      `Found ${unique.length} class folder(s) (${unique.join(', ')}) but the model has ${numClasses} classes. Use one folder per class, named 0 to ${numClasses - 1} or by class name (sorted names give the class order).`);
  }
  return new Map(unique.map((n, i) => [n, i]));
}

/** Decodes the picked images into a dataset the model can take, or explains what is wrong with them. */
export async function imagesToDataset(files: readonly PickedFile[], spec: ModelSpec, what: string): Promise<ImageDataset> {
  const images = files.filter((f) => isFolderImageName(f.path.split('/').pop() ?? ''));
  if (images.length === 0) {
    throw new PageError('images', `No ${what} found`, 'Pick PNG, PGM or PPM images: a folder with one subfolder per class, or files named like "3_coat.png".');
  }
  const names = classNamesOf(images.map((f) => f.path)).map((name, i) => {
    if (name === null) throw new PageError('images', `Cannot tell the class of ${images[i]!.path}`, 'Put the images in one folder per class, or name each file "<class>_<anything>.png".');
    return name;
  });
  const index = classIndex(names, spec.numClasses);
  const c = spec.inChannels;
  if (c !== 1 && c !== 3) throw new PageError('shapes', 'Unsupported channel count', `The model takes ${c}-channel images; the page reads gray (1) or RGB (3) images.`);
  let size: { h: number; w: number } | null = spec.inputSize ? { h: spec.inputSize, w: spec.inputSize } : null;
  const chw: Uint8Array[] = [];
  for (const f of images) {
    let raster;
    try {
      raster = await decodeImage(await f.bytes(), { source: f.path });
    } catch (e) {
      throw new PageError('images', `${f.path} is not an image the page can read`, (e as Error).message);
    }
    size ??= { h: raster.height, w: raster.width };
    if (raster.height !== size.h || raster.width !== size.w) {
      throw new PageError('image-size', 'An image has the wrong size',
        `${f.path} is ${raster.width}x${raster.height} pixels, but ${spec.inputSize ? 'the model takes' : 'the first image is'} ${size.w}x${size.h}. Resize every image to ${size.w}x${size.h} first.`);
    }
    const converted = convertChannels(raster, c as 1 | 3);
    chw.push(hwcToChw(converted.data, converted.height, converted.width, c));
  }
  const { h, w } = size!;
  const all = new Uint8Array(chw.length * c * h * w);
  chw.forEach((x, i) => all.set(x, i * c * h * w));
  return { images: all, labels: Int32Array.from(names, (n) => index.get(n)!), n: chw.length, c, h, w, numClasses: spec.numClasses };
}
