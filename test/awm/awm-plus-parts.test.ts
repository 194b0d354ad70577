/**
 * The AWM+ building blocks, checked exactly on small inputs: the sparse trigger projection, the
 * mixture pool, the per-class trigger selection, and that runAwm's variants (trigger bank, per-class
 * triggers, sparse triggers, noise blends) run, stay seeded and keep the trigger inside its L1 budget.
 */
import { describe, expect, it } from 'vitest';
import * as ops from '../../src/ops/index.js';
import { createModel } from '../../src/nn/index.js';
import { clearMasks } from '../../src/nn/masks.js';
import { alternateFixedRows, runAwm, withNoiseBlends, type AwmVariant } from '../../src/awm/awm.js';
import { blendPatternStep, sparsifyTriggers } from '../../src/awm/steps.js';
import { backward, noGrad, requireGrad } from '../../src/autograd/engine.js';
import { augmentOneShot, mixupPool } from '../../src/awm/clean-set.js';
import { otherClasses, pickTriggers, rescaleEach } from '../../src/awm/class-triggers.js';
import { Rng } from '../../src/data/rng.js';
import { cpu32, cpu64, randomArray } from '../helpers/backends.js';
import { appendCopies, noiseBlended, planAwmPlus, resolveAwmPlusOptions } from '../../src/awm/awm-plus.js';
import { applyTrigger, attackPreset } from '../../src/attacks/index.js';

describe('sparsifyTriggers', () => {
  it('clips to [-1, 1] and keeps the largest elements that fit the budget, ranked before clipping', async () => {
    const d = ops.tensor(cpu32, [0.5, -3, 2, 0.1, 0, -0.6, 0.2, 0.3], [2, 4]);
    const l1 = await sparsifyTriggers(d, 1.5);
    expect(Array.from(l1)).toEqual([5.6, Math.fround(1.1)].map(Math.fround));
    // Row 0: -3 (clipped to -1) then 2 (clipped, only 0.5 of budget left); 0.5 and 0.1 dropped.
    // Row 1: L1 1.1 fits, nothing dropped.
    expect(Array.from(await d.data())).toEqual([0, -1, 0.5, 0, 0, -0.6, 0.2, 0.3].map(Math.fround));
    d.dispose();
  });

  it('names a NaN trigger', async () => {
    const d = ops.tensor(cpu32, [Number.NaN, 1], [1, 2]);
    await expect(sparsifyTriggers(d, 1)).rejects.toThrow(/L1 norm is NaN/);
    d.dispose();
  });
});

describe('mixupPool', () => {
  it('appends seeded two-image mixtures with the heavier image\'s label', () => {
    const set = { images: Float32Array.from([0, 0, 1, 1, 0.5, 0.5]), labels: Int32Array.from([0, 1, 2]), n: 3, c: 1, h: 1, w: 2, numClasses: 3 };
    const a = mixupPool(set, 5, 9);
    const b = mixupPool(set, 5, 9);
    expect(a.n).toBe(8);
    expect(Array.from(a.images)).toEqual(Array.from(b.images));
    expect(Array.from(a.images.subarray(0, 6))).toEqual(Array.from(set.images));
    // Replay the draws: image a, image b, weight l in [0.5, 1).
    const rng = new Rng(9);
    for (let k = 0; k < 5; k++) {
      const i = rng.int(3);
      const j = rng.int(3);
      const l = rng.uniform(0.5, 1);
      expect(a.labels[3 + k]).toBe(set.labels[i]);
      expect(a.images[(3 + k) * 2]).toBeCloseTo(l * set.images[i * 2]! + (1 - l) * set.images[j * 2]!, 6);
    }
    expect(mixupPool(set, 0, 1)).toBe(set);
  });
});

