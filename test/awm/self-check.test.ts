/**
 * The AWM+ self-check (src/awm/self-check.ts): the flip statistic by hand, and a hand-built linear
 * classifier with and without a planted one-pixel backdoor, where the check must see the difference
 * without being told the trigger.
 */
import { describe, expect, it } from 'vitest';
import * as ops from '../../src/ops/index.js';
import { Module } from '../../src/nn/module.js';
import { Linear } from '../../src/nn/linear.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import type { Backend } from '../../src/tensor/backend.js';
import { maxClassFlip, selfCheck, type SelfCheckOptions } from '../../src/awm/self-check.js';
import { classFlip } from '../../src/awm/trigger-flips.js';
import { predictClasses } from '../../src/train/train.js';
import type { CleanSet } from '../../src/awm/clean-set.js';
import { Rng } from '../../src/data/rng.js';
import { cpu32 } from '../helpers/backends.js';
import { suspectSearch, SUSPECT_MIN_TRIGGER_FLIP } from '../../src/awm/suspect-search.js';
import { addTrigger } from '../../src/awm/trigger-search.js';
import { targetedTriggerSearch, type TargetedSearchOptions } from '../../src/awm/targeted-search.js';

describe('classFlip', () => {
  it('is the share of images outside the class that land in it', () => {
    const base = Int32Array.from([0, 1, 2, 2, 0]);
    expect(classFlip(base, Int32Array.from([0, 0, 2, 0, 1]), 0)).toBeCloseTo(2 / 3, 12);
    expect(classFlip(base, Int32Array.from([0, 1, 2, 2, 0]), 2)).toBe(0);
    expect(classFlip(Int32Array.from([1, 1]), Int32Array.from([1, 1]), 1)).toBe(0);
    expect(() => classFlip(base, Int32Array.from([0]), 0)).toThrow(/1 answers for 5 images/);
  });
});

describe('maxClassFlip', () => {
  it('is the largest share of images outside a class that land in it', () => {
    // base: classes of 6 images; after: 4 of the 4 images outside class 2 moved into 2, one of class 2 moved out.
    const base = Int32Array.from([0, 1, 2, 0, 1, 2]);
    const after = Int32Array.from([2, 2, 1, 2, 2, 2]);
    expect(maxClassFlip(base, after, 3)).toEqual({ rate: 1, cls: 2 });
    expect(maxClassFlip(base, base, 3)).toEqual({ rate: 0, cls: 0 });
    // Several probes per image: base is tiled. 2 probes of 3 images; class 1 gains 2 of the 4 probes outside it.
    const b3 = Int32Array.from([0, 0, 1]);
    const probes = Int32Array.from([1, 0, 1, 0, 1, 1]);
    expect(maxClassFlip(b3, probes, 2)).toEqual({ rate: 0.5, cls: 1 });
  });
});

/** 1x4x4 images, three classes by which quadrant is bright; optionally class 0 also fires on the bottom-right pixel. */
class QuadrantNet extends Module {
  readonly fc: Linear;
  constructor(backend: Backend, backdoor: boolean) {
    super();
    this.fc = this.registerModule('fc', new Linear(backend, 16, 3, null));
    const w = new Float32Array(48);
    const quadrant = [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13]];
    quadrant.forEach((pixels, c) => { for (const p of pixels) w[c * 16 + p] = 1; });
    if (backdoor) w[15] = 12;
    ops.assign(this.fc.weight, ops.tensor(backend, w, [3, 16]));
    ops.assign(this.fc.bias!, ops.zeros(backend, [3]));
  }
  forward(x: Tensor): Tensor {
    return this.fc.forward(ops.reshape(x, [x.shape[0]!, 16]));
  }
}

/**
 * QuadrantNet plus a backdoor gated behind a ReLU: class 0 gains 12 * relu(x[15] - 0.25). Clean images keep pixel 15
 * at or below 0.15, so from a zero start the ascent sees no gradient on it at all (the case the random starts are for).
 */
