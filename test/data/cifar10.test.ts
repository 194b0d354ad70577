import { rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CIFAR10_CLASS_NAMES, parseCifar10Batch, parseCifar10ClassNames } from '../../src/data/cifar10.js';
import { loadCifar10 } from '../../src/data/cifar10.node.js';
import { cifarRecord, makeTempDir, writeBytes } from './fixtures.js';

/** Pixel value encoding file, record, channel and position so every byte is checkable. */
const pixel = (file: number, record: number) => (c: number, i: number) => file * 50 + record * 10 + c * 3 + i;

function batchBytes(file: number, labels: number[]): Uint8Array {
  const out = new Uint8Array(labels.length * 3073);
  labels.forEach((label, r) => out.set(cifarRecord(label, pixel(file, r)), r * 3073));
  return out;
}

describe('CIFAR-10', () => {
  let root: string;
  let batches: string;
  const trainLabels = [[0, 9], [1], [2, 3, 4], [5], [6, 7]];
  beforeAll(() => {
    root = makeTempDir('cifar');
    batches = join(root, 'cifar-10-batches-bin');
    trainLabels.forEach((labels, f) => writeBytes(join(batches, `data_batch_${f + 1}.bin`), batchBytes(f + 1, labels)));
    writeBytes(join(batches, 'test_batch.bin'), batchBytes(0, [8, 3]));
    // The official meta file ends with blank lines.
    writeFileSync(join(batches, 'batches.meta.txt'), `${CIFAR10_CLASS_NAMES.join('\n')}\n\n`);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('loads train batches 1..5 in order with exact CHW pixels', () => {
    const train = loadCifar10(root, 'train');
    expect(train).toMatchObject({ n: 9, c: 3, h: 32, w: 32, numClasses: 10 });
    expect(Array.from(train.labels)).toEqual(trainLabels.flat());
    // Image 3 is record 0 of data_batch_3.
    const image = train.images.subarray(3 * 3072, 4 * 3072);
    const expected = new Uint8Array(3072);
    for (let c = 0; c < 3; c++) for (let i = 0; i < 1024; i++) expected[c * 1024 + i] = pixel(3, 0)(c, i) & 0xff;
    expect(Buffer.compare(image, expected)).toBe(0);
    expect(train.classNames).toEqual(CIFAR10_CLASS_NAMES);
  });

  it('loads the test batch, also when pointed at cifar-10-batches-bin itself', () => {
    const test = loadCifar10(batches, 'test');
    expect(Array.from(test.labels)).toEqual([8, 3]);
    expect(test.images[3072 + 1024 + 5]).toBe(pixel(0, 1)(1, 5));
  });

  it('parses class names and rejects a wrong count', () => {
    expect(parseCifar10ClassNames('a\r\nb\nc\nd\ne\nf\ng\nh\ni\nj\n')).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
    expect(parseCifar10ClassNames('a\rb\rc\rd\re\rf\rg\rh\ri\rj\r')).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
    expect(() => parseCifar10ClassNames('a\nb\n', 'meta.txt')).toThrow(/cifar10 \(meta\.txt\): expected 10 class names, found 2/);
  });

  it('rejects bad sizes, labels and missing files, naming the file', () => {
    expect(() => parseCifar10Batch(new Uint8Array(3074), 'b.bin')).toThrow(/cifar10 \(b\.bin\): size 3074 is not a multiple of the 3073-byte record/);
    expect(() => parseCifar10Batch(batchBytes(0, [1, 10]), 'b.bin')).toThrow(/cifar10 \(b\.bin\): record 1 has label 10, expected 0\.\.9/);
    const dir = makeTempDir('cifar-bad');
    try {
      writeBytes(join(dir, 'test_batch.bin'), batchBytes(0, [1]).subarray(0, 3000));
      expect(() => loadCifar10(dir, 'test')).toThrow(/test_batch\.bin\): size 3000/);
      unlinkSync(join(dir, 'test_batch.bin'));
      expect(() => loadCifar10(dir, 'test')).toThrow(/cifar10: missing file .*test_batch\.bin/);
      expect(() => loadCifar10(dir, 'train')).toThrow(/missing file .*data_batch_1\.bin/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
