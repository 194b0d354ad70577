/**
 * Where `awm purify` takes its clean images from: a dataset's test split (drawn with the seed and
 * then left out of evaluation), a folder with one subfolder of images per class, or a safetensors
 * file holding `images` (N,C,H,W; float in [0,1] or uint8) and `labels` (int).
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseSafetensors } from '../io/safetensors.js';
import { perClassSample, subset, type ImageDataset } from '../data/dataset.js';
import { Rng } from '../data/rng.js';
import { loadImageFolder } from '../data/folder.node.js';
import type { ModelSpec } from '../nn/spec.js';
import { cleanSetFromDataset, type CleanSet } from '../awm/clean-set.js';
import { dataSource, isDatasetName, loadSplit } from './common.js';
import type { FlagSpecs, ParsedFlags } from './args.js';
import { UsageError } from './args.js';
import type { NamedPath } from './outputs.js';

export interface CleanChoice {
  clean: CleanSet;
  /** The test split minus the clean images, when the clean images came from a dataset. */
  rest?: ImageDataset;
  description: string;
  /** The classes' names, when the source has them (a dataset, a folder's subfolders). */
  classNames?: readonly string[];
}

/** Picks `perClass` per class, or `count` at random, or everything. */
function pickIndices(labels: Int32Array, numClasses: number, perClass: number | undefined, count: number | undefined, seed: number, what: string): number[] {
  const n = labels.length;
  if (perClass !== undefined) {
    const fake = { images: new Uint8Array(0), labels, n, c: 0, h: 0, w: 0, numClasses } as ImageDataset;
    try {
      return Array.from(perClassSample(fake, perClass, seed));
    } catch (e) {
      throw new Error(`${what}: ${(e as Error).message}`);
    }
  }
  if (count !== undefined) {
    if (count > n) throw new Error(`${what} has ${n} images, --count ${count} requested`);
    return Array.from(new Rng(seed).permutation(n).slice(0, count)).sort((a, b) => a - b);
  }
  return Array.from({ length: n }, (_, i) => i);
}

/** A safetensors file of `images` (N,C,H,W; float in [0,1] or uint8) and integer `labels` (N), as float images. */
export async function readLabelledImages(path: string): Promise<{ images: Float32Array; labels: Int32Array; n: number; c: number; h: number; w: number }> {
  const bytes = new Uint8Array(await readFile(path));
  const file = parseSafetensors(bytes, path);
  const images = file.tensors.get('images');
  const labels = file.tensors.get('labels');
  if (!images || !labels) throw new Error(`${path} must hold tensors 'images' (N,C,H,W) and 'labels' (N); found ${[...file.tensors.keys()].join(', ') || 'none'}`);
  if (images.shape.length !== 4) throw new Error(`${path}: 'images' must be N,C,H,W, got [${images.shape.join(', ')}]`);
  const [n, c, h, w] = images.shape as [number, number, number, number];
  if (labels.shape.length !== 1 || labels.shape[0] !== n) throw new Error(`${path}: 'labels' must have shape [${n}], got [${labels.shape.join(', ')}]`);
  if (!(labels.data instanceof Int32Array)) throw new Error(`${path}: 'labels' must be an integer tensor, got ${labels.dtype}`);
  const isByte = images.dtype === 'U8';
  const f = new Float32Array(images.data.length);
  for (let i = 0; i < f.length; i++) f[i] = isByte ? images.data[i]! / 255 : images.data[i]!;
  return { images: f, labels: labels.data, n, c, h, w };
}

async function fromSafetensors(path: string, spec: ModelSpec): Promise<CleanSet> {
  return { ...(await readLabelledImages(path)), numClasses: spec.numClasses };
}

export async function chooseCleanSource(flags: ParsedFlags, spec: ModelSpec, seed: number): Promise<CleanChoice> {
  const source = String(flags.clean);
  const perClass = flags['per-class'] as number | undefined;
  const count = flags.count as number | undefined;
  if (perClass !== undefined && count !== undefined) throw new UsageError('give --per-class or --count, not both');
  if (perClass !== undefined && perClass < 1) throw new UsageError(`--per-class must be at least 1, got ${perClass}`);
  if (count !== undefined && count < 1) throw new UsageError(`--count must be at least 1, got ${count}`);

  if (isDatasetName(source) && source !== 'folder') {
    const ds = await loadSplit(dataSource(flags, source, { channels: spec.inChannels, size: spec.inputSize }), 'test');
    const picked = pickIndices(ds.labels, ds.numClasses, perClass ?? (count === undefined ? 10 : undefined), count, seed, `the ${source} test split`);
    const chosen = new Set(picked);
    const rest = subset(ds, Array.from({ length: ds.n }, (_, i) => i).filter((i) => !chosen.has(i)));
    return { clean: cleanSetFromDataset(ds, picked), rest, ...(ds.classNames ? { classNames: ds.classNames } : {}), description: `${picked.length} images from the ${source} test split (seed ${seed}); the other ${rest.n} are the evaluation set` };
  }
  if (!existsSync(source)) throw new Error(`--clean ${source}: no such dataset name, folder or file`);
  if (statSync(source).isDirectory()) {
    const size = (flags['image-size'] as number | undefined) ?? spec.inputSize ?? 32;
    const ds = await loadImageFolder(source, { size, channels: spec.inChannels as 1 | 3 });
    const picked = pickIndices(ds.labels, ds.numClasses, perClass, count, seed, `folder ${source}`);
    return { clean: { ...cleanSetFromDataset(ds, picked), numClasses: spec.numClasses }, ...(ds.classNames ? { classNames: ds.classNames } : {}), description: `${picked.length} images from folder ${source}` };
  }
  if (source.endsWith('.safetensors')) {
    const all = await fromSafetensors(source, spec);
    const picked = pickIndices(all.labels, spec.numClasses, perClass, count, seed, source);
    const per = all.c * all.h * all.w;
    const images = new Float32Array(picked.length * per);
    picked.forEach((i, k) => images.set(all.images.subarray(i * per, (i + 1) * per), k * per));
    return { clean: { ...all, images, labels: Int32Array.from(picked, (i) => all.labels[i]!), n: picked.length }, description: `${picked.length} images from ${source}` };
  }
  throw new Error(`--clean ${source}: expected a dataset name (fashion-mnist, mnist, cifar10, gtsrb), a folder of class subfolders, or a .safetensors file`);
}

/** The flags that choose clean images, as `awm purify` and `awm scan` take them (`perClassDefault` in words). */
export function cleanSourceFlags(perClassDefault: string): FlagSpecs {
  return {
    clean: { type: 'string', required: true, help: 'clean images: a dataset name (its test split, with --data-dir), a folder of class subfolders, or a .safetensors file with images and labels' },
    'per-class': { type: 'int', min: 1, help: `clean images per class (default ${perClassDefault} from a dataset; all from a folder or file)` },
    count: { type: 'int', min: 1, help: 'instead of --per-class: this many clean images at random' },
    'image-size': { type: 'int', min: 4, help: 'resize folder images to this size (default: the model input size, else 32)' },
  };
}

/** --clean names a dataset, or a folder or file that exists (then it is one of the command's inputs). */
export function checkCleanInput(flags: ParsedFlags): NamedPath | undefined {
  const clean = String(flags.clean);
  if (isDatasetName(clean) && clean !== 'folder') return undefined;
  if (!existsSync(clean)) throw new Error(`--clean ${clean}: no such dataset name, folder or file`);
  return { what: '--clean', path: clean };
}
