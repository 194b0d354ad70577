/**
 * A finite-difference gradient check for every differentiable op, in float64 on the CPU backend
 * (see test/helpers/gradcheck.ts). Inputs are kept away from kinks (abs, relu, clamp, max ties,
 * pixel-grid lines of bilinear sampling) so central differences are exact up to rounding.
 */
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../src/tensor/tensor.js';
import * as ops from '../../src/ops/index.js';
import { detach, noGrad, record } from '../../src/autograd/engine.js';
import { cpu64 } from '../helpers/backends.js';
import { awayFrom, constant, distinct, gradcheck, input, type GradInput, type GradcheckOptions } from '../helpers/gradcheck.js';

async function check(op: string, fn: (...xs: Tensor[]) => Tensor, inputs: GradInput[], opts?: GradcheckOptions): Promise<void> {
  const r = await gradcheck(op, fn, inputs, opts);
  expect(r.worst).toBeLessThanOrEqual(1);
  expect(r.checked).toBeGreaterThan(0);
}

/** Away from zero: |x| in [0.3, 1.3) with a random sign. */
function nonZero(shape: number[], seed: number, name?: string): GradInput {
  const base = input(shape, seed, -1, 1, name);
  const data = Float64Array.from(base.data, (v) => (v < 0 ? v - 0.3 : v + 0.3));
  return { ...base, data };
}

