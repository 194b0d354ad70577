/**
 * AWM+'s output check (src/awm/output-check.ts): composites of the clean images (cutMixImages), the composite flip, and
 * the fallback to the faithful AWM when the output moves over a quarter of the composites into one class. A tiny
 * ResNet stands in; its head's bias pushed towards one class plays the wrecked output.
 */
import { describe, expect, it } from 'vitest';
import { createModel } from '../../src/nn/index.js';
import { cutMixImages, twoImageMixtures, type CleanSet } from '../../src/awm/clean-set.js';
import { compositeFlip, selfCheck, type CompositeProbe } from '../../src/awm/self-check.js';
import { checkOutput, COMPOSITE_FLIP_LIMIT, formatOutputCheck, snapshotHead } from '../../src/awm/output-check.js';
import { headLinear, shiftHeadBias } from '../../src/awm/head-calibration.js';
import { attachMasks, clearMasks, readMasks, setMasks } from '../../src/nn/masks.js';
import { resolveAwmPlusOptions } from '../../src/awm/awm-plus.js';
import { predictClasses } from '../../src/train/train.js';
import { cpu32, randomArray } from '../helpers/backends.js';

function grid(n: number, c = 1, h = 6, w = 5): CleanSet {
  // Image i is filled with the value i + 1 (channel ch: i + 1 + 100 ch), so every pixel names its source image.
  const per = c * h * w;
  const images = new Float32Array(n * per);
  for (let i = 0; i < n; i++) for (let ch = 0; ch < c; ch++) images.fill(i + 1 + 100 * ch, i * per + ch * h * w, i * per + (ch + 1) * h * w);
  return { images, labels: Int32Array.from({ length: n }, (_, i) => i % 2), n, c, h, w, numClasses: 2 };
}

describe('cutMixImages', () => {
  it('pastes one box of 25-50 % of the area from another image, in every channel alike, and is seeded', () => {
    const set = grid(4, 2, 8, 8);
    const out = cutMixImages(set, 50, 7);
    expect(out).toEqual(cutMixImages(set, 50, 7));
    expect(out).not.toEqual(cutMixImages(set, 50, 8));
    const per = 2 * 64;
    for (let k = 0; k < 50; k++) {
      const ch0 = Array.from(out.subarray(k * per, k * per + 64));
      const ch1 = Array.from(out.subarray(k * per + 64, (k + 1) * per));
      const sources = [...new Set(ch0)];
      expect(sources).toHaveLength(2);
      expect(ch1).toEqual(ch0.map((v) => v + 100));
      // One of the two sources fills a rectangle (the pasted box, the other's complement) of a rounded 25-50 % of 8x8.
      const boxes = sources.filter((s) => {
        const cells = ch0.flatMap((v, i) => (v === s ? [[Math.floor(i / 8), i % 8]] : []));
        return new Set(cells.map(([y]) => y)).size * new Set(cells.map(([, x]) => x)).size === cells.length;
      });
      expect(boxes).toHaveLength(1);
      const area = ch0.filter((v) => v === boxes[0]).length;
      expect(area).toBeGreaterThanOrEqual(16);
      expect(area).toBeLessThanOrEqual(36);
    }
  });

  it('needs two images', () => {
    expect(() => cutMixImages(grid(1), 3, 1)).toThrow(/at least two images, got 1/);
  });
});

describe('twoImageMixtures', () => {
  it('mixes two different images, the first at 0.5-0.8, and is seeded', () => {
    const set = grid(3);
    const out = twoImageMixtures(set, 200, 4);
    expect(out).toEqual(twoImageMixtures(set, 200, 4));
    for (let k = 0; k < 200; k++) {
      const px = out.subarray(k * 30, (k + 1) * 30);
      // Every pixel of image i is i + 1, so a mixture is one value v = l (a + 1) + (1 - l) (b + 1) with a != b.
      expect(new Set(px).size).toBe(1);
      const v = px[0]!;
      const fits = [0, 1, 2].flatMap((a) => [0, 1, 2].filter((b) => b !== a).map((b) => (v - (b + 1)) / (a - b))).some((l) => l >= 0.5 - 1e-6 && l <= 0.8 + 1e-6);
      expect(fits, `mixture ${k}: ${v}`).toBe(true);
      expect([1, 2, 3]).not.toContain(v);
    }
    expect(() => twoImageMixtures(grid(1), 3, 1)).toThrow(/at least two images, got 1/);
  });
});