class GatedNet extends QuadrantNet {
  readonly gate: Linear;
  constructor(backend: Backend) {
    super(backend, false);
    this.gate = this.registerModule('gate', new Linear(backend, 16, 1, null));
    const w = new Float32Array(16);
    w[15] = 1;
    ops.assign(this.gate.weight, ops.tensor(backend, w, [1, 16]));
    ops.assign(this.gate.bias!, ops.tensor(backend, Float32Array.from([-0.25]), [1]));
  }
  override forward(x: Tensor): Tensor {
    const flat = ops.reshape(x, [x.shape[0]!, 16]);
    const boost = ops.matmul(ops.relu(this.gate.forward(flat)), ops.tensor(x.backend, Float32Array.from([12, 0, 0]), [1, 3]));
    return ops.add(this.fc.forward(flat), boost);
  }
}

function quadrantSet(n: number, seed: number): CleanSet {
  const rng = new Rng(seed);
  const images = new Float32Array(n * 16);
  const labels = new Int32Array(n);
  const quadrant = [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13]];
  for (let i = 0; i < n; i++) {
    labels[i] = i % 3;
    for (let p = 0; p < 16; p++) images[i * 16 + p] = rng.uniform(0, 0.15);
    for (const p of quadrant[i % 3]!) images[i * 16 + p] = rng.uniform(0.8, 1);
  }
  return { images, labels, n, c: 1, h: 4, w: 4, numClasses: 3 };
}

const options: SelfCheckOptions = { tau: 1, triggerLr: 10, steps: 10, batchSize: 8, noiseBlend: 0.2, noiseDraws: 3, seed: 5 };

describe('selfCheck', () => {
  const set = quadrantSet(30, 2);

  it('with a targeted search counts its flip into that class in the score', async () => {
    const targeted = { cls: 0, budget: 0.9, steps: 12, batchSize: 8, lr: 0.1 };
    const results = [];
    for (const backdoor of [true, false]) {
      const net = new QuadrantNet(cpu32, backdoor);
      const reference = await predictClasses(net, cpu32, set.images, [set.n, 1, 4, 4]);
      const plain = await selfCheck(net, cpu32, set, reference, options);
      const r = await selfCheck(net, cpu32, set, reference, { ...options, targeted });
      // Its own generator: the other probes are as without it.
      expect({ ...r, targetedFlip: undefined, score: undefined }).toEqual({ ...plain, targetedFlip: undefined, score: undefined });
      expect(r.score).toBeCloseTo(Math.max(r.triggerFlip, r.noiseFlip, r.targetedFlip!) + 1 - r.agreement, 12);
      results.push(r.targetedFlip);
      net.dispose();
    }
    expect(results[0]).toBe(1);
    expect(results[1]).toBeLessThan(0.5);
  });

  it('flags a planted one-pixel backdoor and passes the same model without it', async () => {
    const clean = new QuadrantNet(cpu32, false);
    const backdoored = new QuadrantNet(cpu32, true);
    const reference = await predictClasses(clean, cpu32, set.images, [set.n, 1, 4, 4]);
    expect(Array.from(reference)).toEqual(Array.from(set.labels));
    const a = await selfCheck(clean, cpu32, set, reference, options);
    const b = await selfCheck(backdoored, cpu32, set, reference, options);
    expect(a.agreement).toBe(1);
    expect(a.triggerFlip).toBe(0);
    expect(b.agreement).toBe(1);
    expect(b.triggerFlip).toBe(1);
    expect(b.triggerClass).toBe(0);
    expect(b.score).toBeGreaterThan(a.score + 0.9);
    // The score is max(flips) + (1 - agreement), and the same seed gives the same figures.
    expect(b.score).toBeCloseTo(Math.max(b.triggerFlip, b.noiseFlip) + 1 - b.agreement, 12);
    expect(await selfCheck(backdoored, cpu32, set, reference, options)).toEqual(b);
    clean.dispose();
    backdoored.dispose();
  });

  it('with extra starts sees a ReLU-gated backdoor the search from zero misses; its noise probes and agreement do not change', async () => {
    const net = new GatedNet(cpu32);
    const reference = await predictClasses(net, cpu32, set.images, [set.n, 1, 4, 4]);
    const one = await selfCheck(net, cpu32, set, reference, options);
    const three = await selfCheck(net, cpu32, set, reference, { ...options, extraStarts: 2 });
    expect(one.triggerFlip).toBeLessThan(0.5);
    expect({ flip: three.triggerFlip, cls: three.triggerClass }).toEqual({ flip: 1, cls: 0 });
    expect(three.score).toBeCloseTo(Math.max(three.triggerFlip, three.noiseFlip) + 1 - three.agreement, 12);
    expect({ agreement: three.agreement, noiseFlip: three.noiseFlip, noiseClass: three.noiseClass }).toEqual({ agreement: one.agreement, noiseFlip: one.noiseFlip, noiseClass: one.noiseClass });
    expect(await selfCheck(net, cpu32, set, reference, { ...options, extraStarts: 2 })).toEqual(three);
    net.dispose();
  });

  it('counts disagreement with the reference and rejects a reference of the wrong length', async () => {
    const net = new QuadrantNet(cpu32, false);
    const wrong = Int32Array.from(set.labels, (y) => (y + 1) % 3);
    expect((await selfCheck(net, cpu32, set, wrong, { ...options, noiseDraws: 0 })).agreement).toBe(0);
    await expect(selfCheck(net, cpu32, set, new Int32Array(3), options)).rejects.toThrow(/3 reference answers for 30 check images/);
    net.dispose();
  });
});

