/**
 * The memory figures a defense run reports (src/awm/memory-watch.ts): live storages counted by the backend, sampled at
 * each progress line, equal at the start and end of a run that releases what it made, and thinned to a bounded list.
 */
import { describe, expect, it } from 'vitest';
import * as ops from '../../src/ops/index.js';
import { createModel } from '../../src/nn/index.js';
import { MemoryWatch, sampleLabel, thinSamples } from '../../src/awm/memory-watch.js';
import { purifyModel } from '../../src/awm/purify.js';
import { CpuBackend } from '../../src/backends/cpu/backend.js';
import { randomArray } from '../helpers/backends.js';

describe('memory watch', () => {
  it('counts live storages on the CPU backend as tensors are made and disposed', () => {
    const be = new CpuBackend();
    const watch = new MemoryWatch(be);
    const a = ops.zeros(be, [3, 4]);
    const b = ops.ones(be, [5]);
    watch.sample('two made');
    a.dispose();
    const summary = watch.finish();
    expect(summary.samples.map((s) => [s.at, s.liveStorages])).toEqual([['start', 0], ['two made', 2], ['end', 1]]);
    expect(summary.samples[1]!.liveMiB).toBeCloseTo((12 * 4 + 5 * 4) / 2 ** 20, 12);
    expect([summary.liveStoragesStart, summary.liveStoragesEnd]).toEqual([0, 1]);
    // Node says the resident set; the peak is the largest sample.
    expect(summary.peakRssMiB).toBe(Math.max(...summary.samples.map((s) => s.rssMiB!)));
    b.dispose();
    expect(be.liveStorages()).toBe(0);
  });

  it('keeps the first, the last and an even spread of many samples', () => {
    const xs = Array.from({ length: 1000 }, (_, i) => i);
    const kept = thinSamples(xs, 5);
    expect(kept).toEqual([0, 250, 500, 749, 999]);
    expect(thinSamples([1, 2, 3], 5)).toEqual([1, 2, 3]);
    expect(thinSamples(xs)).toHaveLength(64);
  });

  it('labels a sample with a progress line\'s first words', () => {
    expect(sampleLabel('round  3/20  loss 0.41 (clean ...)')).toBe('round 3/20');
    expect(sampleLabel('FT step  40/200  loss')).toBe('FT step');
  });

  it('purifyModel reports the samples, one per progress line, and a run that leaves nothing behind', async () => {
    const be = new CpuBackend();
    const model = createModel(be, { arch: 'resnet18', inChannels: 1, numClasses: 2, width: 4 }, { seed: 3 });
    const clean = { images: randomArray(4 * 144, 7, 0, 1), labels: Int32Array.from([0, 1, 0, 1]), n: 4, c: 1, h: 12, w: 12, numClasses: 2 };
    const lines: string[] = [];
    const { report } = await purifyModel(be, model, clean, { method: 'awm', seed: 1, awm: { outer: 3, inner: 1, batchSize: 4, augmentCopies: 0 } }, { log: (l) => lines.push(l) });
    const memory = report.memory!;
    expect(memory.samples.map((s) => s.at)).toEqual(['start', 'AWM: 4', 'round 1/3', 'round 2/3', 'round 3/3', 'end']);
    // The masks are folded into the weights by the end: as many storages live as at the start (the model's own).
    expect(memory.liveStoragesEnd).toBe(memory.liveStoragesStart);
    const rounds = memory.samples.filter((s) => s.at.startsWith('round')).map((s) => s.liveStorages);
    expect(new Set(rounds).size).toBe(1);
    expect(rounds[0]).toBeGreaterThan(memory.liveStoragesStart);
    expect(lines.filter((l) => l.startsWith('round'))).toHaveLength(3);
    model.dispose();
    expect(be.liveStorages()).toBe(0);
  });
});
