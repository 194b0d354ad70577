/**
 * SGD and Adam over three steps against the scalar recurrences of torch.optim, written out here,
 * with gradients from autograd; and the learning-rate schedules' values.
 */
import { describe, expect, it } from 'vitest';
import type { CpuBackend } from '../../src/backends/cpu/index.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { tidy } from '../../src/tensor/scope.js';
import { backward, requireGrad } from '../../src/autograd/engine.js';
import * as ops from '../../src/ops/index.js';
import { Adam, LayerAdam, SGD, cosineLR, multiStepLR, stepLR, type AdamOptions, type Optimizer, type SgdOptions } from '../../src/optim/index.js';
import { cpu32, cpu64 } from '../helpers/backends.js';

// loss(p) = sum(c * p^2) / 2 + sum(d * p), so dloss/dp = c * p + d.
const P0 = [0.5, -1.25, 2, 0.1];
const C = [1, 3, 0.5, 2];
const D = [0.2, -0.1, 0, 1];
const gradAt = (p: readonly number[]): number[] => p.map((v, i) => C[i]! * v + D[i]!);

/** Runs `steps` optimiser steps with autograd gradients and returns the parameter after each. */
async function run(be: CpuBackend, make: (params: Tensor[]) => Optimizer, steps = 3): Promise<number[][]> {
  const before = be.liveBytes();
  const p = requireGrad(ops.tensor(be, P0, [2, 2]));
  const c = ops.tensor(be, C, [2, 2]);
  const d = ops.tensor(be, D, [2, 2]);
  const opt = make([p]);
  const trace: number[][] = [];
  for (let s = 0; s < steps; s++) {
    opt.zeroGrad();
    tidy(() => backward(ops.add(ops.mul(ops.sum(ops.mul(c, ops.square(p))), 0.5), ops.sum(ops.mul(d, p)))));
    opt.step();
    trace.push(await p.toArray());
  }
  opt.zeroGrad();
  opt.dispose();
  for (const t of [p, c, d]) t.dispose();
  expect(be.liveBytes()).toBe(before);
  return trace;
}

/** torch.optim.SGD, element by element. */
function sgdReference(o: Required<SgdOptions>, steps = 3): number[][] {
  const p = [...P0];
  let buf: number[] = [];
  const trace: number[][] = [];
  for (let s = 0; s < steps; s++) {
    const g = gradAt(p);
    const dp = g.map((gi, i) => gi + o.weightDecay * p[i]!);
    let step = dp;
    if (o.momentum !== 0) {
      // The first step copies d into the buffer; later ones are momentum * buf + (1 - dampening) * d.
      const b = s === 0 ? [...dp] : buf.map((bi, i) => o.momentum * bi + (1 - o.dampening) * dp[i]!);
      buf = b;
      step = o.nesterov ? dp.map((di, i) => di + o.momentum * b[i]!) : b;
    }
    for (let i = 0; i < p.length; i++) p[i] = p[i]! - o.lr * step[i]!;
    trace.push([...p]);
  }
  return trace;
}

