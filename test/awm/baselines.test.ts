/**
 * The two baselines on the CPU backend with tiny models: fine-tuning changes weights but no shapes;
 * ANP returns the original model with exactly the chosen BatchNorm weights zeroed (running
 * statistics and counters restored), is reproducible from its seed, and rejects bad options.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { backward, noGrad } from '../../src/autograd/engine.js';
import { tidy } from '../../src/tensor/scope.js';
import * as ops from '../../src/ops/index.js';
import { Module, createModel, type Classifier, type ModelSpecInput, type StateDict } from '../../src/nn/index.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import type { CleanSet } from '../../src/awm/clean-set.js';
import type { DefenseContext } from '../../src/awm/defense.js';
import { fineTuneDefense, resolveFineTuneOptions, runFineTune, type FineTuneOptions } from '../../src/awm/finetune.js';
import {
  anpDefense, batchNormLayers, pruneBatchNormChannels, resolveAnpOptions, runAnp, selectChannelsToPrune, type AnpOptions,
} from '../../src/awm/anp.js';
import { cpu32, expectClose, randomArray } from '../helpers/backends.js';

const be = cpu32;
const live: Classifier[] = [];
const SMALL: ModelSpecInput = { arch: 'small-cnn', inChannels: 3, numClasses: 10, width: 4, inputSize: 16 };
const RESNET: ModelSpecInput = { arch: 'resnet18', inChannels: 3, numClasses: 10, width: 4 };

afterEach(() => {
  for (const m of live.splice(0)) m.dispose();
});

/** A model whose running statistics differ from the fresh 0 / 1, so a restore is visible. */
function model(spec: ModelSpecInput, seed = 1): Classifier {
  const m = createModel(be, spec, { seed });
  live.push(m);
  noGrad(() => tidy(() => {
    m.train();
    m.forward(ops.tensor(be, randomArray(4 * 3 * 16 * 16, 99, 0, 1), [4, 3, 16, 16]));
  }));
  m.eval();
  return m;
}

function cleanSet(n = 6, c = 3): CleanSet {
  const labels = Int32Array.from({ length: n }, (_, i) => (i * 7) % 10);
  return { images: randomArray(n * c * 16 * 16, 5, 0, 1), labels, n, c, h: 16, w: 16, numClasses: 10 };
}

function context(m: Classifier, clean = cleanSet(), log: string[] = []): DefenseContext {
  return { backend: be, model: m, clean, seed: 7, log: (l) => log.push(l) };
}

function expectSameState(actual: StateDict, expected: StateDict, skip: (key: string) => boolean = () => false): void {
  expect([...actual.keys()]).toEqual([...expected.keys()]);
  for (const [k, v] of expected) {
    if (skip(k)) continue;
    expect(actual.get(k)!.shape, k).toEqual(v.shape);
    expect(Array.from(actual.get(k)!.data), k).toEqual(Array.from(v.data));
  }
}

const quickFt: Partial<FineTuneOptions> = { steps: 3, batchSize: 8 };
const quickAnp: Partial<AnpOptions> = { iterations: 3, batchSize: 8 };

