import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idxDataset, parseIdxDataset, parseIdxImages, parseIdxLabels } from '../../src/data/idx.js';
import { loadIdxDataset } from '../../src/data/idx.node.js';
import { gzip, idxImagesBytes, idxLabelsBytes, makeTempDir, writeBytes } from './fixtures.js';

const trainPixels = Uint8Array.from({ length: 3 * 2 * 3 }, (_, i) => i * 10);
const trainLabels = [7, 0, 9];
const testPixels = Uint8Array.from({ length: 2 * 2 * 3 }, (_, i) => 255 - i);
const testLabels = [1, 2];

describe('IDX parsing', () => {
  it('parses image and label files', () => {
    const images = parseIdxImages(idxImagesBytes(3, 2, 3, trainPixels));
    expect([images.n, images.rows, images.cols]).toEqual([3, 2, 3]);
    expect(images.data).toEqual(trainPixels);
    expect(Array.from(parseIdxLabels(idxLabelsBytes(trainLabels)))).toEqual(trainLabels);
  });

  it('reports wrong magic, truncation and trailing bytes, naming the file', () => {
    expect(() => parseIdxImages(idxLabelsBytes([1]), 'imgs')).toThrow(/idx \(imgs\): wrong magic 0x00000801, expected 0x00000803/);
    expect(() => parseIdxLabels(idxImagesBytes(1, 1, 1, new Uint8Array(1)), 'lbls')).toThrow(/idx \(lbls\): wrong magic 0x00000803, expected 0x00000801/);
    const full = idxImagesBytes(3, 2, 3, trainPixels);
    expect(() => parseIdxImages(full.subarray(0, full.length - 1), 'imgs')).toThrow(/imgs.*truncated: 17 data bytes, header \[3, 2, 3\] needs 18/);
    expect(() => parseIdxImages(full.subarray(0, 10), 'imgs')).toThrow(/imgs.*truncated: 10 bytes, header needs 16/);
    expect(() => parseIdxImages(full.subarray(0, 2), 'imgs')).toThrow(/imgs.*truncated/);
    expect(() => parseIdxLabels(new Uint8Array([...idxLabelsBytes([1, 2]), 0]), 'lbls')).toThrow(/lbls.*1 unexpected bytes/);
  });

  it('combines images and labels, checking counts and label range', () => {
    const ds = idxDataset(idxImagesBytes(3, 2, 3, trainPixels), idxLabelsBytes(trainLabels));
    expect(ds).toMatchObject({ n: 3, c: 1, h: 2, w: 3, numClasses: 10 });
    expect(() => idxDataset(idxImagesBytes(3, 2, 3, trainPixels), idxLabelsBytes([1, 2]), { imagesSource: 'i', labelsSource: 'l' })).toThrow(
      /idx: i has 3 images but l has 2 labels/,
    );
    expect(() => idxDataset(idxImagesBytes(3, 2, 3, trainPixels), idxLabelsBytes([1, 10, 2]), { labelsSource: 'l' })).toThrow(
      /idx \(l\): label 10 at index 1 is outside \[0, 10\)/,
    );
  });

  it('gunzips in the browser-safe path (DecompressionStream)', async () => {
    const ds = await parseIdxDataset(gzip(idxImagesBytes(3, 2, 3, trainPixels)), idxLabelsBytes(trainLabels));
    expect(ds.images).toEqual(trainPixels);
    expect(Array.from(ds.labels)).toEqual(trainLabels);
    const truncated = gzip(idxImagesBytes(3, 2, 3, trainPixels)).subarray(0, 20);
    await expect(parseIdxDataset(truncated, idxLabelsBytes(trainLabels), { imagesSource: 'x.gz' })).rejects.toThrow(/idx \(x\.gz\): gzip data is corrupt/);
  });
});

describe('loadIdxDataset', () => {
  let gzDir: string;
  let plainDir: string;
  beforeAll(() => {
    gzDir = makeTempDir('idx-gz');
    writeBytes(join(gzDir, 'train-images-idx3-ubyte.gz'), gzip(idxImagesBytes(3, 2, 3, trainPixels)));
    writeBytes(join(gzDir, 'train-labels-idx1-ubyte.gz'), gzip(idxLabelsBytes(trainLabels)));
    writeBytes(join(gzDir, 't10k-images-idx3-ubyte.gz'), gzip(idxImagesBytes(2, 2, 3, testPixels)));
    writeBytes(join(gzDir, 't10k-labels-idx1-ubyte.gz'), gzip(idxLabelsBytes(testLabels)));
    plainDir = makeTempDir('idx-plain');
    writeBytes(join(plainDir, 'train-images-idx3-ubyte'), idxImagesBytes(3, 2, 3, trainPixels));
    writeBytes(join(plainDir, 'train-labels.idx1-ubyte'), idxLabelsBytes(trainLabels));
  });
  afterAll(() => {
    rmSync(gzDir, { recursive: true, force: true });
    rmSync(plainDir, { recursive: true, force: true });
  });

  it('loads gzipped train and test splits with exact pixels and labels', () => {
    const train = loadIdxDataset(gzDir, 'train');
    expect(train).toMatchObject({ n: 3, c: 1, h: 2, w: 3, numClasses: 10 });
    expect(train.images).toEqual(trainPixels);
    expect(Array.from(train.labels)).toEqual(trainLabels);
    const test = loadIdxDataset(gzDir, 'test', { classNames: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'] });
    expect(test.images).toEqual(testPixels);
    expect(Array.from(test.labels)).toEqual(testLabels);
    expect(test.classNames?.[2]).toBe('c');
  });

  it('loads uncompressed files and the dotted file-name spelling', () => {
    const train = loadIdxDataset(plainDir, 'train');
    expect(train.images).toEqual(trainPixels);
  });

  it('names the missing, corrupt or inconsistent file', () => {
    expect(() => loadIdxDataset(plainDir, 'test')).toThrow(/idx: missing file, none of .*t10k-images-idx3-ubyte/);
    const dir = makeTempDir('idx-bad');
    try {
      writeBytes(join(dir, 'train-images-idx3-ubyte.gz'), gzip(idxImagesBytes(3, 2, 3, trainPixels)).subarray(0, 25));
      writeBytes(join(dir, 'train-labels-idx1-ubyte'), idxLabelsBytes([1, 2, 3]));
      expect(() => loadIdxDataset(dir, 'train')).toThrow(/train-images-idx3-ubyte\.gz\): gzip data is corrupt/);
      writeBytes(join(dir, 'train-images-idx3-ubyte.gz'), gzip(idxImagesBytes(3, 2, 3, trainPixels).subarray(0, 30)));
      expect(() => loadIdxDataset(dir, 'train')).toThrow(/train-images-idx3-ubyte\.gz\): file is truncated/);
      writeBytes(join(dir, 'train-images-idx3-ubyte.gz'), gzip(idxImagesBytes(3, 2, 3, trainPixels)));
      writeFileSync(join(dir, 'train-labels-idx1-ubyte'), idxLabelsBytes([1, 2, 11]));
      expect(() => loadIdxDataset(dir, 'train')).toThrow(/train-labels-idx1-ubyte\): label 11 at index 2/);
      writeFileSync(join(dir, 'train-labels-idx1-ubyte'), idxLabelsBytes([1, 2]));
      expect(() => loadIdxDataset(dir, 'train')).toThrow(/train-images-idx3-ubyte\.gz has 3 images but .*train-labels-idx1-ubyte has 2 labels/);
      expect(() => loadIdxDataset(dir, 'val' as 'train')).toThrow(/split must be "train" or "test", got "val"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
