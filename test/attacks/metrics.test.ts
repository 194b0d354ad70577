import { describe, expect, it } from 'vitest';
import { attackPreset, der, evaluateBackdoor, parseAttackSpec, type Predictor } from '../../src/attacks/index.js';
import type { ImageDataset } from '../../src/data/dataset.js';

/**
 * 8 test images of 1x4x4: pixel (0, 0) holds the image id, the rest 128. The fake model reads the id
 * and looks its answer up: one table for clean images, one when the bottom-right pixel is white
 * (BadNets' trigger), one when the top-right pixel is white.
 */
const labels = [0, 1, 2, 0, 1, 2, 1, 2];
const testSet: ImageDataset = {
  images: Uint8Array.from({ length: 128 }, (_, k) => (k % 16 === 0 ? k / 16 : 128)),
  labels: Int32Array.from(labels),
  n: 8,
  c: 1,
  h: 4,
  w: 4,
  numClasses: 3,
};
const cleanPred = [0, 1, 1, 0, 1, 2, 0, 2];
const bottomRightPred = [0, 0, 0, 1, 1, 0, 0, 2];
const topRightPred = labels.map((y, id) => (id % 2 === 0 ? 1 : y));

const calls: number[] = [];
const predict: Predictor = async (images, n) => {
  calls.push(n);
  return Int32Array.from({ length: n }, (_, i) => {
    const id = Math.round(images[i * 16]! * 255);
    if (images[i * 16 + 15] === 1) return bottomRightPred[id]!;
    if (images[i * 16 + 3] === 1) return topRightPred[id]!;
    return cleanPred[id]!;
  });
};

describe('evaluateBackdoor', () => {
  it('one backdoor: clean accuracy, ASR without and with target-class images, robust accuracy', async () => {
    calls.length = 0;
    const m = await evaluateBackdoor(predict, testSet, attackPreset('badnets'), { batchSize: 3 });
    // Clean: ids 2 and 6 wrong. Triggered, target 0: non-target ids 1 2 4 5 6 7; hits 1 2 5 6; ids 0 3 are class 0 (id 0 hit).
    expect(m).toEqual({
      n: 8,
      cleanAccuracy: 6 / 8,
      asr: 4 / 6,
      asrAll: 5 / 8,
      robustAccuracy: 2 / 6,
      // Of the non-target ids, 1 4 5 7 are right when clean and the trigger sends 1 and 5 to 0; id 6 is called 0 with no trigger.
      asrOfCorrect: 2 / 4,
      cleanToTarget: 1 / 6,
      perBackdoor: [{ target: 0, asr: 4 / 6, asrAll: 5 / 8, robustAccuracy: 2 / 6, asrOfCorrect: 2 / 4, cleanToTarget: 1 / 6, nonTarget: 6 }],
    });
    expect(calls).toEqual([3, 3, 3, 3, 2, 2]); // one pass: clean and triggered per batch
  });

  it('all-to-all: the target is (y + 1) mod C, so every image counts', async () => {
    const m = await evaluateBackdoor(predict, testSet, attackPreset('badnets', { allToAll: true }));
    // Targets 1 2 0 1 2 0 2 0; predictions 0 0 0 1 1 0 0 2 hit at ids 2 3 5; true labels kept at ids 0 4 7.
    // Right when clean: ids 0 1 3 4 5 7, of which 3 and 5 hit; no clean prediction equals its target.
    expect(m.perBackdoor).toEqual([{ target: null, asr: 3 / 8, asrAll: 3 / 8, robustAccuracy: 3 / 8, asrOfCorrect: 2 / 6, cleanToTarget: 0, nonTarget: 8 }]);
  });

  it('multiple backdoors: per-trigger rates and their mean', async () => {
    const pixel = (corner: string) => ({ type: 'patch', height: 1, width: 1, position: { corner }, values: [1] });
    const spec = parseAttackSpec({
      name: 'two',
      backdoors: [
        { trigger: pixel('bottom-right'), label: { type: 'all-to-one', target: 0 }, poison: { rate: 0.1 } },
        { trigger: pixel('top-right'), label: { type: 'all-to-one', target: 1 }, poison: { rate: 0.1 } },
      ],
    });
    const m = await evaluateBackdoor(predict, testSet, spec, { batchSize: 5 });
    expect(m.perBackdoor[0]).toEqual({ target: 0, asr: 4 / 6, asrAll: 5 / 8, robustAccuracy: 2 / 6, asrOfCorrect: 2 / 4, cleanToTarget: 1 / 6, nonTarget: 6 });
    // Target 1: non-target ids 0 2 3 5 7; even ids predict 1 (hits 0 2); odd ids keep their label (3 5 7 robust, 1 hits in asrAll).
    // Right when clean: ids 0 3 5 7, of which 0 hits; id 2 is called 1 with no trigger.
    expect(m.perBackdoor[1]).toEqual({ target: 1, asr: 2 / 5, asrAll: 5 / 8, robustAccuracy: 3 / 5, asrOfCorrect: 1 / 4, cleanToTarget: 1 / 5, nonTarget: 5 });
    expect(m.asrOfCorrect).toBeCloseTo((2 / 4 + 1 / 4) / 2, 12);
    expect(m.cleanToTarget).toBeCloseTo((1 / 6 + 1 / 5) / 2, 12);
    expect(m.asr).toBeCloseTo((4 / 6 + 2 / 5) / 2, 12);
    expect(m.asrAll).toBeCloseTo(5 / 8, 12);
    expect(m.robustAccuracy).toBeCloseTo((2 / 6 + 3 / 5) / 2, 12);
    expect(m.cleanAccuracy).toBe(6 / 8);
  });

  it('rejects a predictor that answers for the wrong number of images', async () => {
    await expect(evaluateBackdoor(async () => new Int32Array(1), testSet, attackPreset('badnets'))).rejects.toThrow(/returned 1 classes for 8 images/);
  });
});

describe('der', () => {
  it('is (max(0, dASR) - max(0, dACC) + 1) / 2', () => {
    expect(der({ cleanAccuracy: 0.9, asr: 0.95 }, { cleanAccuracy: 0.85, asr: 0.05 })).toBeCloseTo(0.925, 12);
    expect(der({ cleanAccuracy: 0.8, asr: 0.4 }, { cleanAccuracy: 0.82, asr: 0.5 })).toBe(0.5);
    expect(der({ cleanAccuracy: 0.9, asr: 1 }, { cleanAccuracy: 0.9, asr: 0 })).toBe(1);
    expect(der({ cleanAccuracy: 0.9, asr: 0.9, asrAll: 0.91 }, { cleanAccuracy: 0.7, asr: 0.1, asrAll: 0.2 }, 'asrAll')).toBeCloseTo((0.71 - 0.2 + 1) / 2, 12);
    expect(() => der({ cleanAccuracy: 1, asr: 1 }, { cleanAccuracy: 1, asr: 0 }, 'asrAll')).toThrow(/asrAll is missing/);
  });
});