describe('gradcheck helper', () => {
  it('passes a correct gradient and reports the op, input and element of a wrong one', async () => {
    await check('square', ops.square, [input([2, 3], 1)]);
    // A deliberately wrong gradient: the value is 3x but the graph only sees 2x (the rest is detached).
    const wrong = (x: Tensor): Tensor => ops.add(ops.mul(x, 2), detach(x));
    await expect(gradcheck('wrong', wrong, [input([2, 3], 2, -1, 1, 'x')])).rejects.toThrow(/gradcheck 'wrong': input #0 'x' \[2, 3\] element \d+ \[\d, \d\]/);
  });

  it('catches a gradient that is off by one part in 10^4', async () => {
    const slightlyWrong = (x: Tensor): Tensor => {
      const out = noGrad(() => ops.mul(x, 3));
      return record(out, 'slightlyWrong', [x], (g) => [ops.mul(g, 3.0003)]);
    };
    await expect(gradcheck('slightlyWrong', slightlyWrong, [input([4], 6, 1, 2)])).rejects.toThrow(/gradcheck 'slightlyWrong': input #0 \[4\] element \d \[\d\] \(x = [\d.]+\): autograd \S+ vs numeric \S+ \(error/);
    // A correct custom op passes through the same path.
    const right = (x: Tensor): Tensor => record(noGrad(() => ops.mul(x, 3)), 'right', [x], (g) => [ops.mul(g, 3)]);
    await check('right', right, [input([4], 6)]);
  });

  it('rejects a function whose output records no gradient', async () => {
    await expect(gradcheck('const', (x) => ops.step(x), [input([3], 3)])).rejects.toThrow(/records no autograd node/);
  });

  it('leaves nothing live on the backend', async () => {
    const before = cpu64.liveBytes();
    await check('mul', (a, b) => ops.mul(a, b), [input([3, 4], 4), input([4], 5)]);
    expect(cpu64.liveBytes()).toBe(before);
  });
});

describe('elementwise binary', () => {
  const pairs: Array<[string, number[], number[]]> = [
    ['same shape', [2, 3], [2, 3]],
    ['row broadcast', [2, 3], [3]],
    ['both broadcast', [2, 1, 4], [3, 1]],
    ['scalar tensor', [], [2, 3]],
    ['leading 1s', [1, 1, 3], [2, 2, 1]],
  ];
  for (const [what, sa, sb] of pairs) {
    it(`add/sub/mul (${what})`, async () => {
      await check('add', (a, b) => ops.add(a, b), [input(sa, 10), input(sb, 11)]);
      await check('sub', (a, b) => ops.sub(a, b), [input(sa, 12), input(sb, 13)]);
      await check('mul', (a, b) => ops.mul(a, b), [input(sa, 14), input(sb, 15)]);
    });
    it(`div/pow (${what})`, async () => {
      await check('div', (a, b) => ops.div(a, b), [input(sa, 16), nonZero(sb, 17)]);
      await check('pow', (a, b) => ops.pow(a, b), [input(sa, 18, 0.4, 2), input(sb, 19, -1.5, 1.5)]);
    });
  }

  it('with one side not requiring grad', async () => {
    await check('mul', (a, b) => ops.mul(a, b), [input([2, 3], 20), constant(input([3], 21).data, [3])]);
    await check('div', (a, b) => ops.div(a, b), [constant(input([2, 3], 22).data, [2, 3]), nonZero([2, 1], 23)]);
    await check('pow', (a, b) => ops.pow(a, b), [constant(input([3], 24, 0.5, 2).data, [3]), input([2, 3], 25)]);
  });

  it('the same tensor on both sides', async () => {
    await check('mul', (a) => ops.mul(a, a), [input([2, 3], 26)]);
    await check('sub', (a) => ops.sub(a, a), [input([4], 27)]);
    await check('div', (a) => ops.div(ops.add(a, 3), a), [nonZero([4], 28)]);
  });

  it('scalar operands', async () => {
    await check('add scalar', (a) => ops.add(a, 2.5), [input([2, 3], 30)]);
    await check('sub scalar', (a) => ops.sub(a, -1.25), [input([2, 3], 31)]);
    await check('mul scalar', (a) => ops.mul(a, -3), [input([2, 3], 32)]);
    await check('div scalar', (a) => ops.div(a, 0.75), [input([2, 3], 33)]);
    await check('pow scalar', (a) => ops.pow(a, 2.5), [input([2, 3], 34, 0.2, 2)]);
  });

  it('maximum/minimum of tensors, with broadcasting', async () => {
    // Distinct values keep every pair at least 1/12 apart.
    const both = Array.from(distinct([2, 6], 35).data);
    const a = { data: both.slice(0, 6), shape: [2, 3] };
    const b = { data: both.slice(6), shape: [2, 3] };
    await check('maximum', (x, y) => ops.maximum(x, y), [a, b]);
    await check('minimum', (x, y) => ops.minimum(x, y), [a, b]);
    const wide = distinct([3, 4], 36);
    // distinct([3, 4]) takes the values -1 + (k + 0.25) / 6; these lie between them.
    const row = { data: [-0.875, 0.125, 0.79, -0.375], shape: [4] };
    await check('maximum bcast', (x, y) => ops.maximum(x, y), [wide, row]);
    await check('minimum bcast', (x, y) => ops.minimum(x, y), [row, wide]);
  });

  it('maximum/minimum with a scalar', async () => {
    await check('maximum scalar', (x) => ops.maximum(x, 0.2), [awayFrom([3, 4], 37, [0.2])]);
    await check('minimum scalar', (x) => ops.minimum(x, -0.1), [awayFrom([3, 4], 38, [-0.1])]);
  });
});

describe('elementwise unary', () => {
  const shape = [2, 3, 4];
  const cases: Array<[string, (x: Tensor) => Tensor, GradInput]> = [
    ['neg', ops.neg, input(shape, 40)],
    ['exp', ops.exp, input(shape, 41, -2, 2)],
    ['log', ops.log, input(shape, 42, 0.2, 3)],
    ['sqrt', ops.sqrt, input(shape, 43, 0.2, 3)],
    ['rsqrt', ops.rsqrt, input(shape, 44, 0.2, 3)],
    ['abs', ops.abs, awayFrom(shape, 45, [0])],
    ['relu', ops.relu, awayFrom(shape, 46, [0])],
    ['sigmoid', ops.sigmoid, input(shape, 47, -4, 4)],
    ['tanh', ops.tanh, input(shape, 48, -2, 2)],
    ['square', ops.square, input(shape, 49)],
    ['reciprocal', ops.reciprocal, nonZero(shape, 50)],
    ['affine', (x) => ops.affine(x, 1.7, -0.3), input(shape, 51)],
    ['powScalar 3', (x) => ops.powScalar(x, 3), input(shape, 52)],
    ['powScalar 0.5', (x) => ops.powScalar(x, 0.5), input(shape, 53, 0.2, 2)],
    ['powScalar -2', (x) => ops.powScalar(x, -2), nonZero(shape, 54)],
    ['clamp', (x) => ops.clamp(x, -0.4, 0.5), awayFrom(shape, 55, [-0.4, 0.5])],
    ['sign (zero gradient)', ops.sign, awayFrom(shape, 56, [0])],
    ['floor (zero gradient)', ops.floor, awayFrom(shape, 57, [-1, 0, 1], 0.05, -2, 2)],
  ];
  for (const [name, fn, x] of cases) {
    it(name, async () => {
      await check(name, fn, [x]);
    });
  }

  it('where with tensor branches and broadcasting', async () => {
    const cond = constant([1, 0, 0, 1, 1, 0], [2, 3]);
    await check('where', (c, a, b) => ops.where(c, a, b), [cond, input([2, 3], 60), input([2, 3], 61)]);
    await check('where bcast', (c, a, b) => ops.where(c, a, b), [constant([0, 1, 1], [3]), input([2, 1], 62), input([4, 2, 3], 63)]);
  });

  it('where with a scalar branch', async () => {
    const cond = constant([1, 0, 1, 0], [4]);
    await check('where a', (c, a) => ops.where(c, a, 0.5), [cond, input([4], 64)]);
    await check('where b', (c, b) => ops.where(c, -2, b), [cond, input([2, 4], 65)]);
  });
});

describe('layout', () => {
  it('reshape and flatten', async () => {
    await check('reshape', (x) => ops.reshape(x, [3, -1]), [input([2, 3, 2], 70)]);
    await check('flatten', (x) => ops.flatten(x), [input([2, 3, 2], 71)]);
    await check('flatten 0', (x) => ops.flatten(x, 0), [input([2, 3, 2], 72)]);
    // Through a non-linear op so the view's gradient is not just W.
    await check('reshape then square', (x) => ops.square(ops.reshape(x, [6])), [input([2, 3], 73)]);
  });

  it('permute and transpose', async () => {
    await check('permute', (x) => ops.permute(x, [2, 0, 1]), [input([2, 3, 4], 74)]);
    await check('permute neg', (x) => ops.permute(x, [-1, 1, 0]), [input([2, 3, 4], 75)]);
    await check('transpose', (x) => ops.transpose(x), [input([2, 3, 4], 76)]);
    await check('transpose 0 2', (x) => ops.transpose(x, 0, 2), [input([2, 3, 4], 77)]);
  });

  it('expand', async () => {
    await check('expand', (x) => ops.expand(x, [2, 3, 4]), [input([3, 1], 78)]);
    await check('expand scalar', (x) => ops.expand(x, [2, 2]), [input([], 79)]);
    await check('expand middle', (x) => ops.expand(x, [2, 3, 4]), [input([2, 1, 4], 80)]);
  });

  it('slice, including negative indices and clamped ends', async () => {
    await check('slice', (x) => ops.slice(x, [[1, 3], null, [0, 2]]), [input([4, 3, 5], 81)]);
    await check('slice neg', (x) => ops.slice(x, [[-3, -1], [1, 100], [-2, 5]]), [input([4, 3, 5], 82)]);
    await check('slice twice', (x) => ops.mul(ops.slice(x, [null, [0, 2]]), ops.slice(x, [null, [-2, 3]])), [input([2, 3], 83)]);
  });

  it('concat', async () => {
    const f = (a: Tensor, b: Tensor, c: Tensor): Tensor => ops.concat([a, b, c], 1);
    await check('concat axis 1', f, [input([2, 1, 3], 84), input([2, 2, 3], 85), input([2, 3, 3], 86)]);
    await check('concat axis -1', (a, b) => ops.concat([a, b], -1), [input([2, 3], 87), input([2, 2], 88)]);
    await check('concat axis 0, one constant', (a, b) => ops.concat([a, b, a], 0), [input([1, 3], 89), constant([1, 2, 3, 4, 5, 6], [2, 3])]);
  });

  it('pad and unsqueeze', async () => {
    await check('pad', (x) => ops.pad(x, [[1, 0], [0, 2], [2, 1]], 0.5), [input([2, 3, 2], 90)]);
    await check('pad partial', (x) => ops.pad(x, [[0, 0], [1, 1]]), [input([2, 3, 2], 91)]);
    await check('unsqueeze', (x) => ops.unsqueeze(x, -1), [input([2, 3], 92)]);
    await check('unsqueeze 0', (x) => ops.mul(ops.unsqueeze(x, 0), x), [input([2, 3], 93)]);
  });
});

describe('reductions', () => {
  const shape = [3, 4, 5];
  const axesCases: Array<[string, number | number[] | undefined]> = [
    ['all', undefined],
    ['axis 1', 1],
    ['axes 0,2', [0, 2]],
    ['axis -1', -1],
    ['all listed', [0, 1, 2]],
  ];
  for (const [what, axes] of axesCases) {
    for (const keepDim of [false, true]) {
      it(`sum/mean over ${what}, keepDim ${keepDim}`, async () => {
        await check('sum', (x) => ops.sum(x, axes, keepDim), [input(shape, 100)]);
        await check('mean', (x) => ops.mean(x, axes, keepDim), [input(shape, 101)]);
      });
      it(`max/min over ${what}, keepDim ${keepDim}`, async () => {
        await check('max', (x) => ops.max(x, axes, keepDim), [distinct(shape, 102)]);
        await check('min', (x) => ops.min(x, axes, keepDim), [distinct(shape, 103)]);
      });
      it(`normL1/normL2 over ${what}, keepDim ${keepDim}`, async () => {
        await check('normL1', (x) => ops.normL1(x, axes, keepDim), [awayFrom(shape, 104, [0])]);
        await check('normL2', (x) => ops.normL2(x, axes, keepDim), [input(shape, 105)]);
      });
    }
  }
});

describe('matmul', () => {
  const cases: Array<[string, number[], number[]]> = [
    ['2-D', [3, 4], [4, 5]],
    ['batched', [2, 3, 4], [2, 4, 5]],
    ['broadcast batch', [2, 1, 3, 4], [3, 4, 5]],
    ['matrix times batch', [3, 4], [2, 4, 5]],
    ['batch times matrix', [2, 3, 4], [4, 5]],
    ['size-1 batch', [1, 3, 4], [2, 4, 5]],
    ['vector @ matrix', [4], [4, 5]],
    ['matrix @ vector', [3, 4], [4]],
    ['vector @ vector', [4], [4]],
    ['vector @ batch', [4], [2, 4, 5]],
    ['batch @ vector', [2, 3, 4], [4]],
  ];
  for (const [what, sa, sb] of cases) {
    it(what, async () => {
      await check('matmul', (a, b) => ops.matmul(a, b), [input(sa, 110), input(sb, 111)]);
    });
  }
  it('one operand constant, and a @ a^T', async () => {
    await check('matmul const b', (a, b) => ops.matmul(a, b), [input([3, 4], 112), constant(input([4, 2], 113).data, [4, 2])]);
    await check('matmul a aT', (a) => ops.matmul(a, ops.transpose(a)), [input([3, 4], 114)]);
  });
});

describe('conv2d', () => {
  const cases: Array<[string, number[], number[], ops.Conv2dOptions]> = [
    ['3x3 stride 1 pad 1', [2, 3, 5, 5], [5, 3, 3, 3], { stride: 1, padding: 1 }],
    ['3x3 stride 2 pad 0', [2, 3, 5, 5], [3, 3, 3, 3], { stride: 2, padding: 0 }],
    ['3x3 stride 2 pad 1', [1, 3, 6, 5], [5, 3, 3, 3], { stride: 2, padding: 1 }],
    ['3x3 stride 1 pad 0', [1, 1, 5, 4], [3, 1, 3, 3], {}],
    ['1x1 stride 1', [2, 3, 4, 4], [5, 3, 1, 1], {}],
    ['1x1 stride 2', [2, 5, 5, 5], [3, 5, 1, 1], { stride: 2 }],
    ['1x1 stride 2 pad 1', [1, 3, 4, 3], [1, 3, 1, 1], { stride: 2, padding: 1 }],
    ['mixed stride/padding', [1, 2, 6, 7], [3, 2, 3, 3], { stride: [2, 1], padding: [1, 0] }],
  ];
  for (const [what, xs, ws, opts] of cases) {
    it(`${what}: input, weight and bias`, async () => {
      await check('conv2d', (x, w, b) => ops.conv2d(x, w, b, opts), [input(xs, 120, -1, 1, 'x'), input(ws, 121, -1, 1, 'weight'), input([ws[0]!], 122, -1, 1, 'bias')]);
    });
  }
  it('without bias; input only; weight only', async () => {
    await check('conv2d no bias', (x, w) => ops.conv2d(x, w, null, { padding: 1 }), [input([1, 3, 4, 4], 123), input([2, 3, 3, 3], 124)]);
    await check('conv2d x only', (x, w) => ops.conv2d(x, w, null, { stride: 2, padding: 1 }), [input([1, 3, 5, 5], 125), constant(input([2, 3, 3, 3], 126).data, [2, 3, 3, 3])]);
    await check('conv2d w only', (x, w, b) => ops.conv2d(x, w, b, { stride: 2 }), [constant(input([2, 3, 5, 5], 127).data, [2, 3, 5, 5]), input([3, 3, 3, 3], 128), constant([0.1, -0.2, 0.3], [3])]);
  });
});

describe('pooling', () => {
  const cases: Array<[string, ops.Pool2dOptions]> = [
    ['kernel 2 stride 2', { kernel: 2 }],
    ['kernel 2 stride 1', { kernel: 2, stride: 1 }],
    ['kernel 2 stride 1 pad 1', { kernel: 2, stride: 1, padding: 1 }],
    ['kernel 2 stride 2 pad 1', { kernel: 2, stride: 2, padding: 1 }],
    ['kernel 3 stride 1', { kernel: 3, stride: 1 }],
    ['kernel 3 stride 2', { kernel: 3, stride: 2 }],
    ['kernel 3 stride 1 pad 1', { kernel: 3, stride: 1, padding: 1 }],
    ['kernel 3 stride 2 pad 1', { kernel: 3, stride: 2, padding: 1 }],
  ];
  for (const [what, opts] of cases) {
    it(`maxPool2d ${what}`, async () => {
      await check('maxPool2d', (x) => ops.maxPool2d(x, opts), [distinct([2, 3, 5, 6], 130)]);
    });
    for (const countIncludePad of [true, false]) {
      it(`avgPool2d ${what}, countIncludePad ${countIncludePad}`, async () => {
        await check('avgPool2d', (x) => ops.avgPool2d(x, { ...opts, countIncludePad }), [input([2, 3, 5, 6], 131)]);
      });
    }
  }
  it('globalAvgPool2d', async () => {
    await check('globalAvgPool2d', (x) => ops.globalAvgPool2d(x), [input([2, 3, 4, 5], 132)]);
  });
});

describe('batchNorm', () => {
  it('train mode w.r.t. x, weight and bias (NCHW, with running stats)', async () => {
    await check('batchNorm train', (x, w, b) => {
      const running = { mean: ops.zeros(cpu64, [3]), var: ops.ones(cpu64, [3]) };
      return ops.batchNorm(x, w, b, running, { training: true });
    }, [input([4, 3, 2, 3], 140, -2, 2, 'x'), input([3], 141, 0.5, 1.5, 'weight'), input([3], 142, -1, 1, 'bias')]);
  });

  it('train mode (NC) without affine parameters or running stats', async () => {
    await check('batchNorm train NC', (x) => ops.batchNorm(x, null, null, null, { training: true, eps: 1e-3 }), [input([5, 3], 143, -2, 2)]);
  });

  it('train mode, weight and bias only', async () => {
    await check('batchNorm train params', (x, w, b) => ops.batchNorm(x, w, b, null, { training: true }), [
      constant(input([3, 2, 2, 2], 144).data, [3, 2, 2, 2]), input([2], 145, 0.5, 1.5), input([2], 146),
    ]);
  });

  it('eval mode w.r.t. x, weight and bias', async () => {
    await check('batchNorm eval', (x, w, b) => {
      const running = { mean: ops.tensor(cpu64, [0.1, -0.2, 0.3], [3]), var: ops.tensor(cpu64, [0.5, 1.2, 2], [3]) };
      return ops.batchNorm(x, w, b, running, { training: false });
    }, [input([2, 3, 2, 2], 147), input([3], 148, 0.5, 1.5), input([3], 149)]);
  });
});

describe('softmax and losses', () => {
  it('softmax and logSoftmax', async () => {
    await check('softmax', (x) => ops.softmax(x), [input([3, 5], 150, -2, 2)]);
    await check('softmax 3-D', (x) => ops.softmax(x, 2), [input([2, 3, 4], 151, -2, 2)]);
    await check('logSoftmax', (x) => ops.logSoftmax(x), [input([3, 5], 152, -2, 2)]);
    await check('logSoftmax 3-D', (x) => ops.logSoftmax(x, -1), [input([2, 3, 4], 153, -2, 2)]);
  });

  for (const reduction of ['mean', 'sum', 'none'] as const) {
    it(`crossEntropy ${reduction}`, async () => {
      const labels = constant(Int32Array.from([2, 0, 4, 2]), [4], 'int32', 'labels');
      await check(`crossEntropy ${reduction}`, (x, y) => ops.crossEntropy(x, y, reduction), [input([4, 5], 154, -3, 3, 'logits'), labels]);
    });
  }

  it('gather along each axis, with repeated indices', async () => {
    await check('gather axis 1', (x, i) => ops.gather(x, 1, i), [input([3, 4], 160), constant(Int32Array.from([0, 3, 1, 1, 2, 2]), [3, 2], 'int32')]);
    const idx0 = Int32Array.from([3, 0, 1, 1, 2, 0, 2, 2, 3, 0, 1, 3, 0, 0, 1, 2, 3, 1, 1, 2, 0, 3, 3, 0, 2, 1, 0, 1, 3, 2]);
    await check('gather axis 0', (x, i) => ops.gather(x, 0, i), [input([4, 3, 2], 161), constant(idx0, [5, 3, 2], 'int32')]);
    await check('gather axis -1', (x, i) => ops.gather(x, -1, i), [input([2, 3, 2], 162), constant(Int32Array.from([1, 1, 1, 0, 0, 0, 1, 0, 0, 1, 1, 1, 0, 1, 0, 0, 0, 1]), [2, 3, 3], 'int32')]);
  });
});

/**
 * A grid [n, outH, outW, 2] whose source pixel coordinates sit between pixel-grid lines (fractional
 * part in [0.15, 0.85]) and range from outside the image on both sides to inside it.
 */
function sampleGrid(n: number, outH: number, outW: number, h: number, w: number, alignCorners: boolean, seed: number): GradInput {
  const r = input([n * outH * outW * 4], seed, 0, 1).data;
  const data = new Float64Array(n * outH * outW * 2);
  const toGrid = (pos: number, size: number): number => (alignCorners ? (2 * pos) / (size - 1) - 1 : (2 * pos + 1) / size - 1);
  for (let i = 0; i < n * outH * outW; i++) {
    const kx = Math.floor(r[4 * i]! * (w + 2)) - 2; // -2 .. w-1
    const ky = Math.floor(r[4 * i + 1]! * (h + 2)) - 2;
    const fx = 0.15 + 0.7 * r[4 * i + 2]!;
    const fy = 0.15 + 0.7 * r[4 * i + 3]!;
    data[2 * i] = toGrid(kx + fx, w);
    data[2 * i + 1] = toGrid(ky + fy, h);
  }
  return { data, shape: [n, outH, outW, 2], name: 'grid' };
}

describe('sampling', () => {
  for (const alignCorners of [false, true]) {
    for (const padding of ['zeros', 'border'] as const) {
      it(`gridSample w.r.t. input and grid, alignCorners ${alignCorners}, padding ${padding}`, async () => {
        await check(`gridSample ${alignCorners} ${padding}`, (x, g) => ops.gridSample(x, g, { alignCorners, padding }), [
          input([2, 3, 4, 5], 170, -1, 1, 'x'), sampleGrid(2, 3, 4, 4, 5, alignCorners, 171),
        ]);
      });
    }
  }

  it('gridSample w.r.t. the grid only', async () => {
    await check('gridSample grid only', (x, g) => ops.gridSample(x, g, { padding: 'border' }), [
      constant(input([1, 2, 3, 3], 172).data, [1, 2, 3, 3]), sampleGrid(1, 4, 4, 3, 3, false, 173),
    ]);
  });

  it('resizeBilinear up and down', async () => {
    await check('resizeBilinear up', (x) => ops.resizeBilinear(x, 5, 7), [input([1, 2, 3, 4], 174)]);
    await check('resizeBilinear down', (x) => ops.resizeBilinear(x, 2, 3), [input([2, 1, 5, 6], 175)]);
  });
});

describe('compositions', () => {
  it('a small conv net: conv -> batchNorm -> relu -> maxPool -> linear -> crossEntropy', async () => {
    const labels = constant(Int32Array.from([1, 0]), [2], 'int32');
    await check('convnet', (x, w, gamma, beta, fc, y) => {
      const h = ops.conv2d(x, w, null, { padding: 1 });
      const bn = ops.batchNorm(h, gamma, beta, null, { training: true });
      const pooled = ops.avgPool2d(ops.tanh(bn), { kernel: 2 });
      const flat = ops.flatten(pooled);
      return ops.crossEntropy(ops.matmul(flat, fc), y);
    }, [input([2, 2, 4, 4], 180), input([3, 2, 3, 3], 181), input([3], 182, 0.5, 1.5), input([3], 183), input([12, 2], 184), labels]);
  });
});