describe('per-class triggers', () => {
  it('draws targets other than the label, uniformly', () => {
    const rng = new Rng(3);
    const labels = new Int32Array(3000).map((_, i) => i % 3);
    const t = otherClasses(labels, 4, rng);
    const counts = [0, 0, 0, 0];
    t.forEach((v, i) => { expect(v).not.toBe(labels[i]); counts[v]!++; });
    // Class 3 is nobody's label, so it is drawn from every image: about 1000 times.
    expect(counts[3]).toBeGreaterThan(900);
    expect(counts[3]).toBeLessThan(1100);
  });

  it('picks rows of the stack and rescales each row into the budget', async () => {
    const stack = ops.tensor(cpu32, [1, 2, -3, 4, 0.5, 0.5], [3, 1, 1, 2]);
    const picked = pickTriggers(stack, Int32Array.from([2, 0, 2]));
    expect(picked.shape).toEqual([3, 1, 1, 2]);
    expect(Array.from(await picked.data())).toEqual([0.5, 0.5, 1, 2, 0.5, 0.5]);
    const l1 = await rescaleEach(stack, 2);
    expect(Array.from(l1)).toEqual([3, 7, 1]);
    const v = await stack.data();
    expect(Array.from(v).map((x) => Math.round(x * 1e6) / 1e6)).toEqual([0.666667, 1.333333, -0.857143, 1.142857, 0.5, 0.5]);
    picked.dispose();
    stack.dispose();
  });
});

/** Six random 8x8 images of three classes and a width-4 small CNN: runAwm's variants in milliseconds. */
const tinySet = { images: randomArray(6 * 8 * 8, 4, 0, 1), labels: Int32Array.from([0, 1, 2, 0, 1, 2]), n: 6, c: 1, h: 8, w: 8, numClasses: 3 };
const tinyOptions = { outer: 2, inner: 2, batchSize: 4, alpha: 0.5, gamma: 1e-8, tau: 3, triggerLr: 10, maskLr: 0.05, lrDecay: 1, seed: 5 };
async function tinyAwm(variant: AwmVariant, outer = tinyOptions.outer) {
  const model = createModel(cpu32, { arch: 'small-cnn', inChannels: 1, numClasses: 3, width: 4, inputSize: 8 }, { seed: 1 });
  try {
    return await runAwm(model, cpu32, tinySet, { ...tinyOptions, outer }, {}, variant);
  } finally {
    model.dispose();
  }
}

describe('AWM+ defaults', () => {
  it('are the noise-blend recipe with round selection, which turns off with the self-check', () => {
    const o = resolveAwmPlusOptions({}, { clean: tinySet, seed: 0 });
    expect({ outer: o.outer, alpha: o.alpha, maskLr: o.maskLr, noiseBlend: o.noiseBlend, noiseShare: o.noiseShare, selfCheck: o.selfCheck, selectRound: o.selectRound })
      .toEqual({ outer: 8, alpha: 0.3, maskLr: 0.02, noiseBlend: 0.2, noiseShare: 0.5, selfCheck: true, selectRound: true });
    expect(resolveAwmPlusOptions({ selfCheck: false }, { clean: tinySet, seed: 0 }).selectRound).toBe(false);
    expect(() => resolveAwmPlusOptions({ selfCheck: false, selectRound: true }, { clean: tinySet, seed: 0 })).toThrow(/--select-round needs the self-check/);
  });
});

describe('runAwm variants', () => {
  const options = tinyOptions;
  const run = (variant: AwmVariant) => tinyAwm(variant);

  for (const [name, variant] of [
    ['trigger bank', { triggerBank: true }],
    ['per-class triggers', { classTriggers: true }],
    ['sparse trigger', { sparseTrigger: true }],
    ['all three, kept trigger', { triggerBank: true, classTriggers: true, sparseTrigger: true, keepTrigger: true }],
    ['noise blends', { noiseBlend: 0.2 }],
    ['noise blends with per-class triggers and the bank', { noiseBlend: 0.3, classTriggers: true, triggerBank: true }],
    ['masks by LayerAdam', { maskOptimizer: 'layer-adam' }],
    ['fixed triggers with noise blends', { sparseTrigger: true, noiseBlend: 0.2, fixedTriggers: randomArray(2 * 64, 12, -0.2, 0.2) }],
  ] as Array<[string, AwmVariant]>) {
    it(`${name}: seeded, finite, trigger within tau`, async () => {
      const a = await run(variant);
      const b = await run(variant);
      expect(a.rounds).toHaveLength(2);
      for (const r of a.rounds) {
        expect(Number.isFinite(r.loss)).toBe(true);
        expect(r.trigger.reduce((s, v) => s + Math.abs(v), 0)).toBeLessThanOrEqual(options.tau * (1 + 1e-5));
        if (variant.classTriggers) expect(r.triggerClass).toBeGreaterThanOrEqual(0);
      }
      for (const [layer, m] of a.masks) expect(Array.from(m)).toEqual(Array.from(b.masks.get(layer)!));
    });
  }
});

