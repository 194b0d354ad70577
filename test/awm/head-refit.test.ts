/**
 * AWM+'s linear head refit (src/awm/head-refit.ts): the fit recovers a planted layer, stays put on a layer that
 * already matches, stops at the optimum of its regularised objective (finite differences in float64), names bad
 * input; headInputs captures what the head sees, and refitHead writes weight and bias into the right layer.
 */
import { describe, expect, it } from 'vitest';
import { fitLinearHead, headInputs, refitHead } from '../../src/awm/head-refit.js';
import { headLinear, modelLogits } from '../../src/awm/head-calibration.js';
import { appendCopies, applyHeadCalibration, applySuspectShift, resolveAwmPlusOptions, suspectedTarget, suspectTriggersOf, SUSPECT_MIN_FLIP, teacherProbabilities, type HeadCalibrationSet } from '../../src/awm/awm-plus.js';
import { plainSearch, SUSPECT_MIN_TRIGGER_FLIP, tallySearches } from '../../src/awm/suspect-search.js';
import { addTrigger, recoverSparseTrigger } from '../../src/awm/trigger-search.js';
import type { CleanSet } from '../../src/awm/clean-set.js';
import { Rng } from '../../src/data/rng.js';
import { tensorSlot } from '../../src/nn/state-dict.js';
import { createModel } from '../../src/nn/index.js';
import { assign, tensor } from '../../src/ops/index.js';
import { cpu32, randomArray } from '../helpers/backends.js';

/** softmax(F W^T + b) rows, [n, k], in float64. */
function probabilities(f: Float32Array, w: ArrayLike<number>, b: ArrayLike<number>, n: number, k: number, d: number): Float64Array {
  const p = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    const z = Array.from({ length: k }, (_, c) => {
      let s = b[c]!;
      for (let j = 0; j < d; j++) s += w[c * d + j]! * f[i * d + j]!;
      return s;
    });
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const sum = e.reduce((a, v) => a + v, 0);
    e.forEach((v, c) => { p[i * k + c] = v / sum; });
  }
  return p;
}

/** The regularised objective the fit minimises, in float64, theta = [W, b]. */
function objective(f: Float32Array, teacher: Float32Array, theta: Float64Array, theta0: ArrayLike<number>, n: number, k: number, d: number, l2: number): number {
  const p = probabilities(f, theta.subarray(0, k * d), theta.subarray(k * d), n, k, d);
  let ce = 0;
  for (let j = 0; j < n * k; j++) ce -= teacher[j]! * Math.log(p[j]!);
  let reg = 0;
  for (let t = 0; t < theta.length; t++) reg += (theta[t]! - theta0[t]!) ** 2;
  return ce / n + 0.5 * l2 * reg;
}

