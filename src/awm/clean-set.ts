/**
 * The clean images a defense may use, as float pixels in [0, 1] on the host, plus the one-shot
 * augmentation of AWM's official code: each image gets 9 extra copies made once (random resized
 * crop, scale 0.08-1, ratio 3/4-4/3, back to full size, and an optional horizontal flip).
 */
import type { ImageDataset } from '../data/dataset.js';
import { Rng } from '../data/rng.js';
import { sampleWindows, windowsToGrid } from '../data/augment.js';
import type { Backend } from '../tensor/backend.js';
import { tidy, keep } from '../tensor/scope.js';
import { noGrad } from '../autograd/engine.js';
import * as ops from '../ops/index.js';

export interface CleanSet {
  images: Float32Array;
  labels: Int32Array;
  n: number;
  c: number;
  h: number;
  w: number;
  numClasses: number;
}

export function cleanSetFromDataset(ds: ImageDataset, indices?: ArrayLike<number>): CleanSet {
  const idx = indices ? Array.from(indices) : Array.from({ length: ds.n }, (_, i) => i);
  const per = ds.c * ds.h * ds.w;
  const images = new Float32Array(idx.length * per);
  const labels = new Int32Array(idx.length);
  idx.forEach((src, k) => {
    for (let j = 0; j < per; j++) images[k * per + j] = ds.images[src * per + j]! / 255;
    labels[k] = ds.labels[src]!;
  });
  return { images, labels, n: idx.length, c: ds.c, h: ds.h, w: ds.w, numClasses: ds.numClasses };
}

/** Checks shapes, value range, labels and that the set is not empty; errors name the problem. */
export function validateCleanSet(set: CleanSet, expect?: { c: number; h?: number; w?: number; numClasses: number }): void {
  const per = set.c * set.h * set.w;
  if (set.n < 1) throw new Error('the clean set is empty: at least one image is needed');
  if (set.images.length !== set.n * per) throw new Error(`the clean set holds ${set.images.length} values, expected ${set.n} images of ${set.c}x${set.h}x${set.w}`);
  if (set.labels.length !== set.n) throw new Error(`the clean set has ${set.labels.length} labels for ${set.n} images`);
  if (expect) {
    if (set.c !== expect.c) throw new Error(`the clean images have ${set.c} channel(s) but the model takes ${expect.c}`);
    if (expect.h !== undefined && (set.h !== expect.h || set.w !== expect.w)) {
      throw new Error(`the clean images are ${set.h}x${set.w} but the model expects ${expect.h}x${expect.w}`);
    }
  }
  const classes = expect?.numClasses ?? set.numClasses;
  for (let i = 0; i < set.n; i++) {
    const y = set.labels[i]!;
    if (!Number.isInteger(y) || y < 0 || y >= classes) throw new Error(`clean image ${i} has label ${y}, outside the model's ${classes} classes`);
  }
  for (let i = 0; i < set.images.length; i++) {
    const v = set.images[i]!;
    if (!(v >= 0 && v <= 1)) throw new Error(`clean image ${Math.floor(i / per)} has a pixel value ${v} outside [0, 1] (NaN or unnormalised data)`);
  }
}

/** Images per class in the set. */
export function perClassCounts(set: CleanSet): Int32Array {
  const counts = new Int32Array(set.numClasses);
  for (let i = 0; i < set.n; i++) counts[set.labels[i]!]!++;
  return counts;
}

/**
 * Appends `copies` random-resized-crop copies of every image (made once, seeded). Runs the
 * resampling on `backend` with a bilinear grid sample. `scale` is the crop's share of the image area
 * (default torchvision's 0.08-1, as the one-shot preset).
 */
export async function augmentOneShot(backend: Backend, set: CleanSet, opts: { copies?: number; flip?: boolean; seed: number; scale?: [number, number] }): Promise<CleanSet> {
  const copies = opts.copies ?? 9;
  if (copies <= 0) return set;
  const scale = opts.scale ?? [0.08, 1];
  if (!(scale[0] > 0 && scale[0] <= scale[1] && scale[1] <= 1)) throw new Error(`augmentOneShot: scale must satisfy 0 < low <= high <= 1, got [${scale.join(', ')}]`);
  const rng = new Rng(opts.seed);
  const per = set.c * set.h * set.w;
  const reps = set.n * copies;
  const src = new Float32Array(reps * per);
  const labels = new Int32Array(set.n * (copies + 1));
  labels.set(set.labels, 0);
  for (let k = 0; k < reps; k++) {
    const i = Math.floor(k / copies);
    src.set(set.images.subarray(i * per, (i + 1) * per), k * per);
    labels[set.n + k] = set.labels[i]!;
  }
  const windows = sampleWindows(rng, reps, set.h, set.w, {
    resizedCrop: { scale, ratio: [3 / 4, 4 / 3] },
    flipProbability: opts.flip ? 0.5 : 0,
  });
  const out = tidy(() => noGrad(() => {
    const x = ops.tensor(backend, src, [reps, set.c, set.h, set.w]);
    const grid = ops.tensor(backend, windowsToGrid(windows, set.h, set.w), [reps, set.h, set.w, 2]);
    return keep(ops.clamp(ops.gridSample(x, grid, { alignCorners: false, padding: 'border' }), 0, 1));
  }));
  const aug = (await out.data()) as Float32Array;
  out.dispose();
  const images = new Float32Array(set.n * (copies + 1) * per);
  images.set(set.images, 0);
  images.set(aug.subarray(0, reps * per), set.n * per);
  return { ...set, images, labels, n: set.n * (copies + 1) };
}