describe('noise blends', () => {
  const set = { images: randomArray(4 * 2 * 3, 8, 0, 1), labels: Int32Array.from([0, 1, 0, 1]), n: 4, c: 2, h: 1, w: 3, numClasses: 2 };

  it('keeps the trigger on the first half of the batch and blends noise into the rest', async () => {
    const delta = ops.tensor(cpu32, randomArray(6, 9, -0.1, 0.1), [1, 2, 1, 3]);
    const indices = Int32Array.from([3, 0, 2, 2, 1]);
    const shift = withNoiseBlends(cpu32, set, delta, indices, 0.25, new Rng(4));
    expect(shift.shape).toEqual([5, 2, 1, 3]);
    const got = await shift.data();
    const d = await delta.data();
    // 5 rows: 3 keep the trigger, 2 get 0.25 (u - x) with u replayed from the same stream.
    for (let k = 0; k < 3; k++) expect(Array.from(got.subarray(k * 6, k * 6 + 6))).toEqual(Array.from(d));
    const rng = new Rng(4);
    for (let k = 3; k < 5; k++) {
      for (let j = 0; j < 6; j++) expect(got[k * 6 + j]).toBeCloseTo(0.25 * (rng.uniform() - set.images[indices[k]! * 6 + j]!), 6);
    }
    // Per-image trigger rows (bank, per-class) are cut to the first half the same way.
    const rows = ops.tensor(cpu32, randomArray(5 * 6, 10, -0.1, 0.1), [5, 2, 1, 3]);
    const cut = await withNoiseBlends(cpu32, set, rows, indices, 0.25, new Rng(4)).data();
    expect(Array.from(cut.subarray(0, 18))).toEqual(Array.from((await rows.data()).subarray(0, 18)));
    for (const t of [delta, shift, rows]) t.dispose();
  });

  it('give noise blends to the chosen share of the triggered rows', async () => {
    const delta = ops.tensor(cpu32, randomArray(6, 11, -0.1, 0.1), [1, 2, 1, 3]);
    const d = await delta.data();
    const indices = Int32Array.from([3, 0, 2, 2, 1, 0, 1, 3]);
    const triggerRows = async (share: number) => {
      const shift = withNoiseBlends(cpu32, set, delta, indices, 0.25, new Rng(4), share);
      const got = await shift.data();
      const rows = got.length / 6;
      let same = 0;
      for (let k = 0; k < rows; k++) if (got.subarray(k * 6, k * 6 + 6).every((v, j) => v === d[j])) same++;
      if (shift !== delta) shift.dispose();
      return { rows, same };
    };
    // share 0 leaves the shared trigger row as it was (it broadcasts over the batch).
    expect(await triggerRows(0)).toEqual({ rows: 1, same: 1 });
    expect(await triggerRows(0.25)).toEqual({ rows: 8, same: 6 });
    expect(await triggerRows(0.5)).toEqual({ rows: 8, same: 4 });
    expect(await triggerRows(1)).toEqual({ rows: 8, same: 0 });
    delta.dispose();
    await expect(tinyAwm({ noiseBlend: 0.2, noiseShare: 1.5 })).rejects.toThrow(/noiseShare must be in \[0, 1\], got 1.5/);
    expect(() => resolveAwmPlusOptions({ noiseShare: -1 }, { clean: tinySet, seed: 0 })).toThrow(/noiseShare must be in \[0, 1\]/);
  });

  it('draw each blend\'s weight from [lo, hi] when given a range, replaying the same stream', async () => {
    const delta = ops.tensor(cpu32, randomArray(6, 11, -0.1, 0.1), [1, 2, 1, 3]);
    const indices = Int32Array.from([3, 0, 2, 2, 1, 0]);
    const got = await withNoiseBlends(cpu32, set, delta, indices, [0.1, 0.3], new Rng(8)).data();
    const rng = new Rng(8);
    const weights: number[] = [];
    for (let k = 3; k < 6; k++) {
      const a = 0.1 + 0.2 * rng.uniform();
      weights.push(a);
      for (let j = 0; j < 6; j++) expect(got[k * 6 + j]).toBeCloseTo(a * (rng.uniform() - set.images[indices[k]! * 6 + j]!), 6);
    }
    for (const a of weights) expect(a >= 0.1 && a <= 0.3).toBe(true);
    expect(new Set(weights).size).toBe(3);
    delta.dispose();
    await expect(tinyAwm({ noiseBlend: 0.2, noiseBlendMax: 0.1 })).rejects.toThrow(/noiseBlendMax must be at least noiseBlend \(0.2\)/);
    expect(() => resolveAwmPlusOptions({ noiseBlend: 0, noiseBlendMax: 0.3 }, { clean: tinySet, seed: 0 })).toThrow(/--noise-blend-max must be at least --noise-blend \(which must be on\)/);
    expect(() => resolveAwmPlusOptions({ noiseBlend: 0.1, noiseBlendMax: 1 }, { clean: tinySet, seed: 0 })).toThrow(/below 1, got 1/);
    const masks = async (variant: AwmVariant) => [...(await tinyAwm(variant, 1)).masks.values()].flatMap((m) => Array.from(m));
    expect(await masks({ noiseBlend: 0.1, noiseBlendMax: 0.3 })).not.toEqual(await masks({ noiseBlend: 0.1 }));
  });

  it('change the masks, and must be a weight in [0, 1)', async () => {
    const masks = async (variant: AwmVariant) => [...(await tinyAwm(variant, 1)).masks.values()].flatMap((m) => Array.from(m));
    expect(await masks({ noiseBlend: 0.2 })).not.toEqual(await masks({}));
    expect(await masks({ noiseBlend: 0 })).toEqual(await masks({}));
    await expect(tinyAwm({ noiseBlend: 1 })).rejects.toThrow(/noiseBlend must be in \[0, 1\), got 1/);
    expect(() => resolveAwmPlusOptions({ noiseBlend: -0.1 }, { clean: tinySet, seed: 0 })).toThrow(/noiseBlend must be in \[0, 1\)/);
  });
});

