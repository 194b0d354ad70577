import { describe, expect, it } from 'vitest';
import { attackPreset, pgdAttack, poisonCleanLabel, selectBackdoorSets, type Classifier } from '../../src/attacks/index.js';
import { noGrad } from '../../src/autograd/engine.js';
import { CpuBackend } from '../../src/backends/cpu/index.js';
import { matmul, reshape, tensor } from '../../src/ops/index.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { toyDataset } from './helpers.js';

const cpu = new CpuBackend({ precision: 'float32' });
const D = 64; // 1x8x8 images

/** A fixed linear two-class model: logits = flatten(x) W, W [D, 2]. */
function linearModel(seed: number): { classifier: Classifier; w: Float32Array } {
  const w = Float32Array.from({ length: D * 2 }, (_, i) => Math.sin(seed + i * 1.7));
  const weight = tensor(cpu, w, [D, 2]);
  return { classifier: (x: Tensor) => matmul(reshape(x, [x.shape[0]!, D]), weight), w };
}

describe('PGD', () => {
  it('ascends the true-label loss by signed steps inside the L-inf ball and [0, 1]', async () => {
    const { classifier, w } = linearModel(1);
    const x0 = Float32Array.from({ length: 2 * D }, (_, i) => (i * 37) % 101 / 100);
    const x = tensor(cpu, x0, [2, 1, 8, 8]);
    const y = tensor(cpu, Int32Array.from([0, 1]), [2], { dtype: 'int32' });
    const adv = pgdAttack(classifier, x, y, { eps: 0.1, steps: 4, stepSize: 0.03 });
    const out = await adv.data();
    // With two classes the input gradient of CE is p(other) (W_other - W_label): its sign never changes,
    // so after 4 steps of 0.03 each pixel sits at the ball's edge, clipped to [0, 1].
    for (let n = 0; n < 2; n++) {
      for (let d = 0; d < D; d++) {
        const dir = Math.sign(n === 0 ? w[d * 2 + 1]! - w[d * 2]! : w[d * 2]! - w[d * 2 + 1]!);
        const expected = Math.min(Math.max(x0[n * D + d]! + 0.1 * dir, 0), 1);
        expect(out[n * D + d]).toBeCloseTo(expected, 5);
      }
    }
    expect(x.disposed).toBe(false);
    expect(() => noGrad(() => pgdAttack(classifier, x, y, { eps: 0.1, steps: 1, stepSize: 0.1 }))).toThrow(/inside noGrad/);
  });
});

describe('clean-label poisoning', () => {
  it('perturbs 80 % of the target class within 16/255, adds the corner trigger and keeps every label', async () => {
    const labels = Array.from({ length: 20 }, (_, i) => i % 2);
    const ds = toyDataset(labels, 2, 1, 8, 8);
    const spec = attackPreset('clb');
    const { classifier } = linearModel(2);
    const { dataset, poisoned } = await poisonCleanLabel(ds, spec, 4, { backend: cpu, classifier, batchSize: 3 });
    expect(poisoned).toEqual(selectBackdoorSets(labels, spec, 4)[0]);
    expect(poisoned.length).toBe(8); // round(0.8 * 10 images of class 0)
    expect(Array.from(poisoned).every((i) => labels[i] === 0)).toBe(true);
    expect(dataset.labels).toEqual(ds.labels);
    const corners = new Map<number, number>();
    for (const [r0, c0] of [[0, 0], [0, 5], [5, 0], [5, 5]] as const) {
      for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) corners.set((r0 + r) * 8 + c0 + c, (r + c) % 2 === 0 ? 255 : 0);
    }
    let moved = 0;
    for (let i = 0; i < 20; i++) {
      for (let j = 0; j < D; j++) {
        const before = ds.images[i * D + j]!;
        const after = dataset.images[i * D + j]!;
        if (!poisoned.includes(i)) expect(after).toBe(before);
        else if (corners.has(j)) expect(after).toBe(corners.get(j));
        else {
          expect(Math.abs(after - before)).toBeLessThanOrEqual(16);
          if (after !== before) moved++;
        }
      }
    }
    expect(moved).toBeGreaterThan(0);
  });
});
