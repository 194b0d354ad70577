/**
 * AWM+'s head calibration (src/awm/head-calibration.ts): the bias fit recovers a planted per-class logit
 * offset, leaves matched logits alone, is the optimum of its objective (gradient zero, checked by finite
 * differences of the loss), and calibrateHead writes the shift into the right layer's bias.
 */
import { describe, expect, it } from 'vitest';
import { calibrateHead, fitLogitBias, headLinear, modelLogits } from '../../src/awm/head-calibration.js';
import { teacherProbabilities } from '../../src/awm/awm-plus.js';
import { createModel } from '../../src/nn/index.js';
import { cpu32, randomArray } from '../helpers/backends.js';

function softmaxRows(z: Float32Array, n: number, k: number): Float32Array {
  const p = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    const row = Array.from(z.subarray(i * k, (i + 1) * k));
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    e.forEach((v, c) => { p[i * k + c] = v / s; });
  }
  return p;
}

/** Mean cross-entropy of softmax(z + b) to p, in float64. */
function loss(z: Float32Array, p: Float32Array, n: number, k: number, b: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < n; i++) {
    const row = Array.from({ length: k }, (_, c) => z[i * k + c]! + b[c]!);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    for (let c = 0; c < k; c++) total -= p[i * k + c]! * (row[c]! - lse);
  }
  return total / n;
}

describe('fitLogitBias', () => {
  const n = 200;
  const k = 5;
  const teacherLogits = randomArray(n * k, 11, -3, 3);
  const teacher = softmaxRows(teacherLogits, n, k);

  it('recovers a planted per-class offset (up to the constant softmax ignores)', () => {
    const planted = [1.5, -0.5, 0, 0.25, -1.25];
    const student = teacherLogits.map((v, j) => v - planted[j % k]!);
    const fit = fitLogitBias(student, teacher, n, k, { l2: 0 });
    const mean = planted.reduce((a, b) => a + b, 0) / k;
    for (let c = 0; c < k; c++) expect(fit.shift[c]).toBeCloseTo(planted[c]! - mean, 5);
    expect(fit.shift.reduce((a, b) => a + b, 0)).toBeCloseTo(0, 10);
    expect(fit.lossAfter).toBeLessThan(fit.lossBefore);
  });

  it('leaves logits that already match the teacher alone', () => {
    const fit = fitLogitBias(teacherLogits, teacher, n, k);
    for (const v of fit.shift) expect(Math.abs(v)).toBeLessThan(1e-5);
  });

  it('stops at the minimum of the regularised loss: finite differences of it vanish there', () => {
    const student = randomArray(n * k, 12, -2, 2);
    const l2 = 0.01;
    const fit = fitLogitBias(student, teacher, n, k, { l2 });
    const f = (b: number[]) => loss(student, teacher, n, k, b) + 0.5 * l2 * b.reduce((s, v) => s + v * v, 0);
    // The fit is centred afterwards; with l2 > 0 the optimum is already centred (the gradient sums to l2 * sum(b)).
    const b = Array.from(fit.shift);
    const h = 1e-5;
    for (let c = 0; c < k; c++) {
      const up = b.slice(); up[c]! += h;
      const dn = b.slice(); dn[c]! -= h;
      expect(Math.abs((f(up) - f(dn)) / (2 * h))).toBeLessThan(1e-6);
    }
    expect(fit.lossAfter).toBeLessThan(fit.lossBefore);
  });

  it('names bad input', () => {
    expect(() => fitLogitBias(new Float32Array(6), new Float32Array(5), 2, 3)).toThrow(/expected 2x3 logits and probabilities, got 6 and 5/);
    const nan = new Float32Array(6); nan[4] = Number.NaN;
    expect(() => fitLogitBias(nan, new Float32Array(6), 2, 3)).toThrow(/non-finite logit or probability at row 1/);
    expect(() => fitLogitBias(new Float32Array(0), new Float32Array(0), 0, 3)).toThrow(/at least one image/);
  });
});

describe('calibrateHead', () => {
  it('finds the output layer of each architecture', () => {
    const resnet = createModel(cpu32, { arch: 'resnet18', inChannels: 1, numClasses: 4, width: 4 }, { seed: 1 });
    expect(headLinear(resnet)).toBe(resnet.namedModules().find(([name]) => name === 'linear')![1]);
    resnet.dispose();
    const cnn = createModel(cpu32, { arch: 'small-cnn', inChannels: 1, numClasses: 4, width: 4, inputSize: 12 }, { seed: 1 });
    expect(headLinear(cnn)).toBe(cnn.namedModules().find(([name]) => name === 'fc2')![1]);
    cnn.dispose();
  });

  it('adds the fitted shift to the head bias, bringing the model back to a teacher it drifted from', async () => {
    const model = createModel(cpu32, { arch: 'small-cnn', inChannels: 1, numClasses: 4, width: 4, inputSize: 12 }, { seed: 2 });
    const n = 24;
    const set = { images: randomArray(n * 144, 3, 0, 1), labels: Int32Array.from({ length: n }, (_, i) => i % 4), n, c: 1, h: 12, w: 12, numClasses: 4 };
    const teacher = await teacherProbabilities(model, cpu32, set);
    const head = headLinear(model);
    const original = await head.bias!.data();
    // Drift: class 2 gains 2 logits everywhere, as a mask that pulls inputs toward one class would.
    const { assign, tensor } = await import('../../src/ops/index.js');
    const drifted = Float32Array.from(original, (v, c) => v + (c === 2 ? 2 : 0));
    const t = tensor(cpu32, drifted, [4]);
    assign(head.bias!, t);
    t.dispose();
    const fit = await calibrateHead(model, cpu32, set, teacher, { l2: 0 });
    const after = await head.bias!.data();
    // The bias comes back to the original up to a constant shared by every class.
    const offset = after[0]! - original[0]!;
    for (let c = 0; c < 4; c++) expect(after[c]! - original[c]!).toBeCloseTo(offset, 4);
    expect(fit.lossAfter).toBeLessThan(fit.lossBefore);
    const z = await modelLogits(model, cpu32, set);
    const p = softmaxRows(z, n, 4);
    for (let j = 0; j < n * 4; j++) expect(p[j]).toBeCloseTo(teacher[j]!, 4);
    model.dispose();
  });
});