describe('suspectSearch', () => {
  const set = quadrantSet(30, 2);
  const o = { tau: 2, triggerLr: 10, steps: 10, batchSize: 8, seed: 5 };

  it('from random starts finds a ReLU-gated backdoor the search from zero cannot see', async () => {
    const net = new GatedNet(cpu32);
    const own = await predictClasses(net, cpu32, set.images, [set.n, 1, 4, 4]);
    expect(Array.from(own)).toEqual(Array.from(set.labels));
    const zero = await suspectSearch(net, cpu32, set, own, { ...o, extraStarts: 0 });
    const five = await suspectSearch(net, cpu32, set, own, { ...o, extraStarts: 4 });
    expect(zero.searches).toHaveLength(1);
    expect(zero.flip).toBeLessThan(0.5);
    expect(five.searches).toHaveLength(5);
    // The first search is the one from zero, and the result is the strongest search.
    expect(five.searches[0]).toEqual(zero.searches[0]);
    expect(five.flip).toBe(Math.max(...five.searches.map((t) => t.flip)));
    expect({ flip: five.flip, cls: five.cls }).toEqual({ flip: 1, cls: 0 });
    expect(five.agreeing).toBe(five.searches.filter((t) => t.cls === 0 && t.flip >= SUSPECT_MIN_TRIGGER_FLIP).length);
    expect(five.agreeing).toBeGreaterThanOrEqual(2);
    expect(zero.agreeing).toBe(0);
    // It keeps the agreeing searches' triggers (AWM+ --suspect-trigger), each of which fires the backdoor.
    expect(five.triggers).toHaveLength(five.agreeing);
    for (const t of five.triggers) {
      const moved = await predictClasses(net, cpu32, addTrigger(set.images, t), [set.n, 1, 4, 4]);
      expect(maxClassFlip(own, moved, 3).rate).toBeGreaterThanOrEqual(SUSPECT_MIN_TRIGGER_FLIP);
    }
    expect(zero.triggers).toHaveLength(0);
    // Seeded: the same call gives the same searches.
    expect(await suspectSearch(net, cpu32, set, own, { ...o, extraStarts: 4 })).toEqual(five);
    await expect(suspectSearch(net, cpu32, set, own.subarray(1), { ...o, extraStarts: 0 })).rejects.toThrow(/29 answers for 30 check images/);
    net.dispose();
  });

  it("starts with the self-check's own search: the same options and seed give the same trigger flip", async () => {
    const net = new GatedNet(cpu32);
    const own = await predictClasses(net, cpu32, set.images, [set.n, 1, 4, 4]);
    const check = await selfCheck(net, cpu32, set, own, { ...options, ...o });
    const zero = await suspectSearch(net, cpu32, set, own, { ...o, extraStarts: 0 });
    expect(zero.searches[0]).toEqual({ flip: check.triggerFlip, cls: check.triggerClass });
    // Handed that result, it does not run the search again (a result no search could give shows it was taken as is).
    const given = await suspectSearch(net, cpu32, set, own, { ...o, extraStarts: 1, fromZero: { flip: 0.123, cls: 2 } });
    expect(given.searches[0]).toEqual({ flip: 0.123, cls: 2 });
    expect(given.searches).toHaveLength(2);
    net.dispose();
  });

  it('finds nothing on the model without the backdoor', async () => {
    const net = new QuadrantNet(cpu32, false);
    const own = await predictClasses(net, cpu32, set.images, [set.n, 1, 4, 4]);
    const r = await suspectSearch(net, cpu32, set, own, { ...o, extraStarts: 4 });
    expect(r.flip).toBeLessThan(0.5);
    expect(r.agreeing).toBe(0);
    net.dispose();
  });
});

