import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFolderDataset, isFolderImageName } from '../../src/data/folder.js';
import { loadImageFolder } from '../../src/data/folder.node.js';
import { encodePngCompressed } from '../../src/io/png.node.js';
import { encodePng } from '../../src/io/png.js';
import { makeTempDir, pgmBytes, ppmBytes, writeBytes } from './fixtures.js';

const rgb = Uint8Array.from({ length: 4 * 4 * 3 }, (_, i) => (i * 5) & 0xff);
const gray = Uint8Array.from({ length: 16 }, (_, i) => i * 16);
const grayAlpha = Uint8Array.from({ length: 32 }, (_, i) => (i % 2 === 0 ? 100 + i : 7));

/** HWC → CHW for a 4x4 image. */
function chw(hwc: Uint8Array, channels: number): number[] {
  const out: number[] = [];
  for (let c = 0; c < channels; c++) for (let p = 0; p < 16; p++) out.push(hwc[p * channels + c]);
  return out;
}

describe('image folder datasets', () => {
  let root: string;
  beforeAll(() => {
    root = makeTempDir('folder');
    writeBytes(join(root, 'cat', 'b.ppm'), ppmBytes(4, 4, rgb));
    writeBytes(join(root, 'cat', 'a.png'), encodePngCompressed({ width: 4, height: 4, channels: 3, data: rgb }));
    writeBytes(join(root, 'dog', 'c.PGM'), pgmBytes(4, 4, gray));
    writeBytes(join(root, 'dog', 'd.png'), encodePngCompressed({ width: 4, height: 4, channels: 2, data: grayAlpha }));
    writeFileSync(join(root, 'dog', 'notes.txt'), 'not an image');
    writeFileSync(join(root, 'dog', '.hidden.png'), 'ignored');
    writeFileSync(join(root, 'README'), 'files at the top level are not classes');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('maps sorted subfolders to classes and converts gray to RGB by replication', async () => {
    const ds = await loadImageFolder(root, { size: 4, channels: 3 });
    expect(ds).toMatchObject({ n: 4, c: 3, h: 4, w: 4, numClasses: 2, classNames: ['cat', 'dog'] });
    expect(Array.from(ds.labels)).toEqual([0, 0, 1, 1]);
    expect(Array.from(ds.images.subarray(0, 48))).toEqual(chw(rgb, 3));
    expect(Array.from(ds.images.subarray(48, 96))).toEqual(chw(rgb, 3));
    expect(Array.from(ds.images.subarray(96, 144))).toEqual([...gray, ...gray, ...gray]);
    const grayOfD = Array.from({ length: 16 }, (_, p) => grayAlpha[p * 2]);
    expect(Array.from(ds.images.subarray(144, 192))).toEqual([...grayOfD, ...grayOfD, ...grayOfD]);
  });

  it('converts RGB to gray with the ITU-R 601-2 luma weights and resizes', async () => {
    const ds = await loadImageFolder(root, { size: [4, 4], channels: 1 });
    const luma = Array.from({ length: 16 }, (_, p) => (rgb[p * 3] * 19595 + rgb[p * 3 + 1] * 38470 + rgb[p * 3 + 2] * 7471 + 0x8000) >>> 16);
    expect(Array.from(ds.images.subarray(0, 16))).toEqual(luma);
    expect(Array.from(ds.images.subarray(32, 48))).toEqual(Array.from(gray));
    const small = await loadImageFolder(root, { size: [2, 3], channels: 3 });
    expect(small).toMatchObject({ h: 2, w: 3 });
    expect(small.images.length).toBe(4 * 3 * 2 * 3);
  });

  it('works from bytes in the browser-safe core (DecompressionStream inflate)', async () => {
    const png = encodePng({ width: 4, height: 4, channels: 1, data: gray });
    const ds = await buildFolderDataset(['only'], [{ classIndex: 0, read: () => png, source: 'x.png' }], { size: 4, channels: 1 });
    expect(Array.from(ds.images)).toEqual(Array.from(gray));
    await expect(buildFolderDataset(['only'], [{ classIndex: 1, read: () => png, source: 'x.png' }], { size: 4, channels: 1 })).rejects.toThrow(
      /x\.png\): class index 1 is outside \[0, 1\)/,
    );
  });

  it('filters file names by extension', () => {
    expect(['a.png', 'b.PPM', 'c.pgm', 'd.jpg', '.e.png', 'f.png.txt'].filter(isFolderImageName)).toEqual(['a.png', 'b.PPM', 'c.pgm']);
  });

  it('names the broken file or empty folder', async () => {
    const dir = makeTempDir('folder-bad');
    try {
      await expect(loadImageFolder(dir, { size: 4, channels: 3 })).rejects.toThrow(/has no class subfolders/);
      mkdirSync(join(dir, 'empty'));
      await expect(loadImageFolder(dir, { size: 4, channels: 3 })).rejects.toThrow(/class folder .*empty contains no \.png\/\.ppm\/\.pgm images/);
      writeBytes(join(dir, 'empty', 'x.png'), encodePngCompressed({ width: 4, height: 4, channels: 1, data: gray }).subarray(0, 40));
      await expect(loadImageFolder(dir, { size: 4, channels: 3 })).rejects.toThrow(/png \(.*empty\/x\.png\): /);
      writeBytes(join(dir, 'empty', 'x.png'), new TextEncoder().encode('GIF89a'));
      await expect(loadImageFolder(dir, { size: 4, channels: 3 })).rejects.toThrow(/image \(.*x\.png\): unrecognised format/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
