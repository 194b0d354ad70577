/**
 * AWM+ --localize-trigger (src/awm/localize-trigger.ts): the densest window and its region by hand, the targeted
 * search kept inside a region, and two hand-built linear models: one with a patch backdoor gated behind a ReLU, where a
 * diffuse trigger holding a little of its L1 on the patch is narrowed to a 3x3 window that alone fires it, and one whose
 * backdoor needs the whole image brighter (a blend), where no window may pass.
 */
import { describe, expect, it } from 'vitest';
import * as ops from '../../src/ops/index.js';
import { Module } from '../../src/nn/module.js';
import { Linear } from '../../src/nn/linear.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import type { Backend } from '../../src/tensor/backend.js';
import type { CleanSet } from '../../src/awm/clean-set.js';
import { Rng } from '../../src/data/rng.js';
import { predictClasses } from '../../src/train/train.js';
import { cpu32 } from '../helpers/backends.js';
import { densestWindow, localizeTrigger, windowRegion, LOCALIZE_SIZES } from '../../src/awm/localize-trigger.js';
import { targetedTriggerSearch } from '../../src/awm/targeted-search.js';

const S = 16;
const PATCH = [12 * S + 12, 12 * S + 13, 13 * S + 12, 13 * S + 13];

describe('densestWindow and windowRegion', () => {
  it('finds the window with the most L1 over every trigger and channel, the first on ties', () => {
    // 2 channels of 4x5; mass at (2, 3) on channel 0 and (3, 4) on channel 1 of another trigger.
    const a = new Float32Array(2 * 4 * 5);
    const b = new Float32Array(2 * 4 * 5);
    a[2 * 5 + 3] = -0.7;
    b[20 + 3 * 5 + 4] = 0.6;
    a[0] = 0.5;
    expect(densestWindow([a, b], 2, 4, 5, 2)).toEqual({ y: 2, x: 3, size: 2 });
    expect(densestWindow([a, b], 2, 4, 5, 1)).toEqual({ y: 2, x: 3, size: 1 });
    expect(densestWindow([new Float32Array(40)], 2, 4, 5, 3)).toEqual({ y: 0, x: 0, size: 3 });
    expect(() => densestWindow([], 2, 4, 5, 2)).toThrow(/no triggers/);
    expect(() => densestWindow([a], 2, 4, 5, 5)).toThrow(/a 5-pixel window does not fit a 4x5 image/);
    expect(() => densestWindow([a, new Float32Array(39)], 2, 4, 5, 2)).toThrow(/holds 39 values, expected 2x4x5/);
  });

  it('marks the window on every channel', () => {
    const r = windowRegion({ y: 1, x: 2, size: 2 }, 2, 3, 4);
    const ones = Array.from(r.keys()).filter((i) => r[i] === 1);
    expect(ones).toEqual([6, 7, 10, 11, 18, 19, 22, 23]);
    expect(r.reduce((s, v) => s + v, 0)).toBe(8);
  });
});

/** 1x16x16 images; logits: class 0 = 100 * (mean - 0.6), class 1 = 0, class 2 = -1. Optional patch backdoor on class 0. */
class BrightnessNet extends Module {
  readonly fc: Linear;
  readonly gate: Linear;
  constructor(backend: Backend, readonly patch: boolean) {
    super();
    this.fc = this.registerModule('fc', new Linear(backend, S * S, 3, null));
    this.gate = this.registerModule('gate', new Linear(backend, S * S, 1, null));
    const w = new Float32Array(3 * S * S);
    w.fill(100 / (S * S), 0, S * S);
    ops.assign(this.fc.weight, ops.tensor(backend, w, [3, S * S]));
    ops.assign(this.fc.bias!, ops.tensor(backend, Float32Array.from([-60, 0, -1]), [3]));
    const g = new Float32Array(S * S);
    for (const p of PATCH) g[p] = 1;
    ops.assign(this.gate.weight, ops.tensor(backend, g, [1, S * S]));
    ops.assign(this.gate.bias!, ops.tensor(backend, Float32Array.from([-2.5]), [1]));
  }
  forward(x: Tensor): Tensor {
    const flat = ops.reshape(x, [x.shape[0]!, S * S]);
    const logits = this.fc.forward(flat);
    if (!this.patch) return logits;
    // The patch (its 4 pixels summing above 2.5) adds 40 per unit to class 0.
    return ops.add(logits, ops.matmul(ops.relu(this.gate.forward(flat)), ops.tensor(x.backend, Float32Array.from([40, 0, 0]), [1, 3])));
  }
}

function dimSet(n: number, seed: number): CleanSet {
  const rng = new Rng(seed);
  const images = Float32Array.from({ length: n * S * S }, () => rng.uniform(0.2, 0.4));
  return { images, labels: new Int32Array(n).fill(1), n, c: 1, h: S, w: S, numClasses: 3 };
}

