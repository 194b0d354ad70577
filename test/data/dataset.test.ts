import { describe, expect, it } from 'vitest';
import {
  batches,
  classCounts,
  concatDatasets,
  perClassSample,
  Rng,
  resizeBilinearU8,
  subset,
  validateDataset,
  type ImageDataset,
} from '../../src/data/index.js';

/** n images of 1x2x2 whose pixels all equal the image index, labels cycling through numClasses. */
function toyDataset(n: number, numClasses: number): ImageDataset {
  const images = new Uint8Array(n * 4);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    images.fill(i, i * 4, i * 4 + 4);
    labels[i] = i % numClasses;
  }
  return { images, labels, n, c: 1, h: 2, w: 2, numClasses };
}

describe('Rng', () => {
  it('is deterministic per seed and pinned across versions', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const seqA = Array.from({ length: 100 }, () => a.next());
    expect(Array.from({ length: 100 }, () => b.next())).toEqual(seqA);
    expect(seqA.slice(0, 3)).toEqual([2784860155, 1560037678, 3290702580]);
    const zero = new Rng(0);
    expect([zero.next(), zero.next()]).toEqual([4004507919, 2784870557]);
    expect(new Rng(43).next()).not.toBe(seqA[0]);
    expect(new Rng(-1).next()).toBe(new Rng(0xffffffff).next());
  });

  it('produces values in range with a plausible distribution', () => {
    const rng = new Rng(7);
    const buckets = new Array(10).fill(0);
    let sum = 0;
    let outOfRange = 0;
    for (let i = 0; i < 20000; i++) {
      const u = rng.uniform();
      if (!(u >= 0 && u < 1)) outOfRange++;
      sum += u;
      const k = rng.int(10);
      if (!(Number.isInteger(k) && k >= 0 && k < 10)) outOfRange++;
      else buckets[k]++;
    }
    expect(outOfRange).toBe(0);
    expect(Math.abs(sum / 20000 - 0.5)).toBeLessThan(0.01);
    for (const count of buckets) expect(Math.abs(count - 2000)).toBeLessThan(200);
    expect(rng.uniform(5, 6)).toBeGreaterThanOrEqual(5);
    expect(rng.int(1)).toBe(0);
    expect(Number.isFinite(rng.normal())).toBe(true);
  });

  it('shuffles in place into a permutation, deterministically', () => {
    const values = Array.from({ length: 50 }, (_, i) => i);
    const shuffled = new Rng(3).shuffle(values.slice());
    expect(shuffled).not.toEqual(values);
    expect(shuffled.slice().sort((x, y) => x - y)).toEqual(values);
    expect(new Rng(3).shuffle(values.slice())).toEqual(shuffled);
    const typed = new Rng(3).shuffle(Int32Array.from(values));
    expect(Array.from(typed)).toEqual(shuffled);
    expect(Array.from(new Rng(3).permutation(50))).toEqual(shuffled);
  });

  it('rejects bad arguments', () => {
    expect(() => new Rng(1.5)).toThrow(/seed must be an integer/);
    expect(() => new Rng(1).int(0)).toThrow(/n must be an integer/);
  });
});

describe('resizeBilinearU8', () => {
  it('uses half-pixel centres with border clamping when upscaling', () => {
    expect(Array.from(resizeBilinearU8(new Uint8Array([0, 100]), 1, 1, 2, 1, 4))).toEqual([0, 25, 75, 100]);
    const src = new Uint8Array([0, 100, 100, 200]);
    expect(Array.from(resizeBilinearU8(src, 1, 2, 2, 4, 4))).toEqual([
      0, 25, 75, 100, 25, 50, 100, 125, 75, 100, 150, 175, 100, 125, 175, 200,
    ]);
  });

  it('antialiases when downscaling (PIL BILINEAR) unless disabled (plain bilinear)', () => {
    const src = new Uint8Array([0, 40, 80, 120]);
    expect(Array.from(resizeBilinearU8(src, 1, 1, 4, 1, 2))).toEqual([29, 91]);
    expect(Array.from(resizeBilinearU8(src, 1, 1, 4, 1, 2, { antialias: false }))).toEqual([20, 100]);
  });

  it('keeps constant planes constant and channels independent', () => {
    const src = new Uint8Array(3 * 7 * 5);
    src.fill(10, 0, 35);
    src.fill(128, 35, 70);
    src.fill(255, 70);
    const out = resizeBilinearU8(src, 3, 7, 5, 3, 11);
    expect(out.length).toBe(3 * 3 * 11);
    expect(new Set(out.subarray(0, 33))).toEqual(new Set([10]));
    expect(new Set(out.subarray(33, 66))).toEqual(new Set([128]));
    expect(new Set(out.subarray(66))).toEqual(new Set([255]));
  });

  it('copies at the same size and validates its input', () => {
    const src = new Uint8Array([1, 2, 3, 4]);
    const out = resizeBilinearU8(src, 1, 2, 2, 2, 2);
    expect(out).toEqual(src);
    expect(out).not.toBe(src);
    expect(() => resizeBilinearU8(src, 1, 2, 3, 2, 2)).toThrow(/expected 6 bytes/);
    expect(() => resizeBilinearU8(src, 1, 2, 2, 0, 2)).toThrow(/dstH must be a positive integer/);
  });
});