describe('fine-tuning', () => {
  it('fills the spec defaults (flips only for 3-channel images)', () => {
    const m = model(SMALL);
    const o = fineTuneDefense.resolveOptions({}, { clean: cleanSet(), model: m, seed: 3 });
    expect(o).toMatchObject({ steps: 200, batchSize: 128, lr: 0.01, momentum: 0.9, weightDecay: 5e-4, cropPadding: 4, flip: true, seed: 3 });
    expect(resolveFineTuneOptions({}, { clean: cleanSet(2, 1), seed: 0 }).flip).toBe(false);
  });

  it('changes the weights, keeps every shape and restores the model flags', async () => {
    const m = model(SMALL);
    const before = await m.stateDict();
    const log: string[] = [];
    const ctx = context(m, cleanSet(), log);
    const out = await fineTuneDefense.run(ctx, fineTuneDefense.resolveOptions(quickFt, ctx));
    const after = await m.stateDict();
    expect([...after.keys()]).toEqual([...before.keys()]);
    for (const [k, v] of before) expect(after.get(k)!.shape, k).toEqual(v.shape);
    const changed = [...before].filter(([k, v]) => k.endsWith('weight') && Array.from(v.data).some((x, i) => x !== after.get(k)!.data[i]));
    expect(changed.length).toBe([...before.keys()].filter((k) => k.endsWith('weight')).length);
    expect(m.training).toBe(false);
    expect(m.parameters().every((p) => p.requiresGrad && p.grad === null)).toBe(true);
    expect(out.method).toBe('ft');
    expect((out.details.history as unknown[]).length).toBeGreaterThan(0);
    expect(Number.isFinite(out.details.finalLoss as number)).toBe(true);
    expect(log.some((l) => l.startsWith('FT step 3/3'))).toBe(true);
  });

  it('is reproducible from its seed', async () => {
    const run = async (seed: number) => {
      const m = model(SMALL);
      await runFineTune(m, be, cleanSet(), resolveFineTuneOptions({ ...quickFt, seed }, { clean: cleanSet(), seed: 0 }));
      return m.stateDict();
    };
    const a = await run(11);
    expectSameState(await run(11), a);
    const c = await run(12);
    expect(Array.from(c.get('fc2.weight')!.data)).not.toEqual(Array.from(a.get('fc2.weight')!.data));
  });

  it('rejects bad options with the option named', () => {
    const ctx = { clean: cleanSet(), seed: 0 };
    expect(() => resolveFineTuneOptions({ steps: 0 }, ctx)).toThrow(/steps must be a positive integer/);
    expect(() => resolveFineTuneOptions({ batchSize: 2.5 }, ctx)).toThrow(/batchSize/);
    expect(() => resolveFineTuneOptions({ lr: Number.NaN }, ctx)).toThrow(/lr must be/);
    expect(() => resolveFineTuneOptions({ momentum: 1 }, ctx)).toThrow(/momentum must be in \[0, 1\)/);
    expect(() => resolveFineTuneOptions({ cropPadding: -1 }, ctx)).toThrow(/cropPadding/);
    expect(() => resolveFineTuneOptions({ seed: 0.5 }, ctx)).toThrow(/seed must be an integer/);
  });
});

describe('ANP pruning choice', () => {
  const masks = new Map<string, Float32Array>([
    ['bn1', Float32Array.of(1, 0.1, 0.25, 0.2)],
    ['bn2', Float32Array.of(0, 0.5, 0.1, 0.9, 0.19, 1, 0.7, 0.3)],
  ]);

  it('by threshold takes exactly the masks <= threshold (the official comparison)', () => {
    const got = selectChannelsToPrune(masks, 'threshold', 0.2).map((p) => `${p.layer}:${p.channel}`);
    expect(got).toEqual(['bn1:1', 'bn1:3', 'bn2:0', 'bn2:2', 'bn2:4']);
    expect(selectChannelsToPrune(masks, 'threshold', 0)).toEqual([{ layer: 'bn2', channel: 0, mask: 0 }]);
  });

  it('by number takes the lowest masks, ties in layer then channel order', () => {
    const got = selectChannelsToPrune(masks, 'number', 3).map((p) => `${p.layer}:${p.channel}`);
    expect(got).toEqual(['bn2:0', 'bn1:1', 'bn2:2']);
    expect(selectChannelsToPrune(masks, 'number', 0)).toEqual([]);
    expect(() => selectChannelsToPrune(masks, 'number', 13)).toThrow(/cannot prune 13 of 12 channels/);
  });

  it('zeroes exactly the chosen BatchNorm weights and nothing else', async () => {
    const m = model(SMALL);
    const before = await m.stateDict();
    const known = new Map<string, Float32Array>([['bn1', Float32Array.of(0.5, 0.05, 1, 0.2)], ['bn2', new Float32Array(8).fill(1)]]);
    known.get('bn2')![6] = 0.01;
    pruneBatchNormChannels(m, selectChannelsToPrune(known, 'threshold', 0.2));
    const after = await m.stateDict();
    expectSameState(after, before, (k) => k === 'bn1.weight' || k === 'bn2.weight');
    const expectWeight = (key: string, zeroed: number[]) => {
      const want = Array.from(before.get(key)!.data).map((v, i) => (zeroed.includes(i) ? 0 : v));
      expect(Array.from(after.get(key)!.data)).toEqual(want);
    };
    expectWeight('bn1.weight', [1, 3]);
    expectWeight('bn2.weight', [6]);
    expect(() => pruneBatchNormChannels(m, [{ layer: 'fc1', channel: 0, mask: 0 }])).toThrow(/no BatchNorm layer/);
    expect(() => pruneBatchNormChannels(m, [{ layer: 'bn1', channel: 4, mask: 0 }])).toThrow(/has 4 channels/);
  });
});