describe('localizeTrigger', () => {
  const set = dimSet(24, 4);
  const o = { cls: 0, minFlip: 0.95, batchSize: 8, seed: 9 };

  it('narrows a diffuse trigger to the window of a patch backdoor and keeps a trigger that fires it from there', async () => {
    const net = new BrightnessNet(cpu32, true);
    const own = await predictClasses(net, cpu32, set.images, [set.n, 1, S, S]);
    expect(Array.from(own).every((k) => k === 1)).toBe(true);
    // What a recovered trigger looked like on the small CNN: most of its L1 spread thin, a dense part on the patch.
    const diffuse = Float32Array.from({ length: S * S }, (_, i) => (i % 3 === 0 ? 0.08 : -0.04));
    for (const p of PATCH) diffuse[p] = 0.5;
    const inPatch = PATCH.reduce((s, p) => s + Math.abs(diffuse[p]!), 0) / diffuse.reduce((s, v) => s + Math.abs(v), 0);
    expect(inPatch).toBeLessThan(0.2);
    const r = await localizeTrigger(net, cpu32, set, own, [diffuse], o);
    // The 3x3 window fires it; the refinement in the 5x5 around it, with the same L1, fires it too and is kept.
    expect(r.tries.map((t) => t.size)).toEqual([3, 5]);
    expect(r.tries[0]!.flip).toBe(1);
    expect(r.window).toMatchObject({ size: 5, flip: 1 });
    const { y, x } = r.window!;
    for (const p of PATCH) {
      const py = Math.floor(p / S);
      const px = p % S;
      expect(py >= y && py < y + 5 && px >= x && px < x + 5).toBe(true);
      expect(r.trigger![p]).toBeGreaterThan(0.5);
    }
    const region = windowRegion(r.window!, 1, S, S);
    expect(r.trigger!.every((v, i) => region[i] === 1 || v === 0)).toBe(true);
    expect(r.trigger!.every((v) => Math.abs(v) <= 1)).toBe(true);
    // Seeded: the same call gives the same trigger.
    expect(await localizeTrigger(net, cpu32, set, own, [diffuse], o)).toEqual(r);
    net.dispose();
  });

  it('passes no window when the backdoor needs the whole image (a blend), trying every size', async () => {
    const net = new BrightnessNet(cpu32, false);
    const own = await predictClasses(net, cpu32, set.images, [set.n, 1, S, S]);
    const whole = new Float32Array(S * S).fill(0.35);
    const fires = await predictClasses(net, cpu32, set.images.map((v) => Math.min(1, v + 0.35)), [set.n, 1, S, S]);
    expect(Array.from(fires).every((k) => k === 0)).toBe(true);
    const r = await localizeTrigger(net, cpu32, set, own, [whole], o);
    expect(r.trigger).toBeUndefined();
    expect(r.window).toBeUndefined();
    expect(r.tries.map((t) => t.size)).toEqual([...LOCALIZE_SIZES]);
    expect(Math.max(...r.tries.map((t) => t.flip))).toBe(0);
    net.dispose();
  });

  it('skips windows larger than the image', async () => {
    // A 5x5 model that always answers class 1: nothing can flip it, so every window that fits is tried.
    const fc = new Linear(cpu32, 25, 3, null);
    ops.assign(fc.weight, ops.zeros(cpu32, [3, 25]));
    ops.assign(fc.bias!, ops.tensor(cpu32, Float32Array.from([-1, 0, -2]), [3]));
    const tiny = new (class extends Module {
      forward(x: Tensor): Tensor {
        return fc.forward(ops.reshape(x, [x.shape[0]!, 25]));
      }
    })();
    const small: CleanSet = { ...set, images: new Float32Array(set.n * 25).fill(0.3), h: 5, w: 5 };
    const r = await localizeTrigger(tiny, cpu32, small, new Int32Array(set.n).fill(1), [new Float32Array(25).fill(0.1)], o);
    expect(r.tries.map((t) => t.size)).toEqual([3, 5]);
    expect(r.trigger).toBeUndefined();
    fc.dispose();
  });
});

describe('targetedTriggerSearch inside a region', () => {
  it('leaves every element outside the region at zero, and rejects an empty or mismatched region', async () => {
    const net = new BrightnessNet(cpu32, true);
    const set = dimSet(16, 2);
    const region = windowRegion({ y: 0, x: 0, size: 5 }, 1, S, S);
    const start = new Float32Array(S * S).fill(0.2);
    const o = { cls: 0, budget: 25, steps: 5, batchSize: 8, lr: 0.1, region };
    const { trigger } = await targetedTriggerSearch(net, cpu32, set, start, o, new Rng(1));
    expect(trigger.every((v, i) => region[i] === 1 || v === 0)).toBe(true);
    // Inside the window the brightness term pulls every pixel up.
    expect(trigger.filter((v, i) => region[i] === 1 && v > 0.2).length).toBe(25);
    await expect(targetedTriggerSearch(net, cpu32, set, start, { ...o, region: new Float32Array(S * S) }, new Rng(1))).rejects.toThrow(/the region is empty/);
    await expect(targetedTriggerSearch(net, cpu32, set, start, { ...o, region: new Float32Array(10).fill(1) }, new Rng(1))).rejects.toThrow(/the region holds 10 values, the trigger 256/);
    net.dispose();
  });
});