/**
 * Appends `count` mixtures of two random images of the set, x = l * a + (1 - l) * b with l drawn
 * from [0.5, 1) (seeded); the label is a's, the heavier one. With soft targets from a teacher these
 * widen the inputs on which the masked model is held to the original one's answers.
 */
export function mixupPool(set: CleanSet, count: number, seed: number): CleanSet {
  if (count <= 0) return set;
  const rng = new Rng(seed);
  const per = set.c * set.h * set.w;
  const images = new Float32Array((set.n + count) * per);
  const labels = new Int32Array(set.n + count);
  images.set(set.images, 0);
  labels.set(set.labels, 0);
  for (let k = 0; k < count; k++) {
    const a = rng.int(set.n);
    const b = rng.int(set.n);
    const l = rng.uniform(0.5, 1);
    const dst = (set.n + k) * per;
    for (let j = 0; j < per; j++) images[dst + j] = l * set.images[a * per + j]! + (1 - l) * set.images[b * per + j]!;
    labels[set.n + k] = set.labels[a]!;
  }
  return { ...set, images, labels, n: set.n + count };
}

/**
 * `count` cut-and-paste composites of the set's images (seeded): image a with a random box of 25-50 % of its area taken
 * from another image b at the same place. AWM+'s output check (output-check.ts) compares a defended model's answers on
 * them with the original model's: they are new inputs that no augmentation of a single image makes. Needs two images.
 */
export function cutMixImages(set: CleanSet, count: number, seed: number): Float32Array {
  const rng = pairSource(set, 'cutMixImages: composites', seed);
  const { c, h, w } = set;
  const per = c * h * w;
  const out = new Float32Array(count * per);
  for (let k = 0; k < count; k++) {
    const [a, b] = differentPair(rng, set.n);
    const area = rng.uniform(0.25, 0.5);
    const bh = Math.max(1, Math.round(h * Math.sqrt(area)));
    const bw = Math.max(1, Math.round(w * Math.sqrt(area)));
    const y0 = rng.int(h - bh + 1);
    const x0 = rng.int(w - bw + 1);
    const dst = k * per;
    out.set(set.images.subarray(a * per, (a + 1) * per), dst);
    for (let ch = 0; ch < c; ch++) {
      for (let y = y0; y < y0 + bh; y++) {
        const row = ch * h * w + y * w;
        out.set(set.images.subarray(b * per + row + x0, b * per + row + x0 + bw), dst + row + x0);
      }
    }
  }
  return out;
}

/**
 * `count` mixtures of two different images of the set (seeded), l * a + (1 - l) * b with l drawn from [0.5, 0.8]: the
 * output check's other kind of composite. Unlike mixupPool's, a and b always differ and neither image dominates.
 */
export function twoImageMixtures(set: CleanSet, count: number, seed: number): Float32Array {
  const rng = pairSource(set, 'twoImageMixtures: mixtures', seed);
  const per = set.c * set.h * set.w;
  const out = new Float32Array(count * per);
  for (let k = 0; k < count; k++) {
    const [a, b] = differentPair(rng, set.n);
    const l = rng.uniform(0.5, 0.8);
    for (let j = 0; j < per; j++) out[k * per + j] = l * set.images[a * per + j]! + (1 - l) * set.images[b * per + j]!;
  }
  return out;
}

/** The seeded generator of a two-image composite maker, after checking that the set has two images to pair. */
function pairSource(set: CleanSet, what: string, seed: number): Rng {
  if (set.n < 2) throw new Error(`${what} need at least two images, got ${set.n}`);
  return new Rng(seed);
}

/** Two different indices below n, uniformly. */
function differentPair(rng: Rng, n: number): [number, number] {
  const a = rng.int(n);
  const b = rng.int(n - 1);
  return [a, b >= a ? b + 1 : b];
}
