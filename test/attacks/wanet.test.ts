import { describe, expect, it } from 'vitest';
import { attackPreset, applyTrigger, upsampleBicubic, wanetField, wanetGrid, wanetPoisoner, warpImages } from '../../src/attacks/index.js';
import { CpuBackend } from '../../src/backends/cpu/index.js';
import { gridSample, tensor } from '../../src/ops/index.js';

const params = { k: 4, s: 0.5, gridRescale: 1, seed: 3 };
const random = (n: number, seed: number) => {
  let s = seed;
  return Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) / 16777216);
};

describe('WaNet warp', () => {
  it('the field is uniform noise scaled to mean |value| 1', () => {
    const f = wanetField(4, 9);
    expect(f.length).toBe(32);
    expect(f.reduce((s, v) => s + Math.abs(v), 0) / 32).toBeCloseTo(1, 5);
    expect(wanetField(4, 9)).toEqual(f);
    expect(wanetField(4, 10)).not.toEqual(f);
  });

  it('bicubic upsampling (align_corners=True) passes through the k x k values', () => {
    const plane = random(16, 1);
    const up = upsampleBicubic(plane, 1, 4, 10, 10);
    for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) expect(up[3 * a * 10 + 3 * b]).toBeCloseTo(plane[a * 4 + b]!, 6);
    expect(upsampleBicubic(new Float32Array(16).fill(0.3), 1, 4, 7, 9).every((v) => Math.abs(v - 0.3) < 1e-6)).toBe(true);
  });

  it('s = 0 gives the identity grid and leaves images unchanged', () => {
    const grid = wanetGrid({ ...params, s: 0 }, 5, 7);
    for (let y = 0; y < 5; y++) {
      for (let x = 0; x < 7; x++) {
        expect(grid[(y * 7 + x) * 2]).toBeCloseTo(-1 + x / 3, 6);
        expect(grid[(y * 7 + x) * 2 + 1]).toBeCloseTo(-1 + y / 2, 6);
      }
    }
    const images = random(2 * 3 * 5 * 7, 2);
    const out = warpImages(images, { c: 3, h: 5, w: 7 }, grid);
    for (let i = 0; i < images.length; i++) expect(out[i]).toBeCloseTo(images[i]!, 5);
  });

  it('is deterministic, moves pixels, and stays in [-1, 1]', () => {
    const grid = wanetGrid(params, 32, 32);
    expect(wanetGrid(params, 32, 32)).toEqual(grid);
    expect(wanetGrid({ ...params, seed: 4 }, 32, 32)).not.toEqual(grid);
    expect(grid.every((v) => v >= -1 && v <= 1)).toBe(true);
    const identity = wanetGrid({ ...params, s: 0 }, 32, 32);
    const moved = grid.reduce((m, v, i) => Math.max(m, Math.abs(v - identity[i]!)), 0);
    expect(moved).toBeGreaterThan(0.01);
    const spec = attackPreset('wanet');
    const x = random(2 * 3 * 32 * 32, 5);
    expect(applyTrigger(spec, x, { c: 3, h: 32, w: 32 })).toEqual(applyTrigger(spec, x, { c: 3, h: 32, w: 32 }));
  });

  it('equals grid_sample(bilinear, align_corners=True) of the tensor ops', async () => {
    const cpu = new CpuBackend({ precision: 'float32' });
    const shape = { c: 2, h: 9, w: 11 };
    const images = random(3 * 2 * 9 * 11, 7);
    const grid = wanetGrid({ ...params, s: 2 }, 9, 11);
    const grids = new Float32Array(3 * grid.length);
    for (let i = 0; i < 3; i++) grids.set(grid, i * grid.length);
    const ref = gridSample(tensor(cpu, images, [3, 2, 9, 11]), tensor(cpu, grids, [3, 9, 11, 2]), { alignCorners: true, padding: 'zeros' });
    const expected = await ref.data();
    const actual = warpImages(images, shape, grid);
    for (let i = 0; i < actual.length; i++) expect(actual[i]).toBeCloseTo(expected[i]!, 5);
  });
});

describe('WaNet per-batch poisoning', () => {
  const shape = { c: 1, h: 8, w: 8 };
  const spec = attackPreset('wanet', { rate: 0.2 });
  const poisoner = wanetPoisoner(spec.backdoors[0]!, shape, 10);
  const images = random(10 * 64, 11);
  const labels = Int32Array.from([3, 4, 5, 6, 7, 8, 9, 1, 2, 3]);

  it('warps and relabels floor(B * rate) images, noise-warps cross ratio times as many, keeps the rest', () => {
    const out = poisoner.poisonBatch(images, labels, 1);
    expect([out.backdoor, out.cross]).toEqual([2, 4]);
    expect(Array.from(out.labels)).toEqual([0, 0, 5, 6, 7, 8, 9, 1, 2, 3]);
    const warped = warpImages(images, shape, poisoner.grid);
    expect(out.images.subarray(0, 128)).toEqual(warped.subarray(0, 128));
    for (let i = 2; i < 6; i++) {
      const slice = (a: Float32Array) => a.subarray(i * 64, (i + 1) * 64);
      expect(slice(out.images)).not.toEqual(slice(warped));
      expect(slice(out.images)).not.toEqual(slice(images));
    }
    expect(out.images.subarray(384)).toEqual(images.subarray(384));
    expect(images).toEqual(random(10 * 64, 11)); // input untouched
  });

  it('draws the noise grids from the step seed', () => {
    expect(poisoner.poisonBatch(images, labels, 1)).toEqual(poisoner.poisonBatch(images, labels, 1));
    const a = poisoner.poisonBatch(images, labels, 1).images;
    const b = poisoner.poisonBatch(images, labels, 2).images;
    expect(a.subarray(0, 128)).toEqual(b.subarray(0, 128));
    expect(a.subarray(128, 384)).not.toEqual(b.subarray(128, 384));
  });

  it('caps the noise images at the batch size and supports all-to-all', () => {
    const a2a = attackPreset('wanet', { rate: 0.5, allToAll: true });
    const out = wanetPoisoner(a2a.backdoors[0]!, shape, 10).poisonBatch(images, labels, 0);
    expect([out.backdoor, out.cross]).toEqual([5, 5]);
    expect(Array.from(out.labels)).toEqual([4, 5, 6, 7, 8, 8, 9, 1, 2, 3]);
    expect(() => wanetPoisoner(attackPreset('badnets').backdoors[0]!, shape, 10)).toThrow(/not "warp"/);
  });
});