describe('ANP', () => {
  it('fills the spec defaults', () => {
    const m = model(SMALL);
    const o = anpDefense.resolveOptions({}, { clean: cleanSet(), model: m, seed: 4 });
    expect(o).toMatchObject({ iterations: 2000, batchSize: 128, eps: 0.4, alpha: 0.2, maskLr: 0.2, momentum: 0.9, pruneBy: 'threshold', pruneValue: 0.2, cropPadding: 4, flip: true, seed: 4 });
  });

  it('returns the original ResNet-18 with exactly the low-mask channels pruned', async () => {
    const m = model(RESNET);
    const before = await m.stateDict();
    const counters = batchNormLayers(m).map(([, bn]) => bn.numBatchesTracked);
    const ctx = context(m);
    const out = await anpDefense.run(ctx, anpDefense.resolveOptions({ ...quickAnp, pruneBy: 'number', pruneValue: 10 }, ctx));
    const after = await m.stateDict();
    // Everything but BatchNorm weights is the original, running statistics and counters included.
    expectSameState(after, before, (k) => k.endsWith('.weight') && batchNormLayers(m).some(([name]) => k === `${name}.weight`));
    expect(batchNormLayers(m).map(([, bn]) => bn.numBatchesTracked)).toEqual(counters);
    expect(batchNormLayers(m).every(([, bn]) => bn.affineOverride === null)).toBe(true);
    expect(m.training).toBe(false);

    const masks = out.masks!;
    expect([...masks.keys()]).toEqual(batchNormLayers(m).map(([name]) => name));
    for (const v of masks.values()) for (const x of v) expect(x >= 0 && x <= 1).toBe(true);
    const chosen = selectChannelsToPrune(masks, 'number', 10);
    let pruned = 0;
    for (const [name] of batchNormLayers(m)) {
      const w = Array.from(after.get(`${name}.weight`)!.data);
      const want = Array.from(before.get(`${name}.weight`)!.data).map((v, i) => (chosen.some((p) => p.layer === name && p.channel === i) ? 0 : v));
      expect(w, name).toEqual(want);
      pruned += w.filter((v) => v === 0).length;
    }
    expect(pruned).toBe(10);
    expect(out.details.prunedTotal).toBe(10);
    const layers = out.details.layers as Array<{ layer: string; pruned: number; prunedChannels: number[] }>;
    expect(layers.reduce((s, l) => s + l.pruned, 0)).toBe(10);
    expect(out.details.totalChannels).toBe([...masks.values()].reduce((s, v) => s + v.length, 0));
  });

  it('prunes by threshold exactly the channels whose final mask is <= threshold', async () => {
    const m = model(SMALL);
    const before = await m.stateDict();
    // A large mask step so a few iterations move masks across the threshold.
    const result = await runAnp(m, be, cleanSet(), resolveAnpOptions({ ...quickAnp, maskLr: 5, pruneValue: 0.9 }, { clean: cleanSet(), model: m, seed: 2 }));
    const after = await m.stateDict();
    for (const [name, mask] of result.masks) {
      const want = Array.from(before.get(`${name}.weight`)!.data).map((v, i) => (mask[i]! <= 0.9 ? 0 : v));
      expect(Array.from(after.get(`${name}.weight`)!.data), name).toEqual(want);
    }
    expect(result.pruned.length).toBe([...result.masks.values()].reduce((s, v) => s + v.filter((x) => x <= 0.9).length, 0));
    expect(result.history.length).toBeGreaterThan(0);
  });

  it('takes a mask step along weight * dCE/dweight (no noise, alpha 1, no momentum)', async () => {
    // One image drawn four times without augmentation: the batch is known without the sampler.
    const one = cleanSet(1);
    const m = model(SMALL);
    const lr = 1e-2;
    const o = resolveAnpOptions({ iterations: 1, batchSize: 4, eps: 0, alpha: 1, maskLr: lr, momentum: 0, cropPadding: 0, flip: false, pruneValue: 0 }, { clean: one, model: m, seed: 0 });
    const { masks } = await runAnp(m, be, one, o);

    const ref = model(SMALL);
    ref.train();
    const x = ops.tensor(be, new Float32Array(4 * 768).map((_, i) => one.images[i % 768]!), [4, 3, 16, 16]);
    const y = ops.tensor(be, Int32Array.of(...Array(4).fill(one.labels[0]!)), [4], { dtype: 'int32' });
    tidy(() => backward(ops.crossEntropy(ref.forward(x), y)));
    for (const [name, bn] of batchNormLayers(ref)) {
      const w = await bn.weight.data();
      const g = await bn.weight.grad!.data();
      const want = Array.from(w, (wc, c) => Math.min(1, Math.max(0, 1 - lr * wc * g[c]!)));
      expectClose(masks.get(name)!, want, { rtol: 1e-5, atol: 1e-6, what: name });
      expect(want.some((v) => v < 1)).toBe(true);
    }
    ref.zeroGrad();
    x.dispose();
    y.dispose();
  });

  it('is reproducible from its seed', async () => {
    const run = async (seed: number) => {
      const m = model(SMALL);
      const r = await runAnp(m, be, cleanSet(), resolveAnpOptions({ ...quickAnp, seed }, { clean: cleanSet(), model: m, seed: 0 }));
      // The noise step is an ascent, and the logged loss is the alpha mix of the two losses.
      for (const h of r.history) {
        expect(h.perturbedLoss).toBeGreaterThan(h.cleanLoss);
        expect(h.loss).toBeCloseTo(0.2 * h.cleanLoss + 0.8 * h.perturbedLoss, 5);
      }
      return { masks: r.masks, state: await m.stateDict() };
    };
    const a = await run(21);
    const b = await run(21);
    expect(b.masks).toEqual(a.masks);
    expectSameState(b.state, a.state);
    const c = await run(22);
    expect(c.masks).not.toEqual(a.masks);
  });

  it('restores the model untouched when stopped', async () => {
    const m = model(SMALL);
    const before = await m.stateDict();
    let calls = 0;
    const o = resolveAnpOptions({ ...quickAnp }, { clean: cleanSet(), model: m, seed: 0 });
    await expect(runAnp(m, be, cleanSet(), o, { shouldStop: () => ++calls > 2 })).rejects.toThrow('ANP stopped');
    expectSameState(await m.stateDict(), before);
    expect(batchNormLayers(m).every(([, bn]) => bn.affineOverride === null)).toBe(true);
  });

  it('leaves no tensors behind (fine-tuning and ANP)', async () => {
    const m = model(SMALL);
    const start = be.liveBytes();
    await runFineTune(m, be, cleanSet(), resolveFineTuneOptions(quickFt, { clean: cleanSet(), seed: 0 }));
    await runAnp(m, be, cleanSet(), resolveAnpOptions(quickAnp, { clean: cleanSet(), model: m, seed: 0 }));
    expect(be.liveBytes()).toBe(start);
  });

  it('rejects bad options with the option named', async () => {
    const m = model(SMALL);
    const ctx = { clean: cleanSet(), model: m, seed: 0 };
    expect(() => resolveAnpOptions({ iterations: 0 }, ctx)).toThrow(/iterations must be a positive integer/);
    expect(() => resolveAnpOptions({ eps: -0.1 }, ctx)).toThrow(/eps must be/);
    expect(() => resolveAnpOptions({ alpha: 1.5 }, ctx)).toThrow(/alpha must be in \[0, 1\]/);
    expect(() => resolveAnpOptions({ momentum: -1 }, ctx)).toThrow(/momentum/);
    expect(() => resolveAnpOptions({ pruneValue: 1.2 }, ctx)).toThrow(/threshold must be in \[0, 1\]/);
    expect(() => resolveAnpOptions({ pruneBy: 'percent' as never }, ctx)).toThrow(/pruneBy must be 'threshold' or 'number'/);
    expect(() => resolveAnpOptions({ pruneBy: 'number' }, ctx)).toThrow(/needs pruneValue/);
    expect(() => resolveAnpOptions({ pruneBy: 'number', pruneValue: 2.5 }, ctx)).toThrow(/non-negative integer/);
    expect(() => resolveAnpOptions({ pruneBy: 'number', pruneValue: 13 }, ctx)).toThrow(/only 12 BatchNorm channels/);
    class NoBatchNorm extends Module {
      forward(x: Tensor): Tensor {
        return x;
      }
    }
    const o = resolveAnpOptions({ ...quickAnp }, ctx);
    await expect(runAnp(new NoBatchNorm(), be, cleanSet(), o)).rejects.toThrow(/no BatchNorm layers/);
  });
});