/** torch.optim.Adam (L2 weight decay added to the gradient), element by element. */
function adamReference(o: Required<AdamOptions>, steps = 3): number[][] {
  const [b1, b2] = o.betas;
  const p = [...P0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  const trace: number[][] = [];
  for (let t = 1; t <= steps; t++) {
    const g = gradAt(p).map((gi, i) => gi + o.weightDecay * p[i]!);
    for (let i = 0; i < p.length; i++) {
      m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
      v[i] = b2 * v[i]! + (1 - b2) * g[i]! * g[i]!;
      const mHat = m[i]! / (1 - b1 ** t);
      const vHat = v[i]! / (1 - b2 ** t);
      p[i] = p[i]! - (o.lr * mHat) / (Math.sqrt(vHat) + o.eps);
    }
    trace.push([...p]);
  }
  return trace;
}

function expectTrace(actual: number[][], expected: number[][], tol: number): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((row, s) => row.forEach((a, i) => {
    const e = expected[s]![i]!;
    expect(Math.abs(a - e), `step ${s + 1}, element ${i}: ${a} vs ${e}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(e)));
  }));
}

describe('SGD', () => {
  const configs: Array<[string, Required<SgdOptions>]> = [
    ['plain', { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false }],
    ['momentum', { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false }],
    ['momentum + dampening', { lr: 0.05, momentum: 0.8, dampening: 0.3, weightDecay: 0, nesterov: false }],
    ['weight decay', { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0.05, nesterov: false }],
    ['nesterov', { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: true }],
    ['everything', { lr: 0.07, momentum: 0.5, dampening: 0, weightDecay: 0.01, nesterov: true }],
    ['momentum, dampening and weight decay', { lr: 0.2, momentum: 0.7, dampening: 0.5, weightDecay: 0.1, nesterov: false }],
  ];
  for (const [what, o] of configs) {
    it(`${what} follows the recurrence for 3 steps`, async () => {
      expectTrace(await run(cpu64, (ps) => new SGD(ps, o)), sgdReference(o), 1e-12);
      expectTrace(await run(cpu32, (ps) => new SGD(ps, o)), sgdReference(o), 1e-5);
    });
  }

  it('a hand-computed first step: p - lr * (g + wd * p)', async () => {
    const [first] = await run(cpu64, (ps) => new SGD(ps, { lr: 0.1, weightDecay: 0.5, momentum: 0.9 }), 1);
    // g = c*p + d; the momentum buffer starts as d itself, undamped.
    expectTrace([first!], [P0.map((p, i) => p - 0.1 * (C[i]! * p + D[i]! + 0.5 * p))], 1e-12);
  });

  it('uses the current lr at every step', async () => {
    const lrs = [0.1, 0.01, 0.5];
    let step = 0;
    const trace = await run(cpu64, (ps) => {
      const opt = new SGD(ps, { lr: lrs[0]! });
      const inner = opt.step.bind(opt);
      opt.step = () => {
        opt.lr = lrs[step++]!;
        inner();
      };
      return opt;
    });
    const p = [...P0];
    const expected = lrs.map((lr) => {
      const g = gradAt(p);
      for (let i = 0; i < p.length; i++) p[i] = p[i]! - lr * g[i]!;
      return [...p];
    });
    expectTrace(trace, expected, 1e-12);
  });

  it('rejects nesterov without momentum or with dampening, and parameters without grad', () => {
    const p = requireGrad(ops.tensor(cpu64, [1], [1]));
    const q = ops.tensor(cpu64, [1], [1]);
    q.name = 'frozen';
    expect(() => new SGD([p], { lr: 0.1, nesterov: true })).toThrow(/nesterov needs momentum > 0 and dampening 0/);
    expect(() => new SGD([p], { lr: 0.1, nesterov: true, momentum: 0.9, dampening: 0.1 })).toThrow(/nesterov/);
    expect(() => new SGD([p, q], { lr: 0.1 })).toThrow(/parameter frozen does not require gradients/);
    p.dispose();
    q.dispose();
  });

  it('skips parameters without a gradient', async () => {
    const a = requireGrad(ops.tensor(cpu64, [1, 2], [2]));
    const b = requireGrad(ops.tensor(cpu64, [3, 4], [2]));
    const opt = new SGD([a, b], { lr: 0.5, momentum: 0.9 });
    tidy(() => backward(ops.sum(a)));
    opt.step();
    expect(await a.toArray()).toEqual([0.5, 1.5]);
    expect(await b.toArray()).toEqual([3, 4]);
    opt.dispose();
    a.dispose();
    b.dispose();
  });
});

describe('Adam', () => {
  const configs: Array<[string, Required<AdamOptions>]> = [
    ['defaults', { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 }],
    ['larger lr, other betas', { lr: 0.1, betas: [0.8, 0.99], eps: 1e-8, weightDecay: 0 }],
    ['weight decay and large eps', { lr: 0.05, betas: [0.9, 0.999], eps: 0.1, weightDecay: 0.1 }],
  ];
  for (const [what, o] of configs) {
    it(`${what} follows the recurrence for 3 steps`, async () => {
      expectTrace(await run(cpu64, (ps) => new Adam(ps, o)), adamReference(o), 1e-12);
      expectTrace(await run(cpu32, (ps) => new Adam(ps, o)), adamReference(o), 1e-5);
    });
  }

  it('defaults match torch.optim.Adam and the first step moves each element by about lr', async () => {
    const [first] = await run(cpu64, (ps) => {
      const opt = new Adam(ps);
      expect([opt.lr, opt.beta1, opt.beta2, opt.eps, opt.weightDecay]).toEqual([1e-3, 0.9, 0.999, 1e-8, 0]);
      return opt;
    }, 1);
    // Bias correction makes step 1 exactly lr * g / (|g| + eps).
    expectTrace([first!], [P0.map((p, i) => {
      const g = C[i]! * p + D[i]!;
      return p - (1e-3 * g) / (Math.abs(g) + 1e-8);
    })], 1e-12);
  });

  it('dispose frees its moment buffers', () => {
    const before = cpu64.liveBytes();
    const p = requireGrad(ops.tensor(cpu64, [1, 2, 3], [3]));
    const opt = new Adam([p], { lr: 0.1 });
    tidy(() => backward(ops.sum(ops.square(p))));
    opt.step();
    opt.zeroGrad();
    // p plus m and v.
    expect(cpu64.liveBytes() - before).toBe(3 * 3 * 8);
    opt.dispose();
    p.dispose();
    expect(cpu64.liveBytes()).toBe(before);
  });
});

/** LayerAdam: Adam's first moment per element, one second moment (mean of g^2) for the whole tensor. */
function layerAdamReference(o: Required<AdamOptions>, steps = 3): number[][] {
  const [b1, b2] = o.betas;
  const p = [...P0];
  const m = p.map(() => 0);
  let v = 0;
  const trace: number[][] = [];
  for (let t = 1; t <= steps; t++) {
    const g = gradAt(p);
    v = b2 * v + (1 - b2) * g.reduce((s, gi) => s + gi * gi, 0) / g.length;
    const vHat = v / (1 - b2 ** t);
    for (let i = 0; i < p.length; i++) {
      m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
      p[i] = p[i]! - (o.lr * m[i]! / (1 - b1 ** t)) / (Math.sqrt(vHat) + o.eps);
    }
    trace.push([...p]);
  }
  return trace;
}

describe('LayerAdam', () => {
  for (const [what, o] of [
    ['defaults', { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 }],
    ['larger lr, other betas, large eps', { lr: 0.1, betas: [0.8, 0.99], eps: 0.1, weightDecay: 0 }],
  ] as Array<[string, Required<AdamOptions>]>) {
    it(`${what} follows the recurrence for 3 steps`, async () => {
      expectTrace(await run(cpu64, (ps) => new LayerAdam(ps, o)), layerAdamReference(o), 1e-12);
      expectTrace(await run(cpu32, (ps) => new LayerAdam(ps, o)), layerAdamReference(o), 1e-5);
    });
  }

  it('moves elements in proportion to their gradients, unlike Adam', async () => {
    const [layer] = await run(cpu64, (ps) => new LayerAdam(ps, { lr: 0.01 }), 1);
    const [adam] = await run(cpu64, (ps) => new Adam(ps, { lr: 0.01 }), 1);
    const g = gradAt(P0);
    const rms = Math.sqrt(g.reduce((s, x) => s + x * x, 0) / g.length);
    expectTrace([layer!], [P0.map((p, i) => p - 0.01 * g[i]! / rms)], 1e-10);
    // Adam's first step is lr * sign(g) for every element.
    expectTrace([adam!], [P0.map((p, i) => p - 0.01 * Math.sign(g[i]!))], 1e-6);
    expect(() => new LayerAdam([requireGrad(ops.tensor(cpu64, [1], [1]))], { weightDecay: 0.1 })).toThrow(/weight decay is not supported/);
  });
});

describe('schedules', () => {
  it('stepLR', () => {
    const f = stepLR(0.1, 30);
    const got = [0, 29, 30, 59, 60, 95].map(f);
    [0.1, 0.1, 0.01, 0.01, 0.001, 0.0001].forEach((e, i) => expect(got[i]).toBeCloseTo(e, 15));
    expect(stepLR(1, 2, 0.5)(5)).toBe(0.25);
  });

  it('multiStepLR', () => {
    const f = multiStepLR(1, [2, 5], 0.5);
    expect([0, 1, 2, 4, 5, 9].map(f)).toEqual([1, 1, 0.5, 0.5, 0.25, 0.25]);
    expect(multiStepLR(0.1, [3])(3)).toBeCloseTo(0.01, 15);
  });

  it('cosineLR', () => {
    const f = cosineLR(0.1, 10, 0.001);
    expect(f(0)).toBeCloseTo(0.1, 15);
    expect(f(5)).toBeCloseTo(0.001 + 0.099 / 2, 15);
    expect(f(10)).toBeCloseTo(0.001, 15);
    expect(f(2.5)).toBeCloseTo(0.001 + (0.099 * (1 + Math.SQRT1_2)) / 2, 15);
    expect(f(7)).toBeCloseTo(0.001 + (0.099 * (1 + Math.cos((7 * Math.PI) / 10))) / 2, 15);
    const g = cosineLR(1, 4);
    expect([0, 1, 2, 3, 4].map(g).map((v) => Number(v.toFixed(12)))).toEqual([1, 0.853553390593, 0.5, 0.146446609407, 0]);
  });
});