describe('fixed triggers (AWM+ --suspect-trigger)', () => {
  it('take the odd rows of each batch, a random one of them per row; the even rows keep the recovered trigger', () => {
    const rows = alternateFixedRows(7, 3, new Rng(2));
    const rng = new Rng(2);
    expect(Array.from(rows)).toEqual([0, 1, 2, 3, 4, 5, 6].map((k) => (k % 2 === 0 ? 0 : 1 + rng.int(3))));
    expect(new Set(Array.from(rows).filter((_, k) => k % 2 === 1)).size).toBeGreaterThan(1);
    expect(Array.from(alternateFixedRows(4, 1, new Rng(2)))).toEqual([0, 1, 0, 1]);
  });

  it('change the masks, leave the rounds\' recovered triggers as they were, and are checked', async () => {
    const fixed = randomArray(64, 13, -0.3, 0.3);
    const without = await tinyAwm({ sparseTrigger: true });
    const withFixed = await tinyAwm({ sparseTrigger: true, fixedTriggers: fixed });
    const flat = (r: typeof without) => [...r.masks.values()].flatMap((m) => Array.from(m));
    expect(flat(withFixed)).not.toEqual(flat(without));
    // Round 1's ascent runs before any mask step, so its trigger cannot depend on the fixed ones.
    expect(Array.from(withFixed.rounds[0]!.trigger)).toEqual(Array.from(without.rounds[0]!.trigger));
    await expect(tinyAwm({ fixedTriggers: new Float32Array(65) })).rejects.toThrow(/fixed triggers hold 65 values, not a whole number \(> 0\) of 1x8x8 images/);
    await expect(tinyAwm({ fixedTriggers: new Float32Array(0) })).rejects.toThrow(/fixed triggers hold 0 values/);
    await expect(tinyAwm({ fixedTriggers: fixed, triggerBank: true })).rejects.toThrow(/fixed triggers go with the one recovered trigger/);
    await expect(tinyAwm({ fixedTriggers: Float32Array.from(fixed, (v, i) => (i === 3 ? Number.NaN : v)) })).rejects.toThrow(/fixed triggers hold a value that is not finite/);
    expect(() => resolveAwmPlusOptions({ suspectTrigger: true, suspectStarts: 0 }, { clean: tinySet, seed: 0 })).toThrow(/--suspect-trigger needs the suspect search/);
    expect(() => resolveAwmPlusOptions({ suspectTrigger: true, selfCheck: false }, { clean: tinySet, seed: 0 })).toThrow(/--suspect-trigger needs the suspect search/);
    // On by default wherever the search can run, and off by default where it cannot.
    const on = (p: Parameters<typeof resolveAwmPlusOptions>[0]) => resolveAwmPlusOptions(p, { clean: tinySet, seed: 0 }).suspectTrigger;
    expect([on({}), on({ suspectShift: 0 }), on({ suspectStarts: 0 }), on({ selfCheck: false }), on({ suspectTrigger: false })]).toEqual([true, true, false, false, false]);
  });

  it('leave no tensors behind once the masks are cleared', async () => {
    const model = createModel(cpu32, { arch: 'small-cnn', inChannels: 1, numClasses: 3, width: 4, inputSize: 8 }, { seed: 1 });
    const start = cpu32.liveBytes();
    await runAwm(model, cpu32, tinySet, tinyOptions, {}, { sparseTrigger: true, noiseBlend: 0.2, fixedTriggers: randomArray(2 * 64, 14, -0.2, 0.2) });
    clearMasks(model);
    expect(cpu32.liveBytes()).toBe(start);
    model.dispose();
  });
});

