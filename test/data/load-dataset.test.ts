import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../src/data/node.js';
import { cifarRecord, gzip, idxImagesBytes, idxLabelsBytes, makeTempDir, pgmBytes, ppmBytes, writeBytes } from './fixtures.js';

describe('loadDataset', () => {
  let root: string;
  beforeAll(() => {
    root = makeTempDir('load');
    const mnist = join(root, 'mnist');
    writeBytes(join(mnist, 't10k-images-idx3-ubyte.gz'), gzip(idxImagesBytes(1, 2, 2, new Uint8Array([1, 2, 3, 4]))));
    writeBytes(join(mnist, 't10k-labels-idx1-ubyte.gz'), gzip(idxLabelsBytes([5])));
    writeBytes(join(root, 'cifar', 'cifar-10-batches-bin', 'test_batch.bin'), cifarRecord(4, () => 9));
    const gtsrbTest = join(root, 'gtsrb', 'GTSRB', 'Final_Test', 'Images');
    writeBytes(join(gtsrbTest, '00000.ppm'), ppmBytes(1, 1, new Uint8Array([1, 2, 3])));
    writeFileSync(join(gtsrbTest, 'GT-final_test.csv'), 'Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n00000.ppm;1;1;0;0;1;1;7\n');
    writeBytes(join(root, 'folder', 'test', 'b', 'x.pgm'), pgmBytes(1, 1, new Uint8Array([77])));
    writeBytes(join(root, 'folder', 'test', 'a', 'y.pgm'), pgmBytes(1, 1, new Uint8Array([88])));
    writeBytes(join(root, 'flat', 'k', 'z.pgm'), pgmBytes(1, 1, new Uint8Array([66])));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('dispatches to each loader by name', async () => {
    const mnist = await loadDataset('mnist', join(root, 'mnist'), 'test');
    expect(Array.from(mnist.labels)).toEqual([5]);
    expect(mnist.classNames?.[5]).toBe('5');
    const fashion = await loadDataset('fashion-mnist', join(root, 'mnist'), 'test');
    expect(fashion.classNames?.[5]).toBe('Sandal');
    const cifar = await loadDataset('cifar10', join(root, 'cifar'), 'test');
    expect(cifar).toMatchObject({ n: 1, c: 3, h: 32, w: 32 });
    expect(Array.from(cifar.labels)).toEqual([4]);
    const gtsrb = await loadDataset('gtsrb', join(root, 'gtsrb'), 'test', { gtsrb: { size: 2 } });
    expect(Array.from(gtsrb.labels)).toEqual([7]);
    expect(Array.from(gtsrb.images)).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
  });

  it('uses dir/<split> for folders when present, else dir itself', async () => {
    const split = await loadDataset('folder', join(root, 'folder'), 'test', { folder: { size: 1, channels: 1 } });
    expect(split.classNames).toEqual(['a', 'b']);
    expect(Array.from(split.images)).toEqual([88, 77]);
    const flat = await loadDataset('folder', join(root, 'flat'), 'train');
    expect(flat).toMatchObject({ n: 1, c: 3, h: 32, w: 32, classNames: ['k'] });
    expect(flat.images[0]).toBe(66);
  });

  it('rejects unknown names and splits', async () => {
    await expect(loadDataset('imagenet' as 'mnist', root, 'test')).rejects.toThrow(/unknown dataset "imagenet"/);
    await expect(loadDataset('mnist', root, 'valid' as 'test')).rejects.toThrow(/split must be "train" or "test"/);
  });
});