describe('fitLinearHead', () => {
  const n = 120;
  const k = 4;
  const d = 6;
  const features = randomArray(n * d, 21, -1, 1);
  const plantedW = randomArray(k * d, 22, -2, 2);
  const plantedB = Float32Array.from([0.5, -1, 0.25, 0]);
  const teacher = Float32Array.from(probabilities(features, plantedW, plantedB, n, k, d));

  it('recovers a planted layer from a perturbed start when the pull is tiny', () => {
    const w0 = plantedW.map((v, j) => v + 0.8 * Math.sin(j));
    const b0 = plantedB.map((v, c) => v - 0.7 * (c - 1.5));
    const fit = fitLinearHead(features, teacher, w0, b0, n, k, d, { l2: 1e-7, maxIterations: 2000 });
    const p = probabilities(features, fit.weight, fit.bias, n, k, d);
    for (let j = 0; j < n * k; j++) expect(Math.abs(p[j]! - teacher[j]!)).toBeLessThan(2e-3);
    expect(fit.lossAfter).toBeLessThan(fit.lossBefore);
    expect(fit.weightChange).toBeGreaterThan(0.1);
  });

  it('leaves a layer that already matches the teacher where it is', () => {
    const fit = fitLinearHead(features, teacher, plantedW, plantedB, n, k, d);
    for (let j = 0; j < k * d; j++) expect(Math.abs(fit.weight[j]! - plantedW[j]!)).toBeLessThan(1e-6);
    for (let c = 0; c < k; c++) expect(Math.abs(fit.bias[c]! - plantedB[c]!)).toBeLessThan(1e-6);
  });

  it('stops at the minimum of the regularised objective: its finite differences vanish there', () => {
    const w0 = randomArray(k * d, 23, -1, 1);
    const b0 = randomArray(k, 24, -1, 1);
    const l2 = 0.05;
    const fit = fitLinearHead(features, teacher, w0, b0, n, k, d, { l2 });
    const theta = new Float64Array(k * d + k);
    theta.set(fit.weight, 0);
    theta.set(fit.bias, k * d);
    const theta0 = [...w0, ...b0];
    const h = 1e-5;
    for (let t = 0; t < theta.length; t++) {
      const up = Float64Array.from(theta); up[t]! += h;
      const dn = Float64Array.from(theta); dn[t]! -= h;
      expect(Math.abs((objective(features, teacher, up, theta0, n, k, d, l2) - objective(features, teacher, dn, theta0, n, k, d, l2)) / (2 * h))).toBeLessThan(1e-6);
    }
    // A stronger pull keeps the layer closer to where it started.
    const stiff = fitLinearHead(features, teacher, w0, b0, n, k, d, { l2: 1 });
    expect(stiff.weightChange).toBeLessThan(fit.weightChange);
  });

  it('names bad input', () => {
    const w = new Float32Array(k * d);
    const b = new Float32Array(k);
    expect(() => fitLinearHead(features, teacher, w, b, n, k, d + 1)).toThrow(/expected 120x7 features and 120x4 probabilities/);
    expect(() => fitLinearHead(features, teacher, w.subarray(1), b, n, k, d)).toThrow(/expected a 4x6 weight and 4 biases, got 23 and 4 values/);
    const nan = Float32Array.from(features); nan[d * 3 + 2] = Number.NaN;
    expect(() => fitLinearHead(nan, teacher, w, b, n, k, d)).toThrow(/non-finite feature at row 3/);
    const bad = Float32Array.from(b); bad[1] = Number.POSITIVE_INFINITY;
    expect(() => fitLinearHead(features, teacher, w, bad, n, k, d)).toThrow(/starting layer holds a non-finite value/);
    expect(() => fitLinearHead(features, teacher, w, b, n, k, d, { l2: 0 })).toThrow(/l2 must be a finite number > 0/);
  });
});

describe('refitHead', () => {
  const spec = { arch: 'small-cnn', inChannels: 1, numClasses: 4, width: 4, inputSize: 12 } as const;
  const n = 24;
  const set = { images: randomArray(n * 144, 5, 0, 1), labels: Int32Array.from({ length: n }, (_, i) => i % 4), n, c: 1, h: 12, w: 12, numClasses: 4 };

  it('captures the head input: the head applied to it gives the model logits, and the head is restored after', async () => {
    const model = createModel(cpu32, spec, { seed: 3 });
    const head = headLinear(model);
    const forward = head.forward;
    const f = await headInputs(model, cpu32, set);
    expect(head.forward).toBe(forward);
    const d = head.inFeatures;
    expect(f.length).toBe(n * d);
    const w = await head.weight.data();
    const b = await head.bias!.data();
    const z = await modelLogits(model, cpu32, set);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < 4; c++) {
        let s = b[c]!;
        for (let j = 0; j < d; j++) s += w[c * d + j]! * f[i * d + j]!;
        expect(s).toBeCloseTo(z[i * 4 + c]!, 4);
      }
    }
    model.dispose();
  });

  it('writes the fitted layer into the model, bringing a drifted head back to the teacher', async () => {
    const model = createModel(cpu32, spec, { seed: 4 });
    const teacher = await teacherProbabilities(model, cpu32, set);
    const head = headLinear(model);
    // Drift: one row of the weight scaled up, as masks that favour one class might leave it.
    const original = await head.weight.data();
    const d = head.inFeatures;
    const drifted = Float32Array.from(original, (v, j) => (Math.floor(j / d) === 2 ? 3 * v + 0.2 : v));
    const t = tensor(cpu32, drifted, head.weight.shape);
    assign(head.weight, t);
    t.dispose();
    const fit = await refitHead(model, cpu32, set, teacher, { l2: 1e-6 });
    expect(fit.lossAfter).toBeLessThan(fit.lossBefore);
    expect(Array.from(await head.weight.data())).toEqual(Array.from(fit.weight, (v) => Math.fround(v)));
    expect(Array.from(await head.bias!.data())).toEqual(Array.from(fit.bias, (v) => Math.fround(v)));
    const z = await modelLogits(model, cpu32, set);
    for (let i = 0; i < n; i++) {
      const row = Array.from(z.subarray(i * 4, i * 4 + 4));
      const m = Math.max(...row);
      const s = row.reduce((a, v) => a + Math.exp(v - m), 0);
      for (let c = 0; c < 4; c++) expect(Math.exp(row[c]! - m) / s).toBeCloseTo(teacher[i * 4 + c]!, 2);
    }
    model.dispose();
  });
});

