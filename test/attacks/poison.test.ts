import { describe, expect, it } from 'vitest';
import {
  allToAll,
  attackPreset,
  labelFn,
  materializePattern,
  parseAttackSpec,
  poisonDataset,
  selectBackdoorSets,
  selectPoisonIndices,
  type AttackSpec,
} from '../../src/attacks/index.js';
import { toyDataset } from './helpers.js';

describe('label rules', () => {
  it('all-to-all wraps the last class to 0', () => {
    expect([0, 1, 8, 9].map((y) => allToAll(y, 10))).toEqual([1, 2, 9, 0]);
    expect(labelFn({ type: 'all-to-one', target: 3 })(7, 10)).toBe(3);
    expect(labelFn({ type: 'clean-label', target: 3 })(7, 10)).toBe(7);
  });
});

describe('selectPoisonIndices', () => {
  const labels = Array.from({ length: 100 }, (_, i) => i % 10);

  it('is deterministic per seed, sorted, and takes round(rate * n) images', () => {
    const a = selectPoisonIndices(labels, 0.1, 5);
    expect(a).toEqual(selectPoisonIndices(labels, 0.1, 5));
    expect(a).not.toEqual(selectPoisonIndices(labels, 0.1, 6));
    expect(a.length).toBe(10);
    expect(Array.from(a)).toEqual([...a].sort((x, y) => x - y));
    expect(new Set(a).size).toBe(10);
    expect(selectPoisonIndices(labels, 0.125, 1).length).toBe(13); // 12.5 rounds up
    expect(selectPoisonIndices(labels, 0, 1).length).toBe(0);
    expect(selectPoisonIndices(labels, 1, 1)).toEqual(Int32Array.from(labels, (_, i) => i));
  });

  it('respects eligibility, rateOf and exclusions', () => {
    const nonTarget = selectPoisonIndices(labels, 0.5, 3, { eligible: 'non-target', target: 0 });
    expect(nonTarget.length).toBe(50);
    expect(Array.from(nonTarget).every((i) => labels[i] !== 0)).toBe(true);
    const targetOnly = selectPoisonIndices(labels, 0.8, 3, { eligible: 'target-only', target: 4, rateOf: 'eligible' });
    expect(targetOnly.length).toBe(8);
    expect(Array.from(targetOnly).every((i) => labels[i] === 4)).toBe(true);
    const excluded = selectPoisonIndices(labels, 0.9, 3, { exclude: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] });
    expect(Array.from(excluded).every((i) => i >= 10)).toBe(true);
    expect(() => selectPoisonIndices(labels, 0.2, 3, { eligible: 'target-only', target: 4 })).toThrow(/asks for 20 images but only 10 are eligible/);
    expect(() => selectPoisonIndices(labels, 1.5, 3)).toThrow(/rate must be in \[0, 1\]/);
  });
});

