/**
 * The fused batch-norm op (one autograd node over the backend's batchNorm* primitives) against
 * central differences in float64 on the CPU backend, in train and eval mode, NCHW and NC, with and
 * without weight and bias, and with gradients requested for only some inputs (AWM's case: eval
 * mode, frozen weight and bias, gradient to x only). Also against the composed formula it replaced.
 */
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../src/tensor/tensor.js';
import * as ops from '../../src/ops/index.js';
import { backward } from '../../src/autograd/engine.js';
import { cpu64 } from '../helpers/backends.js';
import { constant, gradcheck, input, type GradInput } from '../helpers/gradcheck.js';

async function check(op: string, fn: (...xs: Tensor[]) => Tensor, inputs: GradInput[]): Promise<void> {
  const r = await gradcheck(op, fn, inputs);
  expect(r.worst).toBeLessThanOrEqual(1);
  expect(r.checked).toBeGreaterThan(0);
}

const SHAPES: number[][] = [[3, 2, 2, 3], [2, 5, 1, 1], [1, 3, 7, 1], [4, 3]];

/** Eval-mode running statistics for c channels, built inside fn so each evaluation gets its own. */
const evalStats = (c: number) => ({
  mean: ops.tensor(cpu64, Array.from({ length: c }, (_, i) => 0.3 * i - 0.2), [c]),
  var: ops.tensor(cpu64, Array.from({ length: c }, (_, i) => 0.5 + 0.4 * i), [c]),
});