describe('applyHeadCalibration with triggered copies', () => {
  const spec = { arch: 'small-cnn', inChannels: 1, numClasses: 4, width: 4, inputSize: 12 } as const;
  const n = 24;
  const crops = { images: randomArray(n * 144, 9, 0, 1), labels: Int32Array.from({ length: n }, (_, i) => i % 4), n, c: 1, h: 12, w: 12, numClasses: 4 };
  const o = { headFit: 'linear', headL2: 0.03, tau: 6, triggerLr: 10, batchSize: 8, seed: 5 } as const;

  /** A model whose head drifted (as masks leave it), the original's answers on the crops as teacher. */
  async function drifted(): Promise<{ model: ReturnType<typeof createModel>; calibration: HeadCalibrationSet; start: Float32Array[] }> {
    const model = createModel(cpu32, spec, { seed: 6 });
    const teacher = await teacherProbabilities(model, cpu32, crops);
    const head = headLinear(model);
    const w = Float32Array.from(await head.weight.data(), (v, j) => (j % 3 === 0 ? 2 * v : v));
    const t = tensor(cpu32, w, head.weight.shape);
    assign(head.weight, t);
    t.dispose();
    return { model, calibration: { set: crops, teacher, crops, cropTeacher: teacher }, start: [w, Float32Array.from(await head.bias!.data())] };
  }

  it('each round recovers a trigger against the model as fitted, adds the triggered crops, and refits from the starting layer', async () => {
    const a = await drifted();
    const log: string[] = [];
    const r = await applyHeadCalibration(a.model, cpu32, a.calibration, { ...o, calibrationTriggers: 2 }, (l) => log.push(l));
    expect(r.triggerRounds).toHaveLength(2);
    for (const t of r.triggerRounds!) {
      expect(t.l1).toBeGreaterThan(0);
      expect(t.l1).toBeLessThanOrEqual(o.tau * (1 + 1e-5));
      expect(t.flip).toBeGreaterThanOrEqual(0);
      expect(t.flip).toBeLessThanOrEqual(1);
    }
    expect(log.filter((l) => l.startsWith('head calibration (linear)'))).toHaveLength(3);
    expect(log.filter((l) => /^head calibration trigger \d\/2: L1 [\d.]+, moves [\d.]+ % of the crops/.test(l))).toHaveLength(2);
    expect(log.at(-1)).toMatch(new RegExp(`on ${3 * n} fresh crops`));

    // The same steps by hand: a plain fit, the first trigger against it, then the layer put back before each refit.
    const b = await drifted();
    const head = headLinear(b.model);
    await refitHead(b.model, cpu32, crops, b.calibration.teacher, { l2: o.headL2 });
    const rng = new Rng(o.seed ^ 0xca17);
    const search = { tau: o.tau, triggerLr: o.triggerLr, batchSize: o.batchSize, steps: 20 };
    let fit = { set: crops as CleanSet, teacher: b.calibration.teacher };
    for (let round = 0; round < 2; round++) {
      fit = appendCopies(fit, addTrigger(crops.images, await recoverSparseTrigger(b.model, cpu32, crops, search, rng)), n, b.calibration.teacher);
      tensorSlot(head.weight).write({ shape: head.weight.shape, data: b.start[0]! });
      tensorSlot(head.bias!).write({ shape: head.bias!.shape, data: b.start[1]! });
      await refitHead(b.model, cpu32, fit.set, fit.teacher, { l2: o.headL2 });
    }
    expect(Array.from(await headLinear(a.model).weight.data())).toEqual(Array.from(await head.weight.data()));
    expect(Array.from(await headLinear(a.model).bias!.data())).toEqual(Array.from(await head.bias!.data()));
    a.model.dispose();
    b.model.dispose();
  });

  it('with no rounds it is the plain fit; the option is checked', async () => {
    const a = await drifted();
    const r = await applyHeadCalibration(a.model, cpu32, a.calibration, { ...o, calibrationTriggers: 0 }, () => {});
    expect(r.triggerRounds).toBeUndefined();
    const b = await drifted();
    await refitHead(b.model, cpu32, crops, b.calibration.teacher, { l2: o.headL2 });
    expect(Array.from(await headLinear(a.model).weight.data())).toEqual(Array.from(await headLinear(b.model).weight.data()));
    expect(() => resolveAwmPlusOptions({ calibrationTriggers: 1.5 }, { clean: crops, seed: 0 })).toThrow(/--calibration-triggers must be a whole number of rounds >= 0, got 1.5/);
    expect(resolveAwmPlusOptions({}, { clean: crops, seed: 0 }).calibrationTriggers).toBe(0);
    a.model.dispose();
    b.model.dispose();
  });

  it('addTrigger adds one image\'s trigger to every image, clipped to [0, 1], and names a mismatch', () => {
    const images = Float32Array.from([0.1, 0.9, 0.5, 0, 1, 0.3]);
    expect(Array.from(addTrigger(images, Float32Array.from([0.5, 0.5, -1])))).toEqual([0.6, 1, 0, 0.5, 1, 0].map(Math.fround));
    expect(() => addTrigger(images, Float32Array.from([1, 2, 3, 4]))).toThrow(/6 image values are not a whole number of 4-value images/);
  });
});

