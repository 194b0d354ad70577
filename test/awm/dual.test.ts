/**
 * AWM-dual's parts on small inputs: the dense trigger's signed step and its L-infinity ball, the split of the
 * triggered rows between the two triggers, runAwm with a dense trigger (seeded, masks in [0, 1], nothing left live,
 * refused beside other trigger sources), and the defense's defaults and pool.
 */
import { describe, expect, it } from 'vitest';
import * as ops from '../../src/ops/index.js';
import { createModel } from '../../src/nn/index.js';
import { clearMasks } from '../../src/nn/masks.js';
import { runAwm, splitTriggerRows, type AwmVariant } from '../../src/awm/awm.js';
import { denseTriggerStep } from '../../src/awm/steps.js';
import { backward, noGrad, requireGrad } from '../../src/autograd/engine.js';
import { AWM_DUAL_DEFAULTS, awmDualDefense, dualPool, resolveAwmDualOptions } from '../../src/awm/dual.js';
import { cpu32, cpu64, randomArray } from '../helpers/backends.js';

const tinySpec = { arch: 'small-cnn', inChannels: 1, numClasses: 3, width: 4, inputSize: 8 } as const;
const tinySet = { images: randomArray(6 * 8 * 8, 4, 0, 1), labels: Int32Array.from([0, 1, 2, 0, 1, 2]), n: 6, c: 1, h: 8, w: 8, numClasses: 3 };
const tinyOptions = { outer: 2, inner: 2, batchSize: 4, alpha: 0.5, gamma: 1e-8, tau: 3, triggerLr: 10, maskLr: 0.05, lrDecay: 1, seed: 5 };
const dense = { eps: 0.1, lr: 0.025 };

async function tinyAwm(variant: AwmVariant) {
  const model = createModel(cpu32, tinySpec, { seed: 1 });
  try {
    return await runAwm(model, cpu32, tinySet, tinyOptions, {}, variant);
  } finally {
    model.dispose();
  }
}

describe('the dense trigger step', () => {
  it('moves every pixel by lr along the sign of the CE gradient at clamp(x + delta), kept inside [-eps, eps]', async () => {
    const model = createModel(cpu64, tinySpec, { seed: 2 });
    model.eval();
    model.setRequiresGrad(false);
    const x = ops.tensor(cpu64, randomArray(5 * 64, 12, 0, 1), [5, 1, 8, 8]);
    // Some elements at the ball's edge, so the clamp to [-eps, eps] is exercised.
    const start = randomArray(64, 13, -0.1, 0.1).map((v, i) => (i % 5 === 0 ? 0.1 : i % 7 === 0 ? -0.1 : v));
    const q = ops.tensor(cpu64, start, [1, 1, 8, 8]);
    requireGrad(q);
    const yhat = noGrad(() => ops.argmax(model.forward(x), 1));
    const ce = ops.crossEntropy(model.forward(ops.clamp(ops.add(x, q), 0, 1)), yhat);
    backward(ce);
    const g = await q.grad!.data();
    const ceValue = await ce.item();
    const d = ops.tensor(cpu64, start, [1, 1, 8, 8]);
    requireGrad(d);
    const loss = denseTriggerStep(model, d, x, 0.1, 0.04);
    expect(await loss.item()).toBeCloseTo(-ceValue, 10);
    const got = await d.data();
    let moved = 0;
    start.forEach((v, i) => {
      const want = g[i] === 0 ? v : Math.min(0.1, Math.max(-0.1, v + 0.04 * Math.sign(g[i]!)));
      expect(got[i]).toBeCloseTo(want, 12);
      if (got[i] !== v) moved++;
    });
    expect(moved).toBeGreaterThan(30);
    expect(d.grad).toBeNull();
    for (const t of [x, q, d, yhat, ce, loss]) t.dispose();
    model.dispose();
  });
});

describe('splitTriggerRows', () => {
  it('gives the first ceil(rows / 2) rows the first trigger and the rest the second', async () => {
    const a = ops.tensor(cpu32, [1, 2], [1, 1, 1, 2]);
    const b = ops.tensor(cpu32, [-1, -2], [1, 1, 1, 2]);
    expect(Array.from(await splitTriggerRows(a, b, 5).data())).toEqual([1, 2, 1, 2, 1, 2, -1, -2, -1, -2]);
    expect(Array.from(await splitTriggerRows(a, b, 1).data())).toEqual([1, 2]);
    a.dispose();
    b.dispose();
  });
});