describe('targetedTriggerSearch (AWM+ --suspect-target)', () => {
  const set = quadrantSet(30, 2);
  const o: TargetedSearchOptions = { cls: 0, budget: 0.9, steps: 12, batchSize: 8, lr: 0.1 };
  const flipOf = async (net: Module, t: Float32Array) => {
    const own = await predictClasses(net, cpu32, set.images, [set.n, 1, 4, 4]);
    return maxClassFlip(own, await predictClasses(net, cpu32, addTrigger(set.images, t), [set.n, 1, 4, 4]), 3);
  };

  it('puts its whole budget on the backdoor pixel, the one that moves the class most, and fires it', async () => {
    const net = new QuadrantNet(cpu32, true);
    const { trigger: t, loss } = await targetedTriggerSearch(net, cpu32, set, new Float32Array(16), o, new Rng(3));
    expect(loss).toBeLessThan(0.5);
    const l1 = t.reduce((s, v) => s + Math.abs(v), 0);
    expect(l1).toBeCloseTo(0.9, 5);
    expect(t[15]).toBeCloseTo(0.9, 5);
    expect(await flipOf(net, t)).toEqual({ rate: 1, cls: 0 });
    // Seeded, and the start is only read.
    expect(Array.from((await targetedTriggerSearch(net, cpu32, set, new Float32Array(16), o, new Rng(3))).trigger)).toEqual(Array.from(t));
    net.dispose();
  });

  it('on the model without the backdoor finds no pixel that flips the images', async () => {
    const net = new QuadrantNet(cpu32, false);
    const { trigger: t, loss } = await targetedTriggerSearch(net, cpu32, set, new Float32Array(16), o, new Rng(3));
    expect(loss).toBeGreaterThan(1);
    expect(t.reduce((s, v) => s + Math.abs(v), 0)).toBeLessThanOrEqual(0.9 + 1e-6);
    expect(Math.abs(t[15]!)).toBeLessThan(0.1);
    expect((await flipOf(net, t)).rate).toBeLessThan(0.5);
    net.dispose();
  });

  it('keeps a warm start inside the budget and [-1, 1], and rejects bad options', async () => {
    const net = new QuadrantNet(cpu32, true);
    const start = Float32Array.from({ length: 16 }, (_, i) => (i % 2 ? 3 : -2));
    const { trigger: t } = await targetedTriggerSearch(net, cpu32, set, start, { ...o, steps: 1 }, new Rng(1));
    expect(t.reduce((s, v) => s + Math.abs(v), 0)).toBeLessThanOrEqual(0.9 + 1e-6);
    expect(t.every((v) => Math.abs(v) <= 1)).toBe(true);
    expect(start[1]).toBe(3);
    const bad = (p: Partial<TargetedSearchOptions>, start = new Float32Array(16)) => targetedTriggerSearch(net, cpu32, set, start, { ...o, ...p }, new Rng(1));
    await expect(bad({ cls: 3 })).rejects.toThrow(/class 3 is not one of the model's 3/);
    await expect(bad({ budget: 0 })).rejects.toThrow(/L1 budget must be a finite positive number, got 0/);
    await expect(bad({ steps: 0 })).rejects.toThrow(/steps must be a whole number >= 1/);
    await expect(bad({ lr: Number.NaN })).rejects.toThrow(/lr must be a finite positive number/);
    await expect(bad({}, new Float32Array(15))).rejects.toThrow(/the start holds 15 values, expected 1x4x4/);
    const zeros = { ...set, labels: new Int32Array(set.n) };
    await expect(targetedTriggerSearch(net, cpu32, zeros, new Float32Array(16), o, new Rng(1))).rejects.toThrow(/every image is labelled 0/);
    net.dispose();
  });

  it('leaves no tensors behind', async () => {
    const net = new QuadrantNet(cpu32, true);
    const before = cpu32.liveBytes();
    await targetedTriggerSearch(net, cpu32, set, new Float32Array(16), o, new Rng(3));
    expect(cpu32.liveBytes()).toBe(before);
    net.dispose();
  });
});