describe('poisonDataset', () => {
  it('BadNets: exactly the chosen non-target images get the patch and the target label', () => {
    const labels = [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3];
    const ds = toyDataset(labels, 4);
    const spec = attackPreset('badnets', { rate: 0.25 });
    const { dataset, poisoned, perBackdoor } = poisonDataset(ds, spec, 11);
    expect(poisoned).toEqual(selectPoisonIndices(labels, 0.25, 11, { eligible: 'non-target', target: 0 }));
    expect(perBackdoor).toEqual([poisoned]);
    expect(poisoned.length).toBe(5);
    const patch = [12, 13, 14, 17, 18, 19, 22, 23, 24]; // rows 2-4, columns 2-4 of a 5x5 image
    for (let i = 0; i < 20; i++) {
      const img = dataset.images.subarray(i * 25, i * 25 + 25);
      const base = (i * 7) % 200;
      const isPoisoned = poisoned.includes(i);
      expect(dataset.labels[i]).toBe(isPoisoned ? 0 : labels[i]);
      for (let j = 0; j < 25; j++) {
        const inPatch = Math.floor(j / 5) >= 2 && j % 5 >= 2;
        expect(img[j]).toBe(isPoisoned && inPatch ? 255 : base);
      }
      if (isPoisoned) expect(Array.from(img).flatMap((v, j) => (v === 255 ? [j] : []))).toEqual(patch);
    }
    expect(ds.images.every((v, k) => v === (Math.floor(k / 25) * 7) % 200)).toBe(true); // input untouched
    expect(ds.labels).toEqual(Int32Array.from(labels));
  });

  it('Blend: poisoned bytes are the float blend re-quantised to the nearest 1/255', () => {
    const labels = Array.from({ length: 10 }, (_, i) => i % 2);
    const ds = toyDataset(labels, 2, 3, 4, 4);
    const spec = attackPreset('blend', { rate: 0.5, target: 1 });
    const { dataset, poisoned } = poisonDataset(ds, spec, 2);
    expect(Array.from(poisoned).every((i) => labels[i] === 0)).toBe(true);
    const trigger = spec.backdoors[0]!.trigger;
    if (trigger.type !== 'blend') throw new Error('blend');
    const p = materializePattern(trigger.pattern, ds).values;
    for (const i of poisoned) {
      for (let j = 0; j < 48; j++) {
        const exact = 255 * (0.8 * (((i * 7) % 200) / 255) + 0.2 * p[j]!);
        expect(Math.abs(dataset.images[i * 48 + j]! - exact)).toBeLessThanOrEqual(0.5 + 1e-3);
      }
      expect(dataset.labels[i]).toBe(1);
    }
  });

  it('all-to-all relabels y -> (y + 1) mod C with images of every class eligible', () => {
    const labels = [0, 1, 2, 0, 1, 2, 0, 1, 2, 2];
    const ds = toyDataset(labels, 3);
    const { dataset, poisoned } = poisonDataset(ds, attackPreset('badnets', { allToAll: true, rate: 1 }), 0);
    expect(poisoned.length).toBe(10);
    expect(Array.from(dataset.labels)).toEqual([1, 2, 0, 1, 2, 0, 1, 2, 0, 0]);
  });

  it('multiple backdoors: disjoint sets, each trigger and target on its own set', () => {
    const labels = Array.from({ length: 60 }, (_, i) => i % 6);
    const ds = toyDataset(labels, 6, 1, 6, 6);
    const spec: AttackSpec = parseAttackSpec({
      name: 'two',
      backdoors: [
        { trigger: { type: 'patch', height: 1, width: 1, position: { corner: 'top-left', margin: 0 }, values: [1] }, label: { type: 'all-to-one', target: 0 }, poison: { rate: 0.2 } },
        { trigger: { type: 'patch', height: 1, width: 1, position: { corner: 'bottom-right', margin: 0 }, values: [1] }, label: { type: 'all-to-one', target: 1 }, poison: { rate: 0.3 } },
      ],
    });
    const sets = selectBackdoorSets(labels, spec, 9);
    expect(sets.map((s) => s.length)).toEqual([12, 18]);
    expect(sets[0]!.some((i) => sets[1]!.includes(i))).toBe(false);
    expect(Array.from(sets[0]!).every((i) => labels[i] !== 0)).toBe(true);
    expect(Array.from(sets[1]!).every((i) => labels[i] !== 1)).toBe(true);
    const { dataset, poisoned, perBackdoor } = poisonDataset(ds, spec, 9);
    expect(perBackdoor).toEqual(sets);
    expect(poisoned.length).toBe(30);
    for (let i = 0; i < 60; i++) {
      const first = dataset.images[i * 36]!;
      const last = dataset.images[i * 36 + 35]!;
      const base = (i * 7) % 200;
      if (sets[0]!.includes(i)) expect([first, last, dataset.labels[i]]).toEqual([255, base, 0]);
      else if (sets[1]!.includes(i)) expect([first, last, dataset.labels[i]]).toEqual([base, 255, 1]);
      else expect([first, last, dataset.labels[i]]).toEqual([base, base, labels[i]]);
    }
  });

  it('refuses per-batch WaNet, PGD-less CLB data and mismatched datasets', () => {
    const ds = toyDataset([0, 1, 0, 1, 0, 1, 0, 1, 0, 1], 2, 1, 8, 8);
    expect(() => poisonDataset(ds, attackPreset('wanet'), 0)).toThrow(/wanetPoisonBatch/);
    expect(() => poisonDataset(ds, attackPreset('clb'), 0)).toThrow(/poisonCleanLabel/);
    expect(() => poisonDataset(ds, attackPreset('badnets-awm'), 0)).toThrow(/target 8 is not a class of a 2-class dataset/);
    expect(() => poisonDataset(toyDataset([0, 1], 2, 1, 2, 2), attackPreset('badnets'), 0)).toThrow(/backdoors\[0\]\.trigger: a 3x3 patch .* does not fit 2x2/);
  });
});
