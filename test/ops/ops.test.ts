/**
 * Forward values of representative ops on the float32 CPU backend against hand-computed numbers,
 * the error messages for bad shapes, PyTorch's batch-norm running statistics, bilinear resizing
 * and the determinism of seeded generators.
 */
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../src/tensor/tensor.js';
import { beginScope, endScope, tidy } from '../../src/tensor/scope.js';
import { normalAt, streamKey, uniformAt } from '../../src/tensor/counter-rng.js';
import * as ops from '../../src/ops/index.js';
import { cpu32, expectClose } from '../helpers/backends.js';

const be = cpu32;
const T = (data: number[], shape: number[]): Tensor => ops.tensor(be, data, shape);
const I = (data: number[], shape: number[]): Tensor => ops.tensor(be, Int32Array.from(data), shape);

async function check(t: Tensor, shape: number[], expected: number[], what?: string): Promise<void> {
  expect(t.shape, what).toEqual(shape);
  expectClose(await t.toArray(), expected, { what });
}

/** Runs `fn` in a scope; tensors made inside are disposed afterwards (values are awaited inside). */
async function scoped(fn: () => Promise<void>): Promise<void> {
  const before = be.liveBytes();
  const s = beginScope();
  try {
    await fn();
  } finally {
    endScope(s);
  }
  expect(be.liveBytes()).toBe(before);
}

describe('elementwise', () => {
  it('broadcasts [2, 1, 3] with [4, 1] to [2, 4, 3]', () => scoped(async () => {
    const a = T([1, 2, 3, 10, 20, 30], [2, 1, 3]);
    const b = T([100, 200, 300, 400], [4, 1]);
    const expected: number[] = [];
    for (let i = 0; i < 2; i++) for (let j = 0; j < 4; j++) for (let k = 0; k < 3; k++) expected.push([1, 2, 3, 10, 20, 30][i * 3 + k]! + (j + 1) * 100);
    await check(ops.add(a, b), [2, 4, 3], expected);
    await check(ops.sub(b, ops.tensor(be, [1], [])), [4, 1], [99, 199, 299, 399]);
  }));

  it('binary ops and scalar operands', () => scoped(async () => {
    const a = T([1, 2, 3, 4], [2, 2]);
    const b = T([2, -1], [2]);
    await check(ops.mul(a, b), [2, 2], [2, -2, 6, -4]);
    await check(ops.div(a, b), [2, 2], [0.5, -2, 1.5, -4]);
    await check(ops.pow(a, T([2, 0.5], [2])), [2, 2], [1, Math.SQRT2, 9, 2]);
    await check(ops.add(a, 1), [2, 2], [2, 3, 4, 5]);
    await check(ops.sub(a, 1), [2, 2], [0, 1, 2, 3]);
    await check(ops.mul(a, -2), [2, 2], [-2, -4, -6, -8]);
    await check(ops.div(a, 4), [2, 2], [0.25, 0.5, 0.75, 1]);
    await check(ops.pow(a, 2), [2, 2], [1, 4, 9, 16]);
    await check(ops.maximum(a, T([2.5], [1])), [2, 2], [2.5, 2.5, 3, 4]);
    await check(ops.minimum(a, 2.5), [2, 2], [1, 2, 2.5, 2.5]);
  }));

  it('unary ops', () => scoped(async () => {
    const x = T([-2, -0.5, 0, 0.5, 2], [5]);
    await check(ops.neg(x), [5], [2, 0.5, -0, -0.5, -2]);
    await check(ops.abs(x), [5], [2, 0.5, 0, 0.5, 2]);
    await check(ops.relu(x), [5], [0, 0, 0, 0.5, 2]);
    await check(ops.sign(x), [5], [-1, -1, 0, 1, 1]);
    await check(ops.step(x), [5], [0, 0, 0, 1, 1]);
    await check(ops.floor(x), [5], [-2, -1, 0, 0, 2]);
    await check(ops.square(x), [5], [4, 0.25, 0, 0.25, 4]);
    await check(ops.sigmoid(x), [5], [-2, -0.5, 0, 0.5, 2].map((v) => 1 / (1 + Math.exp(-v))));
    await check(ops.tanh(x), [5], [-2, -0.5, 0, 0.5, 2].map(Math.tanh));
    await check(ops.exp(x), [5], [-2, -0.5, 0, 0.5, 2].map(Math.exp));
    await check(ops.clamp(x, -1, 0.25), [5], [-1, -0.5, 0, 0.25, 0.25]);
    await check(ops.affine(x, 2, 1), [5], [-3, 0, 1, 2, 5]);
    const p = T([0.25, 1, 4], [3]);
    await check(ops.sqrt(p), [3], [0.5, 1, 2]);
    await check(ops.rsqrt(p), [3], [2, 1, 0.5]);
    await check(ops.log(p), [3], [Math.log(0.25), 0, Math.log(4)]);
    await check(ops.reciprocal(p), [3], [4, 1, 0.25]);
    await check(ops.powScalar(p, 1.5), [3], [0.125, 1, 8]);
  }));

  it('comparisons and where', () => scoped(async () => {
    const a = T([1, 2, 3], [3]);
    await check(ops.eq(a, 2), [3], [0, 1, 0]);
    await check(ops.ne(a, 2), [3], [1, 0, 1]);
    await check(ops.lt(a, 2), [3], [1, 0, 0]);
    await check(ops.le(a, 2), [3], [1, 1, 0]);
    await check(ops.gt(a, T([0, 5, 3], [3])), [3], [1, 0, 0]);
    await check(ops.ge(a, T([0, 5, 3], [3])), [3], [1, 0, 1]);
    const cond = T([1, 0], [2, 1]);
    await check(ops.where(cond, a, T([-1, -2, -3], [3])), [2, 3], [1, 2, 3, -1, -2, -3]);
    await check(ops.where(cond, 7, a), [2, 3], [7, 7, 7, 1, 2, 3]);
  }));

  it('names both shapes when they do not broadcast', () => scoped(async () => {
    expect(() => ops.add(T([1, 2, 3, 4, 5, 6], [2, 3]), T([1, 2, 3, 4], [4]))).toThrow(/shapes \[2, 3\] and \[4\] do not broadcast/);
    expect(() => ops.mul(T([1, 2], [2, 1]), T([1, 2, 3, 4, 5, 6], [3, 2]))).toThrow(/do not broadcast \(dimension 0: 2 vs 3\)/);
  }));
});

