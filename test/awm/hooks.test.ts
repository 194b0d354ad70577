/**
 * runAwm's progress hooks: onMaskStep fires every `maskStepEvery` mask steps and at the end of each
 * round with the step's loss terms and, on request, per-layer mask-gradient norms (the browser
 * page's gradient-flow view); onRound fires once per round with the recovered trigger.
 */
import { describe, expect, it } from 'vitest';
import { createModel } from '../../src/nn/index.js';
import { runAwm, type AwmMaskStepInfo } from '../../src/awm/awm.js';
import { cpu32, randomArray } from '../helpers/backends.js';

describe('runAwm hooks', () => {
  it('reports mask steps, loss terms, gradient norms per layer and one trigger per round', async () => {
    const model = createModel(cpu32, { arch: 'resnet18', inChannels: 1, numClasses: 3, width: 4 }, { seed: 2 });
    const n = 6;
    const set = { images: randomArray(n * 8 * 8, 9, 0, 1), labels: Int32Array.from([0, 1, 2, 0, 1, 2]), n, c: 1, h: 8, w: 8, numClasses: 3 };
    const steps: AwmMaskStepInfo[] = [];
    const triggers: number[] = [];
    const result = await runAwm(model, cpu32, set, { outer: 2, inner: 3, batchSize: 4, alpha: 0.9, gamma: 1e-8, tau: 5, triggerLr: 10, maskLr: 0.01, lrDecay: 1, seed: 1 }, {
      maskStepEvery: 2,
      maskGradNorms: true,
      onMaskStep: (info) => {
        steps.push(info);
      },
      onRound: (s) => {
        triggers.push(s.trigger.length);
      },
    });
    expect(result.stepsPerPhase).toBe(3);
    // Steps 2 and 3 (the round's last) of each of the two rounds.
    expect(steps.map((s) => [s.round, s.step])).toEqual([[1, 2], [1, 3], [2, 2], [2, 3]]);
    for (const s of steps) {
      expect(s.loss).toBeCloseTo(0.9 * s.cleanLoss + 0.1 * s.triggeredLoss + 1e-8 * s.maskL1, 5);
      expect(s.gradNorms).toHaveLength(20);
      expect(s.gradNorms![0]!.layer).toBe('conv1');
      expect(s.gradNorms!.every((g) => Number.isFinite(g.norm) && g.norm >= 0)).toBe(true);
    }
    expect(triggers).toEqual([64, 64]);
    model.dispose();
  });
});