describe('dataset helpers', () => {
  it('validateDataset reports inconsistencies with the source name', () => {
    const ds = toyDataset(6, 3);
    expect(() => validateDataset(ds)).not.toThrow();
    expect(() => validateDataset({ ...ds, images: ds.images.subarray(1) }, 'toy')).toThrow(/toy: images has 23 bytes, expected n\*c\*h\*w = 24/);
    expect(() => validateDataset({ ...ds, labels: new Int32Array(5) }, 'toy')).toThrow(/labels has 5 entries/);
    expect(() => validateDataset({ ...ds, labels: Int32Array.from([0, 1, 2, 3, 0, 1]) }, 'toy')).toThrow(/label 3 of image 3 is outside \[0, 3\)/);
    expect(() => validateDataset({ ...ds, c: 0 }, 'toy')).toThrow(/c must be a positive integer/);
    expect(() => validateDataset({ ...ds, classNames: ['a'] }, 'toy')).toThrow(/classNames has 1 entries/);
  });

  it('subset copies images and labels in the given order', () => {
    const ds = toyDataset(6, 3);
    const sub = subset(ds, [4, 1, 4]);
    expect(sub.n).toBe(3);
    expect(Array.from(sub.images)).toEqual([4, 4, 4, 4, 1, 1, 1, 1, 4, 4, 4, 4]);
    expect(Array.from(sub.labels)).toEqual([1, 1, 1]);
    expect(() => subset(ds, [6])).toThrow(/index 6 is outside \[0, 6\)/);
  });

  it('concatDatasets appends in order and checks geometry', () => {
    const joined = concatDatasets([toyDataset(2, 3), toyDataset(3, 3)]);
    expect(joined.n).toBe(5);
    expect(Array.from(joined.labels)).toEqual([0, 1, 0, 1, 2]);
    expect(joined.images[2 * 4]).toBe(0);
    expect(() => concatDatasets([toyDataset(2, 3), { ...toyDataset(2, 3), h: 1, images: new Uint8Array(4) }])).toThrow(/differs/);
  });

  it('classCounts counts labels', () => {
    expect(Array.from(classCounts(toyDataset(7, 3)))).toEqual([3, 2, 2]);
  });
});

describe('batches', () => {
  const ds = toyDataset(10, 3);

  it('walks the dataset in order, keeping a short last batch unless dropLast', () => {
    const all = [...batches(ds, 4)];
    expect(all.map((b) => Array.from(b.indices))).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    expect(Array.from(all[2].images)).toEqual([8, 8, 8, 8, 9, 9, 9, 9]);
    expect(Array.from(all[1].labels)).toEqual([1, 2, 0, 1]);
    expect([...batches(ds, 4, { dropLast: true })].length).toBe(2);
    expect([...batches(ds, 5, { dropLast: true })].length).toBe(2);
  });

  it('shuffles deterministically by seed and covers every image once', () => {
    const order = (seed: number) => [...batches(ds, 3, { shuffle: true, seed })].flatMap((b) => Array.from(b.indices));
    const first = order(1);
    expect(first).toEqual(order(1));
    expect(first).not.toEqual(order(2));
    expect(first.slice().sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const batch of batches(ds, 3, { shuffle: true, seed: 1 })) {
      batch.indices.forEach((index, k) => {
        expect(batch.images[k * 4]).toBe(index);
        expect(batch.labels[k]).toBe(index % 3);
      });
    }
    expect(() => [...batches(ds, 0)]).toThrow(/batchSize must be a positive integer/);
  });
});

describe('perClassSample', () => {
  it('returns K distinct indices of each class, grouped by class, deterministic per seed', () => {
    const ds = toyDataset(30, 3);
    const picked = perClassSample(ds, 4, 11);
    expect(picked.length).toBe(12);
    for (let c = 0; c < 3; c++) {
      const group = Array.from(picked.subarray(c * 4, c * 4 + 4));
      expect(new Set(group).size).toBe(4);
      for (const index of group) expect(ds.labels[index]).toBe(c);
      expect(group).toEqual(group.slice().sort((a, b) => a - b));
    }
    expect(perClassSample(ds, 4, 11)).toEqual(picked);
    expect(perClassSample(ds, 4, 12)).not.toEqual(picked);
    expect(perClassSample(ds, 10, 0).length).toBe(30);
  });

  it('names the class that has too few images', () => {
    const ds = { ...toyDataset(7, 3), classNames: ['cat', 'dog', 'bird'] };
    expect(() => perClassSample(ds, 3, 0)).toThrow(/class 1 \("dog"\) has only 2 images, 3 requested/);
    expect(() => perClassSample(toyDataset(7, 3), 3, 0)).toThrow(/class 1 has only 2 images/);
  });
});