describe('layout', () => {
  it('reshape, flatten, unsqueeze', () => scoped(async () => {
    const x = T([1, 2, 3, 4, 5, 6], [2, 3]);
    await check(ops.reshape(x, [3, -1]), [3, 2], [1, 2, 3, 4, 5, 6]);
    await check(ops.flatten(ops.reshape(x, [1, 2, 3])), [1, 6], [1, 2, 3, 4, 5, 6]);
    expect(ops.unsqueeze(x, 1).shape).toEqual([2, 1, 3]);
    expect(ops.unsqueeze(x, -1).shape).toEqual([2, 3, 1]);
    expect(() => ops.reshape(x, [4])).toThrow(/reshape: \[2, 3\] \(6 elements\) cannot become \[4\]/);
    expect(() => ops.reshape(x, [4, -1])).toThrow(/reshape: cannot infer -1 reshaping \[2, 3\] to \[4, -1\]/);
  }));

  it('permute, transpose, expand', () => scoped(async () => {
    const x = T([1, 2, 3, 4, 5, 6], [1, 2, 3]);
    await check(ops.permute(x, [2, 0, 1]), [3, 1, 2], [1, 4, 2, 5, 3, 6]);
    await check(ops.transpose(x), [1, 3, 2], [1, 4, 2, 5, 3, 6]);
    await check(ops.expand(T([1, 2], [2, 1]), [2, 2, 3]), [2, 2, 3], [1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2]);
    expect(() => ops.permute(x, [0, 0, 1])).toThrow(/permute: repeated dims/);
    expect(() => ops.expand(T([1, 2, 3], [3]), [4])).toThrow(/expand: cannot expand \[3\] to \[4\]/);
    expect(() => ops.expand(T([1, 2, 3, 4], [2, 2]), [2])).toThrow(/expand: cannot expand \[2, 2\] to \[2\]/);
    expect(() => ops.unsqueeze(x, 4)).toThrow(/axis 4 is out of range for rank 4/);
    expect(ops.unsqueeze(x, 3).shape).toEqual([1, 2, 3, 1]);
    expect(() => ops.permute(x, [0, 1])).toThrow(/permute: 2 dims for a tensor of rank 3/);
  }));

  it('slice (negative and clamped indices), concat and pad', () => scoped(async () => {
    const x = T([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [3, 4]);
    await check(ops.slice(x, [[-2, 3], [1, -1]]), [2, 2], [5, 6, 9, 10]);
    await check(ops.slice(x, [null, [2, 99]]), [3, 2], [2, 3, 6, 7, 10, 11]);
    await check(ops.slice(x, [[-99, 1]]), [1, 4], [0, 1, 2, 3]);
    await check(ops.concat([T([1, 2], [2, 1]), T([3, 4, 5, 6], [2, 2])], 1), [2, 3], [1, 3, 4, 2, 5, 6]);
    await check(ops.concat([T([1, 2], [1, 2]), T([3, 4], [1, 2])], 0), [2, 2], [1, 2, 3, 4]);
    expect(() => ops.concat([T([1, 2], [1, 2]), T([3, 4, 5], [1, 3])], 0)).toThrow(/concat: shapes \[1, 2\], \[1, 3\] differ outside axis 0/);
    await check(ops.pad(T([1, 2], [1, 2]), [[1, 0], [0, 1]], 9), [2, 3], [9, 9, 9, 1, 2, 9]);
    expect(() => ops.pad(T([1], [1]), [[-1, 0]])).toThrow(/pad: amounts must be non-negative integers/);
  }));
});

describe('reductions', () => {
  const x = (): Tensor => T([1, 5, 2, 8, 3, 3, -1, 0, 4, 6, 7, -2], [2, 3, 2]);
  it('sum, mean, max, min, argmax with keepDim', () => scoped(async () => {
    await check(ops.sum(x()), [], [36]);
    await check(ops.sum(x(), 1), [2, 2], [6, 16, 10, 4]);
    await check(ops.sum(x(), [0, 2], true), [1, 3, 1], [5, 20, 11]);
    await check(ops.mean(x(), -1), [2, 3], [3, 5, 3, -0.5, 5, 2.5]);
    await check(ops.max(x(), 1, true), [2, 1, 2], [3, 8, 7, 6]);
    await check(ops.min(x(), [0, 1]), [2], [-1, -2]);
    const am = ops.argmax(x(), 1);
    expect(am.dtype).toBe('int32');
    await check(am, [2, 2], [2, 1, 2, 1]);
    // The first maximum wins.
    await check(ops.argmax(T([1, 3, 3, 0], [4])), [], [1]);
    expect(() => ops.sum(x(), 3)).toThrow(/axis 3 is out of range for rank 3/);
  }));

  it('normL1, normL2 and globalAvgPool2d', () => scoped(async () => {
    const v = T([3, -4, 0, 12], [2, 2]);
    await check(ops.normL1(v), [], [19]);
    await check(ops.normL2(v, 1), [2], [5, 12]);
    await check(ops.globalAvgPool2d(T([1, 2, 3, 4, 10, 20, 30, 40], [1, 2, 2, 2])), [1, 2], [2.5, 25]);
  }));
});

describe('matmul', () => {
  it('2-D, batched with broadcasting, and vectors', () => scoped(async () => {
    const a = T([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = T([7, 8, 9, 10, 11, 12], [3, 2]);
    await check(ops.matmul(a, b), [2, 2], [58, 64, 139, 154]);
    const batch = T([1, 0, 0, 1, 2, 0, 0, 2], [2, 1, 2, 2]);
    const m = T([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [3, 2, 2]);
    const out = ops.matmul(batch, m);
    expect(out.shape).toEqual([2, 3, 2, 2]);
    const mv = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    await check(out, [2, 3, 2, 2], [...mv, ...mv.map((v) => 2 * v)]);
    await check(ops.matmul(T([1, 2, 3], [3]), b), [2], [58, 64]);
    await check(ops.matmul(a, T([1, 0, -1], [3])), [2], [-2, -2]);
    await check(ops.matmul(T([1, 2, 3], [3]), T([4, 5, 6], [3])), [], [32]);
  }));

  it('names both shapes when the inner dimensions differ', () => scoped(async () => {
    expect(() => ops.matmul(T([1, 2, 3, 4, 5, 6], [2, 3]), T([1, 2, 3, 4, 5, 6, 7, 8], [4, 2]))).toThrow(/matmul: inner dimensions differ: \[2, 3\] @ \[4, 2\]/);
    expect(() => ops.matmul(T([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2]), T(new Array(12).fill(0), [3, 2, 2]))).toThrow(/do not broadcast/);
    expect(() => ops.matmul(ops.scalar(be, 1), T([1], [1]))).toThrow(/scalars are not matrices/);
  }));
});

describe('conv2d and pooling', () => {
  const x = (): Tensor => T([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
  const w = (): Tensor => T([1, 0, 0, 1], [1, 1, 2, 2]);
  it('conv2d with bias, stride and padding', () => scoped(async () => {
    await check(ops.conv2d(x(), w(), T([0.5], [1])), [1, 1, 2, 2], [6.5, 8.5, 12.5, 14.5]);
    await check(ops.conv2d(x(), w(), T([0.5], [1]), { stride: 2, padding: 1 }), [1, 1, 2, 2], [1.5, 3.5, 7.5, 14.5]);
    // Two input channels summed, two output channels.
    const x2 = T([1, 2, 3, 4, 10, 20, 30, 40], [1, 2, 2, 2]);
    const w2 = T([1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0], [2, 2, 2, 2]);
    await check(ops.conv2d(x2, w2), [1, 2, 1, 1], [41, 12]);
  }));

  it('conv2d shape errors', () => scoped(async () => {
    const x3 = ops.zeros(be, [1, 3, 4, 4]);
    expect(() => ops.conv2d(x3, ops.zeros(be, [2, 2, 3, 3]))).toThrow(/conv2d: input has 3 channels but the weight \[2, 2, 3, 3\] expects 2/);
    expect(() => ops.conv2d(x3, ops.zeros(be, [2, 3, 3, 3]), ops.zeros(be, [3]))).toThrow(/conv2d: bias must have shape \[2\], got \[3\]/);
    expect(() => ops.conv2d(x3, ops.zeros(be, [2, 3, 5, 5]))).toThrow(/conv2d: a 5x5 kernel does not fit an input of 4x4/);
    expect(() => ops.conv2d(ops.zeros(be, [3, 4, 4]), ops.zeros(be, [2, 3, 3, 3]))).toThrow(/conv2d: input must be NCHW \(rank 4\), got \[3, 4, 4\]/);
  }));

  it('max and average pooling, with and without counting padding', () => scoped(async () => {
    const img = T([1, 5, 2, 0, 3, 4, 8, 1, 0, 2, 6, 7, 9, 1, 3, 2], [1, 1, 4, 4]);
    await check(ops.maxPool2d(img, { kernel: 2 }), [1, 1, 2, 2], [5, 8, 9, 7]);
    await check(ops.avgPool2d(img, { kernel: 2 }), [1, 1, 2, 2], [13 / 4, 11 / 4, 12 / 4, 18 / 4]);
    await check(ops.maxPool2d(img, { kernel: 3, stride: 2, padding: 1 }), [1, 1, 2, 2], [5, 8, 9, 8]);
    const small = T([1, 2, 3, 4], [1, 1, 2, 2]);
    await check(ops.avgPool2d(small, { kernel: 2, stride: 1, padding: 1 }), [1, 1, 3, 3], [0.25, 0.75, 0.5, 1, 2.5, 1.5, 0.75, 1.75, 1]);
    await check(ops.avgPool2d(small, { kernel: 2, stride: 1, padding: 1, countIncludePad: false }), [1, 1, 3, 3], [1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4]);
    expect(() => ops.maxPool2d(small, { kernel: 2, padding: 2 })).toThrow(/padding must be at most half the kernel size/);
    expect(() => ops.avgPool2d(T([1], [1, 1]), { kernel: 2 })).toThrow(/avgPool2d: input must be NCHW/);
  }));
});

describe('softmax and losses', () => {
  it('softmax and logSoftmax along the last axis', () => scoped(async () => {
    const x = T([1, 2, 3, 0, 0, 0], [2, 3]);
    const z = Math.exp(1) + Math.exp(2) + Math.exp(3);
    await check(ops.softmax(x), [2, 3], [Math.exp(1) / z, Math.exp(2) / z, Math.exp(3) / z, 1 / 3, 1 / 3, 1 / 3]);
    await check(ops.logSoftmax(x), [2, 3], [1 - Math.log(z), 2 - Math.log(z), 3 - Math.log(z), -Math.log(3), -Math.log(3), -Math.log(3)]);
    // Large logits stay finite.
    await check(ops.softmax(T([1000, 1000], [2])), [2], [0.5, 0.5]);
    expect(() => ops.softmax(x, 0)).toThrow(/softmax: only the last axis is supported/);
  }));

  it('crossEntropy with each reduction', () => scoped(async () => {
    const logits = T([1, 2, 3, 1, 1, 1], [2, 3]);
    const labels = I([2, 0], [2]);
    const row0 = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)) - 3;
    const row1 = Math.log(3);
    await check(ops.crossEntropy(logits, labels, 'none'), [2], [row0, row1]);
    await check(ops.crossEntropy(logits, labels, 'sum'), [], [row0 + row1]);
    await check(ops.crossEntropy(logits, labels), [], [(row0 + row1) / 2]);
    // Out-of-range labels give NaN, never a read out of bounds.
    const bad = await ops.crossEntropy(logits, I([3, 0], [2]), 'none').toArray();
    expect(bad[0]).toBeNaN();
    expect(bad[1]).toBeCloseTo(row1, 6);
  }));

  it('crossEntropy shape and dtype errors', () => scoped(async () => {
    const logits = T([1, 2, 3, 1, 1, 1], [2, 3]);
    expect(() => ops.crossEntropy(logits, I([0, 1, 2], [3]))).toThrow(/crossEntropy: labels must have shape \[2\], got \[3\]/);
    expect(() => ops.crossEntropy(logits, I([0, 1], [2, 1]))).toThrow(/labels must have shape \[2\], got \[2, 1\]/);
    expect(() => ops.crossEntropy(logits, T([0, 1], [2]))).toThrow(/labels must be an int32 tensor/);
    expect(() => ops.crossEntropy(T([1, 2, 3], [3]), I([0], [1]))).toThrow(/logits must be \[N, C\], got \[3\]/);
  }));

  it('gather and oneHot', () => scoped(async () => {
    const x = T([1, 2, 3, 4, 5, 6], [2, 3]);
    await check(ops.gather(x, 1, I([2, 0, 1, 1], [2, 2])), [2, 2], [3, 1, 5, 5]);
    await check(ops.gather(x, 0, I([1, 0, 1], [1, 3])), [1, 3], [4, 2, 6]);
    await check(ops.oneHot(I([2, 0], [2]), 3), [2, 3], [0, 0, 1, 1, 0, 0]);
    expect(() => ops.gather(x, 1, I([0, 0, 0], [3, 1]))).toThrow(/gather: index shape \[3, 1\] must match input \[2, 3\] except along axis 1/);
    expect(() => ops.gather(x, 1, T([0, 0], [2, 1]))).toThrow(/index must be int32/);
  }));
});

describe('batchNorm', () => {
  // x [N=2, C=2, H=1, W=2]; channel 0 holds 1, 2, 3, 6 and channel 1 holds 0, -1, 2, 3.
  const xData = [1, 2, 0, -1, 3, 6, 2, 3];
  const channel = (c: number): number[] => [0, 1].flatMap((n) => [0, 1].map((w) => xData[(n * 2 + c) * 2 + w]!));

  it('train mode normalises with the biased variance and updates running stats like PyTorch', () => scoped(async () => {
    const weight = [2, 1];
    const bias = [0, 1];
    const rm0 = [0.5, -0.5];
    const rv0 = [2, 1];
    const running = { mean: T(rm0, [2]), var: T(rv0, [2]) };
    const y = ops.batchNorm(T(xData, [2, 2, 1, 2]), T(weight, [2]), T(bias, [2]), running, { training: true });

    // By hand: channel 0 mean 3, squared deviations 4+1+0+9 = 14; channel 1 mean 1, 1+4+1+4 = 10.
    const means = [3, 1];
    const sq = [14, 10];
    const biased = sq.map((s) => s / 4);
    const unbiased = sq.map((s) => s / 3);
    const expected = xData.map((v, i) => {
      const c = Math.floor(i / 2) % 2;
      return (weight[c]! * (v - means[c]!)) / Math.sqrt(biased[c]! + 1e-5) + bias[c]!;
    });
    await check(y, [2, 2, 1, 2], expected);
    // running = (1 - 0.1) * running + 0.1 * batch, with the unbiased variance.
    await check(running.mean, [2], [0.9 * 0.5 + 0.1 * 3, 0.9 * -0.5 + 0.1 * 1], 'running mean');
    await check(running.var, [2], [0.9 * 2 + (0.1 * 14) / 3, 0.9 * 1 + (0.1 * 10) / 3], 'running var');
    expect(channel(0)).toEqual([1, 2, 3, 6]);
    expect(unbiased[0]).toBeCloseTo(14 / 3, 12);

    // A second step with another momentum compounds from the updated values.
    const m1 = [0.75, -0.35];
    const v1 = [1.8 + 1.4 / 3, 0.9 + 1 / 3];
    ops.batchNorm(T(xData, [2, 2, 1, 2]), null, null, running, { training: true, momentum: 0.5 });
    await check(running.mean, [2], [0.5 * m1[0]! + 0.5 * 3, 0.5 * m1[1]! + 0.5 * 1], 'running mean, step 2');
    await check(running.var, [2], [0.5 * v1[0]! + 0.5 * (14 / 3), 0.5 * v1[1]! + 0.5 * (10 / 3)], 'running var, step 2');
  }));

  it('eval mode uses the running statistics and leaves them alone', () => scoped(async () => {
    const running = { mean: T([1, -1], [2]), var: T([4, 0.25], [2]) };
    const y = ops.batchNorm(T(xData, [2, 2, 1, 2]), T([2, 1], [2]), T([0, 1], [2]), running, { training: false, eps: 0 });
    const expected = xData.map((v, i) => {
      const c = Math.floor(i / 2) % 2;
      return c === 0 ? (2 * (v - 1)) / 2 : (v + 1) / 0.5 + 1;
    });
    await check(y, [2, 2, 1, 2], expected);
    await check(running.mean, [2], [1, -1]);
    await check(running.var, [2], [4, 0.25]);
  }));

  it('NC inputs and shape errors', () => scoped(async () => {
    const y = ops.batchNorm(T([1, 10, 3, 30], [2, 2]), null, null, null, { training: true, eps: 0 });
    await check(y, [2, 2], [-1, -1, 1, 1]);
    expect(() => ops.batchNorm(T([1, 2, 3], [3]), null, null, null, { training: true })).toThrow(/batchNorm: input must be \[N, C, H, W\] or \[N, C\], got \[3\]/);
    expect(() => ops.batchNorm(T([1, 2, 3, 4], [2, 2]), T([1, 1, 1], [3]), null, null, { training: true })).toThrow(/batchNorm: weight must have shape \[2\], got \[3\]/);
    expect(() => ops.batchNorm(T([1, 2], [1, 2]), null, null, null, { training: true })).toThrow(/more than one value per channel/);
    expect(() => ops.batchNorm(T([1, 2, 3, 4], [2, 2]), null, null, null, { training: false })).toThrow(/eval mode needs running statistics/);
  }));
});

describe('sampling', () => {
  it('resizeBilinear 2x2 -> 4x4 matches F.interpolate(align_corners=False)', () => scoped(async () => {
    const out = ops.resizeBilinear(T([1, 2, 3, 4], [1, 1, 2, 2]), 4, 4);
    await check(out, [1, 1, 4, 4], [
      1, 1.25, 1.75, 2,
      1.5, 1.75, 2.25, 2.5,
      2.5, 2.75, 3.25, 3.5,
      3, 3.25, 3.75, 4,
    ]);
  }));

  it('resizeBilinear 4x4 -> 2x2 averages 2x2 blocks; same size is the identity', () => scoped(async () => {
    const x = T(Array.from({ length: 32 }, (_, i) => i), [1, 2, 4, 4]);
    await check(ops.resizeBilinear(x, 2, 2), [1, 2, 2, 2], [2.5, 4.5, 10.5, 12.5, 18.5, 20.5, 26.5, 28.5]);
    await check(ops.resizeBilinear(x, 4, 4), [1, 2, 4, 4], Array.from({ length: 32 }, (_, i) => i));
    // Rows only: 2 -> 3 with widths unchanged; source rows at -1/6 (clamped to 0), 0.5, 7/6 (clamped to 1).
    await check(ops.resizeBilinear(T([0, 10, 6, 20], [1, 1, 2, 2]), 3, 2), [1, 1, 3, 2], [0, 10, 3, 15, 6, 20]);
    expect(() => ops.resizeBilinear(T([1], [1]), 2, 2)).toThrow(/resizeBilinear: input must be NCHW/);
  }));

  it('gridSample: an identity grid returns the input; out-of-range points read zeros or the border', () => scoped(async () => {
    const x = T([1, 2, 3, 4, 5, 6], [1, 1, 2, 3]);
    const identity = T([-1, -1, 0, -1, 1, -1, -1, 1, 0, 1, 1, 1], [1, 2, 3, 2]);
    await check(ops.gridSample(x, identity, { alignCorners: true }), [1, 1, 2, 3], [1, 2, 3, 4, 5, 6]);
    const outside = T([-3, 0, 3, 0], [1, 1, 2, 2]);
    // y = 0 with alignCorners is halfway between the rows: (1+4)/2 and (3+6)/2 at the border.
    await check(ops.gridSample(x, outside, { alignCorners: true, padding: 'border' }), [1, 1, 1, 2], [2.5, 4.5]);
    await check(ops.gridSample(x, outside, { alignCorners: true, padding: 'zeros' }), [1, 1, 1, 2], [0, 0]);
    expect(() => ops.gridSample(x, T([0, 0, 0], [1, 1, 1, 3]))).toThrow(/gridSample: grid must be \[1, outH, outW, 2\], got \[1, 1, 1, 3\]/);
  }));
});

describe('creation and Generator', () => {
  it('tensor(), full() and shape checks', () => scoped(async () => {
    await check(ops.full(be, [2, 2], 3), [2, 2], [3, 3, 3, 3]);
    expect(ops.tensor(be, Int32Array.from([1, 2]), [2]).dtype).toBe('int32');
    expect(ops.tensor(be, [1, 2], [2], { dtype: 'int32' }).dtype).toBe('int32');
    expect(() => ops.tensor(be, [1, 2, 3], [2, 2])).toThrow(/tensor\(\): 3 values do not fill shape \[2, 2\] \(4 elements\)/);
    expect(() => ops.zeros(be, [2, -1])).toThrow(/non-negative integers/);
  }));

  it('rand/randn follow the counter-based stream', () => scoped(async () => {
    const key = streamKey(42);
    expectClose(await ops.rand(be, [5], 42, 3).toArray(), Array.from({ length: 5 }, (_, i) => uniformAt(key, 3 + i)));
    expectClose(await ops.randn(be, [4], 42).toArray(), Array.from({ length: 4 }, (_, i) => normalAt(key, i)));
  }));

  it('a Generator is deterministic per seed and advances through its stream', () => scoped(async () => {
    const draw = async (seed: number): Promise<number[][]> => {
      const g = new ops.Generator(be, seed);
      const out: number[][] = [];
      out.push(await g.uniform([3]).toArray());
      out.push(await g.normal([2, 2]).toArray());
      out.push(await g.uniform([2]).toArray());
      out.push(await g.permutation(6).toArray());
      out.push(await g.permutation(6).toArray());
      out.push(await g.normal([3]).toArray());
      return out;
    };
    const a = await draw(7);
    const b = await draw(7);
    const c = await draw(8);
    expect(a).toEqual(b);
    expect(a[0]).not.toEqual(c[0]);
    // Successive uniform draws continue the stream: together they equal one draw of five.
    expect([...a[0]!, ...a[2]!]).toEqual(await ops.rand(be, [5], 7).toArray());
    // Successive normal draws likewise, on a stream of their own.
    const normals = await ops.randn(be, [7], (7 ^ 0x5bd1e995) >>> 0).toArray();
    expect([...a[1]!, ...a[5]!]).toEqual(normals);
    for (const u of [...a[0]!, ...a[2]!]) expect(u >= 0 && u < 1).toBe(true);
    // Permutations are permutations, and two successive ones differ.
    expect([...a[3]!].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect([...a[4]!].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(a[3]).not.toEqual(a[4]);
  }));

  it('tidy around creation frees everything', () => {
    const before = be.liveBytes();
    tidy(() => {
      const g = new ops.Generator(be, 1);
      ops.add(g.uniform([10]), g.normal([10]));
    });
    expect(be.liveBytes()).toBe(before);
  });
});