describe('fused batchNorm gradients (float64 CPU, central differences)', () => {
  for (const shape of SHAPES) {
    const c = shape[1]!;
    const tag = `[${shape.join(', ')}]`;
    for (const training of [true, false]) {
      const mode = training ? 'train' : 'eval';
      const bn = (x: Tensor, w: Tensor | null, b: Tensor | null): Tensor =>
        ops.batchNorm(x, w, b, training ? { mean: ops.zeros(cpu64, [c]), var: ops.ones(cpu64, [c]) } : evalStats(c), { training, eps: 1e-3 });

      it(`${mode} ${tag}: x, weight and bias`, async () => {
        await check(`bn ${mode} ${tag} all`, (x, w, b) => bn(x, w!, b!), [
          input(shape, 201, -2, 2, 'x'), input([c], 202, 0.5, 1.5, 'weight'), input([c], 203, -1, 1, 'bias'),
        ]);
      });

      it(`${mode} ${tag}: no weight or bias`, async () => {
        await check(`bn ${mode} ${tag} plain`, (x) => bn(x, null, null), [input(shape, 204, -2, 2, 'x')]);
      });

      it(`${mode} ${tag}: weight only, bias only`, async () => {
        await check(`bn ${mode} ${tag} weight`, (x, w) => bn(x, w!, null), [input(shape, 205, -2, 2, 'x'), input([c], 206, -1.5, 1.5, 'weight')]);
        await check(`bn ${mode} ${tag} bias`, (x, b) => bn(x, null, b!), [input(shape, 207, -2, 2, 'x'), input([c], 208, -1, 1, 'bias')]);
      });

      it(`${mode} ${tag}: frozen weight and bias, gradient to x only`, async () => {
        const x = input(shape, 209, -2, 2, 'x');
        const w = constant(input([c], 210, 0.5, 1.5).data, [c], 'float32', 'weight');
        const b = constant(input([c], 211, -1, 1).data, [c], 'float32', 'bias');
        await check(`bn ${mode} ${tag} x only`, (xt, wt, bt) => bn(xt, wt!, bt!), [x, w, b]);
      });

      it(`${mode} ${tag}: weight and bias only (x constant)`, async () => {
        const x = constant(input(shape, 212, -2, 2).data, shape, 'float32', 'x');
        await check(`bn ${mode} ${tag} params only`, (xt, w, b) => bn(xt, w!, b!), [x, input([c], 213, 0.5, 1.5, 'weight'), input([c], 214, -1, 1, 'bias')]);
      });
    }
  }

  // The epilogue y = relu(bn(x) + residual): every input's gradient, in both modes, with ReLU cutting about half.
  for (const training of [true, false]) {
    const mode = training ? 'train' : 'eval';
    const shape = [3, 2, 2, 3];
    const stats = () => (training ? { mean: ops.zeros(cpu64, [2]), var: ops.ones(cpu64, [2]) } : evalStats(2));
    it(`${mode}: epilogue + residual, ReLU and both; gradients to x, weight, bias and the residual`, async () => {
      for (const [res, relu] of [[true, false], [false, true], [true, true]] as const) {
        const tag = `bn ${mode} residual ${res} relu ${relu}`;
        const inputs = [input(shape, 240, -2, 2, 'x'), input([2], 241, 0.5, 1.5, 'weight'), input([2], 242, -1, 1, 'bias')];
        if (res) inputs.push(input(shape, 243, -1.5, 1.5, 'residual'));
        await check(tag, (x, w, b, r) => ops.batchNorm(x, w!, b!, stats(), { training, eps: 1e-3, relu, residual: r }), inputs);
      }
    });
    it(`${mode}: epilogue with a constant residual, and with frozen weights (AWM's case)`, async () => {
      const r = constant(input(shape, 244, -1, 1).data, shape, 'float32', 'residual');
      await check(`bn ${mode} constant residual`, (x, w, b, rt) => ops.batchNorm(x, w!, b!, stats(), { training, relu: true, residual: rt }),
        [input(shape, 245, -2, 2, 'x'), input([2], 246, 0.5, 1.5, 'weight'), input([2], 247, -1, 1, 'bias'), r]);
      const w = constant(input([2], 248, 0.5, 1.5).data, [2], 'float32', 'weight');
      await check(`bn ${mode} frozen`, (x, wt, rt) => ops.batchNorm(x, wt!, null, stats(), { training, relu: true, residual: rt }),
        [input(shape, 249, -2, 2, 'x'), w, input(shape, 250, -1, 1, 'residual')]);
    });
  }

  it('the epilogue equals relu(add(batchNorm, residual)), values and gradients', async () => {
    const shape = [2, 3, 3, 2];
    for (const training of [true, false]) {
      const make = () => {
        const ts = [ops.tensor(cpu64, input(shape, 260, -2, 2).data, shape), ops.tensor(cpu64, input([3], 261, 0.5, 1.5).data, [3]),
          ops.tensor(cpu64, input([3], 262, -1, 1).data, [3]), ops.tensor(cpu64, input(shape, 263, -1, 1).data, shape)];
        for (const t of ts) t.requiresGrad = true;
        return ts as [Tensor, Tensor, Tensor, Tensor];
      };
      const g = ops.tensor(cpu64, input(shape, 264).data, shape);
      const [x, w, b, r] = make();
      const y = ops.batchNorm(x, w, b, training ? null : evalStats(3), { training, relu: true, residual: r });
      backward(y, g);
      const [x2, w2, b2, r2] = make();
      const y2 = ops.relu(ops.add(ops.batchNorm(x2, w2, b2, training ? null : evalStats(3), { training }), r2));
      backward(y2, g);
      for (const [a, e, what] of [[y, y2, 'y'], [x.grad!, x2.grad!, 'dx'], [w.grad!, w2.grad!, 'dweight'], [b.grad!, b2.grad!, 'dbias'], [r.grad!, r2.grad!, 'dresidual']] as const) {
        const av = await a.data();
        const ev = await e.data();
        for (let i = 0; i < ev.length; i++) expect(Math.abs(av[i]! - ev[i]!), `${training ? 'train' : 'eval'} ${what} [${i}]`).toBeLessThan(1e-12 * (1 + Math.abs(ev[i]!)));
      }
      expect((await y.data()).some((v) => v === 0)).toBe(true);
    }
    const x = ops.zeros(cpu64, [2, 3, 2, 2]);
    expect(() => ops.batchNorm(x, null, null, null, { training: true, residual: ops.zeros(cpu64, [2, 3, 4]) })).toThrow(/residual must have the input's shape \[2, 3, 2, 2\]/);
  });

  it('matches the composed formula it replaced, values and gradients (train and eval)', async () => {
    const shape = [3, 4, 2, 5];
    const c = 4;
    const axes = [0, 2, 3];
    const bshape = [1, c, 1, 1];
    for (const training of [true, false]) {
      const make = () => {
        const x = ops.tensor(cpu64, input(shape, 220, -2, 2).data, shape);
        const w = ops.tensor(cpu64, input([c], 221, 0.5, 1.5).data, [c]);
        const b = ops.tensor(cpu64, input([c], 222, -1, 1).data, [c]);
        for (const t of [x, w, b]) t.requiresGrad = true;
        return { x, w, b };
      };
      const g = ops.tensor(cpu64, input(shape, 223).data, shape);
      const stats = evalStats(c);
      const fused = make();
      const yFused = ops.batchNorm(fused.x, fused.w, fused.b, training ? null : stats, { training, eps: 1e-5 });
      backward(yFused, g);
      // The previous implementation, op for op.
      const ref = make();
      let xhat: Tensor;
      if (training) {
        const mu = ops.mean(ref.x, axes, true);
        const centered = ops.sub(ref.x, mu);
        xhat = ops.mul(centered, ops.rsqrt(ops.add(ops.mean(ops.square(centered), axes, true), 1e-5)));
      } else {
        xhat = ops.mul(ops.sub(ref.x, ops.reshape(stats.mean, bshape)), ops.rsqrt(ops.affine(ops.reshape(stats.var, bshape), 1, 1e-5)));
      }
      const yRef = ops.add(ops.mul(xhat, ops.reshape(ref.w, bshape)), ops.reshape(ref.b, bshape));
      backward(yRef, g);
      const close = async (a: Tensor, b: Tensor, what: string) => {
        const av = await a.data();
        const bv = await b.data();
        for (let i = 0; i < bv.length; i++) expect(Math.abs(av[i]! - bv[i]!), `${what} [${i}]`).toBeLessThan(1e-12 * (1 + Math.abs(bv[i]!)));
      };
      await close(yFused, yRef, `${training ? 'train' : 'eval'} y`);
      await close(fused.x.grad!, ref.x.grad!, 'dx');
      await close(fused.w.grad!, ref.w.grad!, 'dweight');
      await close(fused.b.grad!, ref.b.grad!, 'dbias');
    }
  });

  it('eval-mode backward uses the statistics of its forward, even if the running ones change before it runs', async () => {
    const stats = evalStats(2);
    const x = ops.tensor(cpu64, input([4, 2], 230).data, [4, 2]);
    x.requiresGrad = true;
    const y = ops.batchNorm(x, null, null, stats, { training: false });
    ops.assign(stats.var, ops.tensor(cpu64, [100, 100], [2]));
    backward(y, ops.ones(cpu64, [4, 2]));
    // dx = 1 / sqrt(var + eps) with the forward's variances 0.5 and 0.9.
    const dx = await x.grad!.data();
    expect(dx[0]).toBeCloseTo(1 / Math.sqrt(0.5 + 1e-5), 12);
    expect(dx[1]).toBeCloseTo(1 / Math.sqrt(0.9 + 1e-5), 12);
  });
});