describe('suspect-class shift', () => {
  const check = (triggerFlip: number, triggerClass: number, noiseFlip: number, noiseClass: number) => ({ agreement: 1, triggerFlip, triggerClass, noiseFlip, noiseClass, score: Math.max(triggerFlip, noiseFlip) });

  it('without a suspect search (--suspect-starts 0) suspects the class of the larger self-check flip at 80 %', () => {
    expect(suspectedTarget(check(0.973, 0, 0.556, 8))).toEqual({ cls: 0, flip: 0.973, via: 'trigger' });
    expect(suspectedTarget(check(0.079, 8, 0.976, 0))).toEqual({ cls: 0, flip: 0.976, via: 'noise' });
    expect(suspectedTarget(check(0.3, 2, 0.49, 5))).toBeUndefined();
    // BadNets seed 1 and 2 on SwiftShader: noise blends send 40-56 % to the bag class, which is not the target.
    expect(suspectedTarget(check(0.12, 0, 0.556, 8))).toBeUndefined();
    expect(suspectedTarget(check(SUSPECT_MIN_FLIP, 4, 0, 1))).toEqual({ cls: 4, flip: SUSPECT_MIN_FLIP, via: 'trigger' });
  });

  it('with a suspect search, two of its searches must send 95 % to one class; the self-check\'s own trigger flip does not count', () => {
    const search = (...flips: Array<[number, number]>) => tallySearches(flips.map(([flip, cls]) => ({ flip, cls })));
    // BadNets seed 8 on the H100: the self-check's search missed (17 % to class 3), random starts found the patch.
    expect(suspectedTarget(check(0.173, 3, 0.512, 8), search([0.198, 3], [0.94, 0], [0.398, 0], [1, 0], [1, 0]))).toEqual({ cls: 0, flip: 1, via: 'trigger' });
    // A clean small CNN: one search in five reached 94 % (bag); no suspect.
    expect(suspectedTarget(check(0.63, 4, 0.074, 8), search([0.631, 4], [0.672, 8], [0.813, 8], [0.828, 8], [0.938, 8]))).toBeUndefined();
    // One search at the bar is not enough, two into different classes neither.
    expect(suspectedTarget(check(0.99, 3, 0.2, 8), search([0.99, 3], [0.5, 3]))).toBeUndefined();
    expect(suspectedTarget(check(0, 3, 0.2, 8), search([0.99, 3], [0.98, 4]))).toBeUndefined();
    expect(suspectedTarget(check(0, 3, 0.2, 8), search([SUSPECT_MIN_TRIGGER_FLIP, 4], [0.3, 1], [SUSPECT_MIN_TRIGGER_FLIP, 4]))).toEqual({ cls: 4, flip: SUSPECT_MIN_TRIGGER_FLIP, via: 'trigger' });
    // Blend: the noise probe names the target; the larger flip wins when both name one.
    expect(suspectedTarget(check(0.1, 8, 0.976, 0), search([0.1, 8], [0.16, 8]))).toEqual({ cls: 0, flip: 0.976, via: 'noise' });
    expect(suspectedTarget(check(0.1, 8, 0.85, 0), search([0.96, 3], [0.97, 3]))).toEqual({ cls: 3, flip: 0.97, via: 'trigger' });
  });

  it('tallies searches by class: most searches at the bar, then the larger flip; with none at the bar, the strongest search', () => {
    expect(tallySearches([{ flip: 0.99, cls: 2 }, { flip: 0.96, cls: 1 }, { flip: 0.97, cls: 1 }])).toMatchObject({ cls: 1, flip: 0.97, agreeing: 2 });
    expect(tallySearches([{ flip: 0.96, cls: 2 }, { flip: 0.99, cls: 1 }])).toMatchObject({ cls: 1, flip: 0.99, agreeing: 1 });
    expect(tallySearches([{ flip: 0.5, cls: 2 }, { flip: 0.8, cls: 1 }, { flip: 0.7, cls: 2 }])).toMatchObject({ cls: 1, flip: 0.8, agreeing: 0 });
    expect(() => tallySearches([])).toThrow(/no searches to tally/);
  });

  it('keeps the triggers of the searches that agree on the class, and stacks them only when the class is named', () => {
    const t = (v: number) => Float32Array.from([v, -v]);
    const s = tallySearches([{ flip: 0.99, cls: 1 }, { flip: 0.97, cls: 1, trigger: t(1) }, { flip: 0.5, cls: 1, trigger: t(2) }, { flip: 0.98, cls: 2, trigger: t(3) }, { flip: 0.96, cls: 1, trigger: t(4) }]);
    expect({ cls: s.cls, agreeing: s.agreeing }).toEqual({ cls: 1, agreeing: 3 });
    // The first search (from zero, taken as given) has no trigger; the one below the bar and the other class's are left out.
    expect(s.triggers.map((x) => x[0])).toEqual([1, 4]);
    expect(s.searches[1]).toEqual({ flip: 0.97, cls: 1 });
    expect(Array.from(suspectTriggersOf(s)!)).toEqual([1, -1, 4, -4]);
    expect(plainSearch(s)).not.toHaveProperty('triggers');
    expect(suspectTriggersOf(tallySearches([{ flip: 0.99, cls: 1, trigger: t(1) }, { flip: 0.5, cls: 1, trigger: t(2) }]))).toBeUndefined();
    expect(suspectTriggersOf(tallySearches([{ flip: 0.99, cls: 1 }, { flip: 0.99, cls: 1 }]))).toBeUndefined();
  });

  it("lowers only the suspect's bias by the shift; with no suspect the model is untouched", async () => {
    const spec = { arch: 'small-cnn', inChannels: 1, numClasses: 4, width: 4, inputSize: 12 } as const;
    const model = createModel(cpu32, spec, { seed: 8 });
    const head = headLinear(model);
    const b0 = Array.from(await head.bias!.data());
    const w0 = Array.from(await head.weight.data());
    const log: string[] = [];
    expect(await applySuspectShift(model, check(0.9, 2, 0.1, 1), 0.75, (l) => log.push(l))).toEqual({ cls: 2, flip: 0.9, via: 'trigger', shift: 0.75 });
    expect(Array.from(await head.bias!.data())).toEqual(b0.map((v, c) => (c === 2 ? Math.fround(v - 0.75) : v)));
    expect(Array.from(await head.weight.data())).toEqual(w0);
    expect(await applySuspectShift(model, check(0.2, 2, 0.3, 1), 0.75, (l) => log.push(l))).toEqual({ cls: null, flip: 0.3, via: null, shift: 0.75 });
    expect(Array.from(await head.bias!.data())).toEqual(b0.map((v, c) => (c === 2 ? Math.fround(v - 0.75) : v)));
    expect(log[0]).toMatch(/class 2's bias lowered by 0.75 \(the self-check's trigger sent 90.0 % of the check images there\)/);
    expect(log[1]).toMatch(/none \(trigger 20.0 % of 80.0 %; noise 30.0 % of 80.0 %\)/);
    // With a search, the search (without its triggers: report data) is in what it returns; its trigger is what counts.
    const search = tallySearches([{ flip: 0.96, cls: 1 }, { flip: 0.95, cls: 1 }]);
    expect(await applySuspectShift(model, check(0.2, 2, 0.3, 3), 0.5, (l) => log.push(l), search)).toEqual({ cls: 1, flip: 0.96, via: 'trigger', shift: 0.5, search: plainSearch(search) });
    expect(Array.from(await head.bias!.data())).toEqual(b0.map((v, c) => (c === 2 ? Math.fround(v - 0.75) : c === 1 ? Math.fround(v - 0.5) : v)));
    expect(log[2]).toMatch(/class 1's bias lowered by 0.5 \(the suspect search's trigger sent 96.0 % of the check images there\)/);
    expect(() => resolveAwmPlusOptions({ suspectShift: -1 }, { clean: { n: 1, c: 1, h: 12, w: 12, numClasses: 4, images: new Float32Array(144), labels: new Int32Array(1) }, seed: 0 })).toThrow(/--suspect-shift must be a finite number >= 0, got -1/);
    expect(() => resolveAwmPlusOptions({ suspectShift: 1, selfCheck: false }, { clean: { n: 1, c: 1, h: 12, w: 12, numClasses: 4, images: new Float32Array(144), labels: new Int32Array(1) }, seed: 0 })).toThrow(/--suspect-shift needs the self-check/);
    model.dispose();
  });
});