describe('a trigger searched towards the suspect (AWM+ --suspect-target)', () => {
  const targeted = { cls: 1, budget: 1.5, steps: 3, batchSize: 4, lr: 0.1 };

  it('takes the rows k = 1 mod 4, the fixed triggers k = 3 mod 4, or every odd row when there are none', () => {
    const rng = new Rng(2);
    const rows = alternateFixedRows(9, 3, new Rng(2), true);
    expect(Array.from(rows)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8].map((k) => (k % 2 === 0 ? 0 : k % 4 === 1 ? 1 : 2 + rng.int(3))));
    expect(Array.from(alternateFixedRows(6, 0, new Rng(2), true))).toEqual([0, 1, 0, 1, 0, 1]);
  });

  it('runs each round after the ascent, reports its loss, changes the masks, and is checked', async () => {
    const without = await tinyAwm({ sparseTrigger: true });
    const withTargeted = await tinyAwm({ sparseTrigger: true, targetedTrigger: targeted });
    const flat = (r: typeof without) => [...r.masks.values()].flatMap((m) => Array.from(m));
    expect(flat(withTargeted)).not.toEqual(flat(without));
    expect(Array.from(withTargeted.rounds[0]!.trigger)).toEqual(Array.from(without.rounds[0]!.trigger));
    expect(withTargeted.rounds.every((r) => Number.isFinite(r.targetedLoss))).toBe(true);
    expect(without.rounds[0]!.targetedLoss).toBeUndefined();
    // Seeded.
    expect(flat(await tinyAwm({ sparseTrigger: true, targetedTrigger: targeted }))).toEqual(flat(withTargeted));
    // With fixed triggers as well, both take turns.
    const both = await tinyAwm({ sparseTrigger: true, targetedTrigger: targeted, fixedTriggers: randomArray(64, 13, -0.3, 0.3) });
    expect(flat(both)).not.toEqual(flat(withTargeted));
    await expect(tinyAwm({ targetedTrigger: { ...targeted, cls: 3 } })).rejects.toThrow(/class 3 is not one of the model's 3/);
    await expect(tinyAwm({ targetedTrigger: targeted, classTriggers: true })).rejects.toThrow(/targeted trigger goes with the one recovered trigger/);
    const resolve = (p: Parameters<typeof resolveAwmPlusOptions>[0]) => resolveAwmPlusOptions(p, { clean: tinySet, seed: 0 });
    expect(resolve({}).suspectTarget).toBe(0);
    expect(resolve({ suspectTarget: 0.2 }).suspectTarget).toBe(0.2);
    expect(() => resolve({ suspectTarget: 1.5 })).toThrow(/--suspect-target must be at least 0 and at most 1/);
    expect(() => resolve({ suspectTarget: 0.2, selfCheck: false })).toThrow(/--suspect-target needs the suspect search/);
    expect(() => resolve({ suspectTarget: 0.2, suspectStarts: 0 })).toThrow(/--suspect-target needs the suspect search/);
  });

  it('leaves no tensors behind once the masks are cleared', async () => {
    const model = createModel(cpu32, { arch: 'small-cnn', inChannels: 1, numClasses: 3, width: 4, inputSize: 8 }, { seed: 1 });
    const start = cpu32.liveBytes();
    await runAwm(model, cpu32, tinySet, tinyOptions, {}, { sparseTrigger: true, noiseBlend: 0.2, targetedTrigger: targeted, fixedTriggers: randomArray(2 * 64, 14, -0.2, 0.2) });
    clearMasks(model);
    expect(cpu32.liveBytes()).toBe(start);
    model.dispose();
  });
});