/** A tiny 2-class ResNet, four of its own-answered random images (two per class), and composites with its answers. */
async function setup() {
  const model = createModel(cpu32, { arch: 'resnet18', inChannels: 1, numClasses: 2, width: 4 }, { seed: 3 });
  const pool = randomArray(64 * 144, 11, 0, 1);
  const answers = await predictClasses(model, cpu32, pool, [64, 1, 12, 12]);
  const rows = [0, 1].flatMap((k) => Array.from(answers.keys()).filter((i) => answers[i] === k).slice(0, 2));
  expect(rows).toHaveLength(4);
  const images = new Float32Array(4 * 144);
  rows.forEach((r, i) => images.set(pool.subarray(r * 144, (r + 1) * 144), i * 144));
  const clean: CleanSet = { images, labels: Int32Array.from(rows.map((r) => answers[r]!)), n: 4, c: 1, h: 12, w: 12, numClasses: 2 };
  const composites = new Float32Array(64 * 144);
  composites.set(cutMixImages(clean, 32, 5), 0);
  composites.set(twoImageMixtures(clean, 32, 6), 32 * 144);
  const probe: CompositeProbe = { images: composites, cutPaste: 32, reference: await predictClasses(model, cpu32, composites, [64, 1, 12, 12]) };
  // Both classes among the original's answers, so pushing every answer into one class flips many.
  expect(new Set(probe.reference).size).toBe(2);
  return { model, clean, probe };
}

const biasOf = async (model: ReturnType<typeof createModel>) => Array.from(await headLinear(model).bias!.data());
const noHooks = () => ({});

describe('compositeFlip and the self-check', () => {
  it('is 0 for the original model, 1 when every answer goes to one class, and is reported but not scored', async () => {
    const { model, clean, probe } = await setup();
    expect(await compositeFlip(model, cpu32, probe, clean)).toEqual({ rate: 0, cls: 0 });
    const options = { tau: 1, triggerLr: 1, steps: 2, batchSize: 4, noiseBlend: 0.2, noiseDraws: 1, seed: 2 };
    const reference = await predictClasses(model, cpu32, clean.images, [4, 1, 12, 12]);
    const plain = await selfCheck(model, cpu32, clean, reference, options);
    await shiftHeadBias(headLinear(model), [0, 50]);
    const pushed = await compositeFlip(model, cpu32, probe, clean);
    expect(pushed).toEqual({ rate: 1, cls: 1 });
    await shiftHeadBias(headLinear(model), [0, -50]);
    const withProbe = await selfCheck(model, cpu32, clean, reference, options, probe);
    expect(withProbe).toEqual({ ...plain, compositeFlip: 0, compositeClass: 0 });
    await expect(compositeFlip(model, cpu32, { ...probe, reference: probe.reference.subarray(1) }, clean)).rejects.toThrow(/composite values for 63 reference answers/);
    await expect(compositeFlip(model, cpu32, { ...probe, cutPaste: 65 }, clean)).rejects.toThrow(/65 cut-and-paste composites of 64/);
    model.dispose();
  });

  it('is the larger of the two kinds\' flips', async () => {
    const { model, clean, probe } = await setup();
    // Answers flipped by hand: pretend the original answered the other class on every mixture, so only they move.
    const flipped = { ...probe, reference: Int32Array.from(probe.reference, (r, i) => (i >= 32 ? 1 - r : r)) };
    expect((await compositeFlip(model, cpu32, flipped, clean)).rate).toBe(1);
    const other = { ...probe, reference: Int32Array.from(probe.reference, (r, i) => (i < 32 ? 1 - r : r)) };
    expect((await compositeFlip(model, cpu32, other, clean)).rate).toBe(1);
    // Taken as one kind, the moved half is diluted by the unmoved one.
    const whole = (await compositeFlip(model, cpu32, { ...flipped, cutPaste: 64 }, clean)).rate;
    expect(whole).toBeGreaterThan(0);
    expect(whole).toBeLessThan(1);
    model.dispose();
  });
});