describe('runAwm with a dense trigger', () => {
  it('is seeded, reports the dense search, changes the masks against the L1 trigger alone, and keeps them in [0, 1]', async () => {
    const plain = await tinyAwm({ sparseTrigger: true });
    const a = await tinyAwm({ sparseTrigger: true, denseTrigger: dense });
    const b = await tinyAwm({ sparseTrigger: true, denseTrigger: dense });
    const flat = (r: typeof a) => [...r.masks.values()].flatMap((m) => Array.from(m));
    expect(flat(a)).toEqual(flat(b));
    expect(flat(a)).not.toEqual(flat(plain));
    expect(flat(a).every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(a.rounds.every((r) => Number.isFinite(r.denseTriggerLoss))).toBe(true);
    expect(plain.rounds[0]!.denseTriggerLoss).toBeUndefined();
    // The L1 trigger's phase runs first on the same draws, so round 1's L1 trigger is the same with or without it.
    expect(Array.from(a.rounds[0]!.trigger)).toEqual(Array.from(plain.rounds[0]!.trigger));
  });

  it('is refused beside another trigger source, and with a bound outside (0, 1]', async () => {
    await expect(tinyAwm({ denseTrigger: dense, noiseBlend: 0.2 })).rejects.toThrow(/dense trigger shares the triggered rows .* not with noiseBlend/);
    await expect(tinyAwm({ denseTrigger: dense, triggerBank: true })).rejects.toThrow(/not with triggerBank/);
    await expect(tinyAwm({ denseTrigger: { eps: 0, lr: 0.1 } })).rejects.toThrow(/eps must be above 0 and at most 1, got 0/);
  });

  it('leaves nothing live', async () => {
    const model = createModel(cpu32, tinySpec, { seed: 1 });
    const start = cpu32.liveBytes();
    await runAwm(model, cpu32, tinySet, tinyOptions, {}, { sparseTrigger: true, denseTrigger: dense });
    clearMasks(model);
    expect(cpu32.liveBytes()).toBe(start);
    model.dispose();
  });
});

describe('the AWM-dual defense', () => {
  it('resolves its defaults, scales tau to the input, and checks its own flags', () => {
    const o = resolveAwmDualOptions({}, { clean: tinySet, seed: 3 });
    expect(o).toMatchObject({ outer: AWM_DUAL_DEFAULTS.outer, alpha: 0.3, batchSize: 16, denseEps: 0.1, mixupCount: 200, augmentCopies: 4, seed: 3, augmentFlip: false });
    expect(o.tau).toBeCloseTo((100 * 64) / 3072, 12);
    expect(resolveAwmDualOptions({ tau: 2 }, { clean: tinySet, seed: 0 }).tau).toBe(2);
    expect(() => resolveAwmDualOptions({ denseEps: 1.5 }, { clean: tinySet, seed: 0 })).toThrow(/--dense-eps must be above 0 and at most 1, got 1.5/);
  });

  it('builds a pool of the images, their copies and mixtures, with the teacher\'s probabilities per image', async () => {
    const model = createModel(cpu32, tinySpec, { seed: 1 });
    const o = resolveAwmDualOptions({ augmentCopies: 2, mixupCount: 5 }, { clean: tinySet, seed: 0 });
    const { pool, teacher } = await dualPool(model, cpu32, tinySet, o);
    expect(pool.n).toBe(6 * 3 + 5);
    expect(teacher.length).toBe(pool.n * 3);
    for (let i = 0; i < pool.n; i++) expect(teacher[3 * i]! + teacher[3 * i + 1]! + teacher[3 * i + 2]!).toBeCloseTo(1, 5);
    model.dispose();
  });

  it('runs end to end, folds its masks and reports its settings', async () => {
    const model = createModel(cpu32, tinySpec, { seed: 1 });
    const before = Array.from(await model.stateDict().then((s) => s.get('conv1.weight')!.data));
    const o = resolveAwmDualOptions({ outer: 2, batchSize: 4, augmentCopies: 1, mixupCount: 4 }, { clean: tinySet, seed: 0 });
    const lines: string[] = [];
    const outcome = await awmDualDefense.run({ backend: cpu32, model, clean: tinySet, seed: 0, log: (l) => lines.push(l) }, o);
    expect(outcome.method).toBe('awm-dual');
    expect(outcome.settings.denseEps).toBe(0.1);
    expect(lines[0]).toMatch(/AWM-dual: pool of 16 images .* dense one \(eps 0.1\); 2 rounds x 3 phases x 4 steps/);
    expect(lines.some((l) => /dense-trigger CE/.test(l))).toBe(true);
    const after = Array.from(await model.stateDict().then((s) => s.get('conv1.weight')!.data));
    expect(after).not.toEqual(before);
    model.dispose();
  });
});