describe('blend-pattern ascent', () => {
  const set = { images: randomArray(4 * 2 * 3, 8, 0, 1), labels: Int32Array.from([0, 1, 0, 1]), n: 4, c: 2, h: 1, w: 3, numClasses: 2 };

  it('steps the pattern by lr along the sign of the CE gradient at the blend, clamped to [0, 1]', async () => {
    const model = createModel(cpu64, { arch: 'small-cnn', inChannels: 1, numClasses: 3, width: 4, inputSize: 8 }, { seed: 2 });
    const x = ops.tensor(cpu64, randomArray(5 * 64, 12, 0, 1), [5, 1, 8, 8]);
    // Some pixels at the edges of [0, 1], so the clamp is exercised.
    const start = randomArray(64, 13, 0, 1).map((v, i) => (i % 7 === 0 ? 1 : i % 11 === 0 ? 0 : v));
    const p = ops.tensor(cpu64, start, [1, 1, 8, 8]);
    model.eval();
    model.setRequiresGrad(false);
    // The expected gradient, computed separately: d CE(f(0.8 x + 0.2 p), argmax f(x)) / d p.
    const q = ops.tensor(cpu64, start, [1, 1, 8, 8]);
    requireGrad(q);
    const yhat = noGrad(() => ops.argmax(model.forward(x), 1));
    const ce = ops.crossEntropy(model.forward(ops.add(ops.mul(x, 0.8), ops.mul(q, 0.2))), yhat);
    backward(ce);
    const g = await q.grad!.data();
    const ceValue = await ce.item();
    requireGrad(p);
    const loss = blendPatternStep(model, p, x, 0.2, 0.05);
    expect(await loss.item()).toBeCloseTo(-ceValue, 10);
    const got = await p.data();
    let moved = 0;
    start.forEach((v, i) => {
      expect(got[i]).toBeCloseTo(Math.min(1, Math.max(0, v + 0.05 * Math.sign(g[i]!))), 12);
      if (got[i] !== v) moved++;
    });
    expect(moved).toBeGreaterThan(40);
    expect(p.grad).toBeNull();
    for (const t of [x, p, q, yhat, ce, loss]) t.dispose();
    model.dispose();
  });

  it('the pattern takes the first half of the noise rows, rounded up; fresh noise the rest', async () => {
    const delta = ops.tensor(cpu32, randomArray(6, 9, -0.1, 0.1), [1, 2, 1, 3]);
    const pattern = randomArray(6, 14, 0, 1);
    const indices = Int32Array.from([3, 0, 2, 2, 1, 0, 1]);
    // 7 rows: 4 keep the trigger, 3 noise rows: 2 blend the pattern, 1 fresh noise.
    const got = await withNoiseBlends(cpu32, set, delta, indices, 0.25, new Rng(4), 0.5, pattern).data();
    const rng = new Rng(4);
    for (let k = 4; k < 7; k++) {
      for (let j = 0; j < 6; j++) {
        const u = k < 6 ? pattern[j]! : rng.uniform();
        expect(got[k * 6 + j]).toBeCloseTo(0.25 * (u - set.images[indices[k]! * 6 + j]!), 6);
      }
    }
    delta.dispose();
  });

  it('runs seeded inside runAwm, reports its loss, changes the masks, and needs noise blends', async () => {
    const variant: AwmVariant = { noiseBlend: 0.2, blendAscentSteps: 3 };
    const a = await tinyAwm(variant);
    const b = await tinyAwm(variant);
    for (const r of a.rounds) expect(Number.isFinite(r.blendPatternLoss)).toBe(true);
    for (const [layer, m] of a.masks) expect(Array.from(m)).toEqual(Array.from(b.masks.get(layer)!));
    const flat = (r: typeof a) => [...r.masks.values()].flatMap((m) => Array.from(m));
    const plain = await tinyAwm({ noiseBlend: 0.2 });
    expect(flat(a)).not.toEqual(flat(plain));
    expect(plain.rounds[0]!.blendPatternLoss).toBeUndefined();
    await expect(tinyAwm({ blendAscentSteps: 2 })).rejects.toThrow(/blendAscentSteps needs noiseBlend/);
    await expect(tinyAwm({ noiseBlend: 0.2, blendAscentSteps: 1.5 })).rejects.toThrow(/blendAscentSteps must be a whole number/);
    await expect(tinyAwm({ noiseBlend: 0.2, blendAscentSteps: 1, blendAscentLr: 0 })).rejects.toThrow(/blendAscentLr must be a finite positive number/);
    expect(() => resolveAwmPlusOptions({ noiseBlend: 0, blendAscent: 4 }, { clean: tinySet, seed: 0 })).toThrow(/--blend-ascent needs --noise-blend above 0/);
    expect(() => resolveAwmPlusOptions({ blendAscent: -1 }, { clean: tinySet, seed: 0 })).toThrow(/--blend-ascent must be a whole number/);
    expect(resolveAwmPlusOptions({ blendAscent: 4 }, { clean: tinySet, seed: 0 })).toMatchObject({ blendAscent: 4, blendAscentLr: 0.1 });
  });

  it('the masks\' optimiser is chosen by name, and the choice changes them', async () => {
    const flat = async (variant: AwmVariant) => [...(await tinyAwm(variant, 1)).masks.values()].flatMap((m) => Array.from(m));
    expect(await flat({ maskOptimizer: 'layer-adam' })).not.toEqual(await flat({}));
    expect(await flat({ maskOptimizer: 'adam' })).toEqual(await flat({}));
    await expect(tinyAwm({ maskOptimizer: 'sgd' as never })).rejects.toThrow(/maskOptimizer must be one of adam, layer-adam, got sgd/);
    expect(() => resolveAwmPlusOptions({ maskOptimizer: 'lion' as never }, { clean: tinySet, seed: 0 })).toThrow(/--mask-optimizer must be one of adam, layer-adam, got lion/);
  });
});