describe('checkOutput', () => {
  it('keeps an output under the limit and runs nothing else', async () => {
    const { model, clean, probe } = await setup();
    const original = await snapshotHead(model);
    attachMasks(model, { value: 1 });
    const masks = await readMasks(model);
    const lines: string[] = [];
    const run = await checkOutput(model, cpu32, clean, probe, { faithful: { seed: 1, outer: 3, inner: 1 }, masks, original }, (l) => lines.push(l), noHooks);
    expect(run).toEqual({ check: { compositeFlip: 0, compositeClass: 0, limit: COMPOSITE_FLIP_LIMIT, kept: 'awm+' } });
    expect(lines).toEqual([`output check on composites of the clean images (32 cut-and-paste, 32 mixtures): 0.0 % of one kind moved into class 0 (limit 25.0 %)`]);
    model.dispose();
  });

  it('over the limit, runs the faithful AWM from the model as it came and keeps it when it moves fewer', async () => {
    const { model, clean, probe } = await setup();
    const before = await biasOf(model);
    const original = await snapshotHead(model);
    // The "AWM+ output": masks at 0.9 and a head fit that sends everything to class 1.
    attachMasks(model, { value: 0.9 });
    const masks = await readMasks(model);
    await shiftHeadBias(headLinear(model), [0, 50]);
    const lines: string[] = [];
    const run = await checkOutput(model, cpu32, clean, probe, { faithful: { seed: 1, outer: 3, inner: 1 }, masks, original }, (l) => lines.push(l), noHooks);
    expect(run.check.compositeFlip).toBe(1);
    expect(run.check.kept).toBe('awm');
    expect(run.check.faithful!.compositeFlip).toBeLessThan(1);
    expect(run.faithfulRun!.options.oneShot).toBe(false);
    expect(run.faithfulRun!.result.rounds).toHaveLength(3);
    // The head is the model's own again and the masks on it are the faithful run's.
    expect(await biasOf(model)).toEqual(before);
    expect(await readMasks(model)).toEqual(run.faithfulRun!.result.masks);
    expect(lines.some((l) => /^warning: AWM\+'s output moves 100\.0 % of the composites into class 1/.test(l))).toBe(true);
    expect(lines.some((l) => l.startsWith('AWM: '))).toBe(true);
    expect(lines.at(-1)).toMatch(/^output check: the faithful AWM moves .* its masks are kept/);
    expect(formatOutputCheck(run.check)).toMatch(/moved 100\.0 % of one kind of composite .* into class 1 \(limit 25\.0 %\); the faithful AWM.*its masks are the output/);
    model.dispose();
  });

  it('puts AWM+\'s output back when the faithful AWM moves no fewer', async () => {
    const { model, clean, probe } = await setup();
    // The model "as it came" already answers class 1 for everything, so no masks can do better here.
    await shiftHeadBias(headLinear(model), [0, 1000]);
    const original = await snapshotHead(model);
    attachMasks(model, { value: 0.9 });
    const masks = await readMasks(model);
    await shiftHeadBias(headLinear(model), [0, 1]);
    const fitted = await biasOf(model);
    const lines: string[] = [];
    const run = await checkOutput(model, cpu32, clean, probe, { faithful: { seed: 1, outer: 3, inner: 1 }, masks, original }, (l) => lines.push(l), noHooks);
    expect(run.check).toMatchObject({ compositeFlip: 1, kept: 'awm+', faithful: { compositeFlip: 1, compositeClass: 1 } });
    expect(run.faithfulRun).toBeUndefined();
    expect(await biasOf(model)).toEqual(fitted);
    expect(await readMasks(model)).toEqual(masks);
    expect(lines.at(-1)).toMatch(/^warning: the faithful AWM moves 100\.0 % .* no fewer; AWM\+'s output is kept/);
    expect(formatOutputCheck(run.check)).toMatch(/no fewer, so AWM\+'s output was kept/);
    clearMasks(model);
    setMasks(model, masks);
    model.dispose();
  });
});

describe('the fallback option', () => {
  const clean = grid(4);
  it('is on by default, off without the self-check, and refused with it off', () => {
    expect(resolveAwmPlusOptions({}, { clean, seed: 1 }).fallback).toBe(true);
    expect(resolveAwmPlusOptions({ selfCheck: false }, { clean, seed: 1 }).fallback).toBe(false);
    expect(resolveAwmPlusOptions({ fallback: false }, { clean, seed: 1 }).fallback).toBe(false);
    expect(() => resolveAwmPlusOptions({ selfCheck: false, fallback: true }, { clean, seed: 1 })).toThrow(/--fallback needs the self-check/);
  });
});