describe('AWM+ known-trigger diagnostic', () => {
  const clean = { images: randomArray(3 * 8 * 8, 6, 0, 1), labels: Int32Array.from([0, 1, 2]), n: 3, c: 1, h: 8, w: 8, numClasses: 3 };
  const model = () => createModel(cpu32, { arch: 'small-cnn', inChannels: 1, numClasses: 3, width: 4, inputSize: 8 }, { seed: 1 });
  const options = (knownTrigger: boolean) => resolveAwmPlusOptions({ outer: 1, inner: 1, batchSize: 4, augmentCopies: 1, mixupCount: 2, knownTrigger }, { clean, seed: 1 });

  it('applies the attack\'s trigger to every pool image', async () => {
    const m = model();
    const attack = attackPreset('badnets');
    const plan = await planAwmPlus(m, cpu32, clean, options(true), attack);
    expect(plan.pool.n).toBe(3 * 2 + 2);
    expect(Array.from(plan.variant.knownTriggered!)).toEqual(Array.from(applyTrigger(attack, plan.pool.images, { c: 1, h: 8, w: 8 })));
    expect(plan.description).toMatch(/REAL trigger/);
    // And the run uses it.
    const r = await runAwm(m, cpu32, plan.pool, options(true), {}, plan.variant);
    expect(Number.isFinite(r.rounds[0]!.triggeredLoss)).toBe(true);
    m.dispose();
  });

  it('needs the attack spec, and triggered copies matching the set', async () => {
    const m = model();
    await expect(planAwmPlus(m, cpu32, clean, options(true))).rejects.toThrow(/needs the attack spec/);
    await expect(runAwm(m, cpu32, clean, options(false), {}, { knownTriggered: new Float32Array(5) })).rejects.toThrow(/triggered copies hold 5 values, expected 192/);
    m.dispose();
  });
});

describe('resolveAwmPlusOptions', () => {
  it('rejects a negative or fractional mixture or copy count', () => {
    const clean = { images: new Float32Array(4), labels: Int32Array.from([0]), n: 1, c: 1, h: 2, w: 2, numClasses: 1 };
    expect(() => resolveAwmPlusOptions({ mixupCount: -1 }, { clean, seed: 0 })).toThrow(/mixupCount must be a whole number >= 0, got -1/);
    expect(() => resolveAwmPlusOptions({ augmentCopies: 1.5 }, { clean, seed: 0 })).toThrow(/augmentCopies must be a whole number >= 0, got 1.5/);
    expect(resolveAwmPlusOptions({}, { clean, seed: 0 }).mixupCount).toBe(200);
  });
});

describe('head calibration options and crops', () => {
  it('are checked by name, default to the linear fit on crops of at least 60 % of the image', () => {
    expect(resolveAwmPlusOptions({}, { clean: tinySet, seed: 0 })).toMatchObject({ calibrateHead: true, headFit: 'linear', calibrationScale: 0.6, headL2: 0.03, calibrationNoise: 0.2, calibrationTriggers: 0, suspectShift: 1, suspectStarts: 6, checkStarts: 0, suspectTrigger: true, suspectTriggerTau: 1 });
    expect(() => resolveAwmPlusOptions({ checkStarts: -2 }, { clean: tinySet, seed: 0 })).toThrow(/--check-starts must be a whole number >= 0, got -2/);
    expect(() => resolveAwmPlusOptions({ checkStarts: 1, selfCheck: false }, { clean: tinySet, seed: 0 })).toThrow(/--check-starts needs the self-check/);
    expect(() => resolveAwmPlusOptions({ suspectStarts: -1 }, { clean: tinySet, seed: 0 })).toThrow(/--suspect-starts must be a whole number >= 0, got -1/);
    expect(() => resolveAwmPlusOptions({ suspectStarts: 1.5 }, { clean: tinySet, seed: 0 })).toThrow(/--suspect-starts must be a whole number >= 0, got 1.5/);
    // Without the self-check there is no suspected class: the default shift is off, and asking for one is an error.
    expect(resolveAwmPlusOptions({ selfCheck: false }, { clean: tinySet, seed: 0 }).suspectShift).toBe(0);
    expect(() => resolveAwmPlusOptions({ calibrationNoise: 1 }, { clean: tinySet, seed: 0 })).toThrow(/--calibration-noise must be at least 0 and below 1, got 1/);
    expect(() => resolveAwmPlusOptions({ headL2: 0 }, { clean: tinySet, seed: 0 })).toThrow(/--head-l2 must be a finite number above 0, got 0/);
    expect(() => resolveAwmPlusOptions({ headFit: 'full' as never }, { clean: tinySet, seed: 0 })).toThrow(/--head-fit must be one of bias, linear, got full/);
    expect(() => resolveAwmPlusOptions({ calibrationScale: 0 }, { clean: tinySet, seed: 0 })).toThrow(/--calibration-scale must be above 0 and at most 1, got 0/);
    expect(() => resolveAwmPlusOptions({ calibrationScale: 1.5 }, { clean: tinySet, seed: 0 })).toThrow(/--calibration-scale must be above 0 and at most 1/);
  });

  it('noise-blended calibration copies follow the crops, blend each pixel at the weight, and repeat the teacher rows', () => {
    const teacher = Float32Array.from({ length: 6 * 3 }, (_, j) => j / 18);
    const withNoise = (seed: number) => appendCopies({ set: tinySet, teacher }, noiseBlended(tinySet.images, 0.2, seed), tinySet.n, teacher);
    const { set, teacher: t } = withNoise(7);
    expect(set.n).toBe(12);
    expect(Array.from(set.labels)).toEqual([...tinySet.labels, ...tinySet.labels]);
    expect(Array.from(t)).toEqual([...teacher, ...teacher]);
    expect(Array.from(set.images.subarray(0, tinySet.images.length))).toEqual(Array.from(tinySet.images));
    const per = tinySet.images.length;
    for (let i = 0; i < per; i++) {
      const u = (set.images[per + i]! - 0.8 * tinySet.images[i]!) / 0.2;
      expect(u).toBeGreaterThanOrEqual(-1e-5);
      expect(u).toBeLessThan(1 + 1e-5);
    }
    expect(Array.from(withNoise(7).set.images)).toEqual(Array.from(set.images));
    expect(Array.from(withNoise(8).set.images)).not.toEqual(Array.from(set.images));
    expect(() => appendCopies({ set: tinySet, teacher }, tinySet.images.subarray(1), tinySet.n, teacher)).toThrow(/6 copies need \d+ values and 18 teacher values/);
  });

  it('a milder crop scale changes the copies and keeps the originals first; bad scales are named', async () => {
    const same = await augmentOneShot(cpu32, tinySet, { copies: 2, seed: 3, scale: [0.6, 1] });
    const wild = await augmentOneShot(cpu32, tinySet, { copies: 2, seed: 3 });
    expect(same.n).toBe(18);
    expect(Array.from(same.images.subarray(0, 6 * 64))).toEqual(Array.from(tinySet.images));
    expect(Array.from(same.images.subarray(6 * 64))).not.toEqual(Array.from(wild.images.subarray(6 * 64)));
    await expect(augmentOneShot(cpu32, tinySet, { copies: 2, seed: 3, scale: [0.7, 0.5] })).rejects.toThrow(/scale must satisfy 0 < low <= high <= 1, got \[0.7, 0.5\]/);
  });
});
