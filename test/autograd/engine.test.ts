/**
 * The autograd engine: ordering and accumulation over shared subexpressions, repeated backward
 * calls, noGrad/detach/requireGrad, deep graphs, and tensor lifetimes (tidy, keep, liveBytes).
 */
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/index.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { beginScope, endScope, keep, scopeDepth, tidy } from '../../src/tensor/scope.js';
import { backward, detach, isGradEnabled, noGrad, noGradAsync, requireGrad } from '../../src/autograd/engine.js';
import * as ops from '../../src/ops/index.js';
import { SGD } from '../../src/optim/index.js';
import { cpu64 } from '../helpers/backends.js';

const be = cpu64;

function leaf(data: number[], shape: number[] = [data.length]): Tensor {
  return requireGrad(ops.tensor(be, data, shape));
}

async function values(t: Tensor | null): Promise<number[]> {
  if (!t) throw new Error('expected a tensor, got null');
  return t.toArray();
}

function expectValues(actual: number[], expected: number[], tol = 1e-12): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => expect(Math.abs(a - expected[i]!), `element ${i}: ${a} vs ${expected[i]}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(expected[i]!))));
}

describe('topological order and accumulation', () => {
  it('a diamond: x feeds two branches that meet again', async () => {
    const xs = [0.5, -1.5, 2];
    const x = leaf(xs);
    tidy(() => {
      const a = ops.mul(x, 3); // 3x
      const b = ops.exp(x); // e^x
      const c = ops.mul(a, b); // 3x e^x
      const d = ops.add(c, a); // 3x e^x + 3x
      backward(ops.sum(d));
    });
    // d/dx = 3 e^x + 3x e^x + 3
    expectValues(await values(x.grad), xs.map((v) => 3 * Math.exp(v) + 3 * v * Math.exp(v) + 3));
    x.dispose();
  });

  it('a node used several times, by several consumers at different depths', async () => {
    const xs = [0.3, -0.7];
    const x = leaf(xs);
    tidy(() => {
      const y = ops.mul(x, x); // x^2, both operands the same tensor
      const z = ops.add(y, y); // 2x^2, the same tensor twice again
      const w = ops.mul(ops.add(z, y), ops.sigmoid(y)); // 3x^2 * s(x^2): y used at three depths
      const out = ops.sum(ops.add(w, x)); // and x once more at the top
      backward(out);
    });
    const s = (v: number) => 1 / (1 + Math.exp(-v));
    // d/dx [3x^2 s(x^2) + x] = 6x s + 3x^2 s(1-s) 2x + 1
    expectValues(await values(x.grad), xs.map((v) => {
      const q = s(v * v);
      return 6 * v * q + 6 * v ** 3 * q * (1 - q) + 1;
    }));
    x.dispose();
  });

  it('gradients that come back as the incoming tensor (add of a tensor to itself)', async () => {
    const x = leaf([1, 2, 3]);
    tidy(() => backward(ops.sum(ops.add(ops.add(x, x), x))));
    expect(await values(x.grad)).toEqual([3, 3, 3]);
    x.dispose();
  });

  it('only inputs that require grad receive one', async () => {
    const x = leaf([1, 2]);
    const c = ops.tensor(be, [5, 7], [2]);
    tidy(() => backward(ops.sum(ops.mul(x, c))));
    expect(await values(x.grad)).toEqual([5, 7]);
    expect(c.grad).toBeNull();
    x.dispose();
    c.dispose();
  });

  it('accumulates over two backward calls: the same graph twice, then another graph', async () => {
    const x = leaf([1, -2]);
    const loss = ops.sum(ops.square(x)); // grad 2x
    backward(loss);
    expect(await values(x.grad)).toEqual([2, -4]);
    backward(loss);
    expect(await values(x.grad)).toEqual([4, -8]);
    tidy(() => backward(ops.sum(ops.mul(x, 10))));
    expect(await values(x.grad)).toEqual([14, 2]);
    loss.dispose();
    x.dispose();
  });

  it('zeroGrad clears the accumulation', async () => {
    const x = leaf([1, 2]);
    const opt = new SGD([x], { lr: 0.1 });
    tidy(() => backward(ops.sum(x)));
    opt.zeroGrad();
    expect(x.grad).toBeNull();
    tidy(() => backward(ops.sum(ops.mul(x, 2))));
    expect(await values(x.grad)).toEqual([2, 2]);
    x.dispose();
  });

  it('backward from a non-scalar with an explicit gradient, and from a leaf', async () => {
    const x = leaf([1, 2, 3]);
    const g = ops.tensor(be, [0.5, -1, 2], [3]);
    tidy(() => backward(ops.square(x), g));
    expect(await values(x.grad)).toEqual([1, -4, 12]);
    x.grad!.dispose();
    x.grad = null;
    backward(x, g);
    expect(await values(x.grad)).toEqual([0.5, -1, 2]);
    g.dispose();
    // The gradient handed in may be disposed by its owner; x.grad stays readable.
    expect(await values(x.grad)).toEqual([0.5, -1, 2]);
    x.dispose();
  });

  it('rejects bad backward calls with clear messages', () => {
    const x = leaf([1, 2]);
    const c = ops.tensor(be, [1, 2], [2]);
    tidy(() => {
      expect(() => backward(ops.sum(c))).toThrow(/does not require gradients/);
      expect(() => backward(ops.mul(x, 2))).toThrow(/one-element tensor, got shape \[2\]/);
      expect(() => backward(ops.mul(x, 2), ops.tensor(be, [1, 2, 3], [3]))).toThrow(/gradient shape \[3\] differs from the tensor's \[2\]/);
    });
    x.dispose();
    c.dispose();
  });
});

describe('noGrad, detach and requireGrad', () => {
  it('noGrad records nothing and restores the previous state, even on throw', () => {
    const x = leaf([1, 2]);
    expect(isGradEnabled()).toBe(true);
    const y = noGrad(() => {
      expect(isGradEnabled()).toBe(false);
      // Nested noGrad keeps it off after the inner one returns.
      noGrad(() => undefined);
      expect(isGradEnabled()).toBe(false);
      return ops.mul(ops.exp(x), 2);
    });
    expect(isGradEnabled()).toBe(true);
    expect(y.requiresGrad).toBe(false);
    expect(y.node).toBeNull();
    expect(() => backward(ops.sum(y))).toThrow(/does not require gradients/);
    expect(() => noGrad(() => {
      throw new Error('boom');
    })).toThrow('boom');
    expect(isGradEnabled()).toBe(true);
    // Recording resumes afterwards.
    const z = ops.mul(x, 2);
    expect(z.requiresGrad).toBe(true);
    expect(z.node?.op).toBe('affine');
    for (const t of [x, y, z]) t.dispose();
  });

  it('noGradAsync keeps recording off until the promise settles', async () => {
    const x = leaf([1]);
    const y = await noGradAsync(async () => {
      await Promise.resolve();
      return ops.mul(x, 3);
    });
    expect(isGradEnabled()).toBe(true);
    expect(y.requiresGrad).toBe(false);
    x.dispose();
    y.dispose();
  });

  it('detach cuts the flow but shares the values', async () => {
    const xs = [2, -3];
    const x = leaf(xs);
    tidy(() => {
      const y = ops.mul(x, 3);
      const d = detach(y);
      expect(d.requiresGrad).toBe(false);
      expect(d.node).toBeNull();
      // z = detach(3x) * x: the gradient treats 3x as a constant, so dz/dx = 3x (not 6x).
      backward(ops.sum(ops.mul(d, x)));
    });
    expect(await values(x.grad)).toEqual(xs.map((v) => 3 * v));
    x.dispose();
  });

  it('a graph fully behind detach does not reach the leaf', () => {
    const x = leaf([1, 2]);
    tidy(() => {
      const y = detach(ops.exp(x));
      expect(() => backward(ops.sum(y))).toThrow(/does not require gradients/);
    });
    expect(x.grad).toBeNull();
    x.dispose();
  });

  it('requireGrad only applies to float leaves', () => {
    const x = leaf([1, 2]);
    tidy(() => {
      const y = ops.mul(x, 2);
      expect(() => requireGrad(y)).toThrow(/leaf tensors/);
      expect(() => requireGrad(ops.tensor(be, Int32Array.from([1]), [1]))).toThrow(/only float tensors/);
      const c = ops.tensor(be, [1], [1]);
      expect(requireGrad(c).requiresGrad).toBe(true);
      expect(requireGrad(c, false).requiresGrad).toBe(false);
    });
    x.dispose();
  });
});

describe('deep graphs', () => {
  it('a 2000-op chain backpropagates without overflowing the stack', async () => {
    const x = leaf([0.5, 2]);
    tidy(() => {
      let y = x;
      for (let i = 0; i < 2000; i++) y = ops.add(ops.mul(y, 1), x); // y_k = y_{k-1} + x: 4000 nodes
      backward(ops.sum(y));
    });
    expect(await values(x.grad)).toEqual([2001, 2001]);
    x.dispose();
  });

  it('a 20000-op chain of unary ops also works', async () => {
    const x = leaf([0.25]);
    tidy(() => {
      let y = x;
      for (let i = 0; i < 20000; i++) y = ops.affine(y, 1, 1e-3);
      backward(ops.sum(y));
    });
    expect(await values(x.grad)).toEqual([1]);
    x.dispose();
  });
});

describe('gradient with respect to an input', () => {
  it('d loss / d image through a conv, with the parameters not requiring grad', async () => {
    const image = requireGrad(ops.tensor(be, [1, 2, 3, 4], [1, 1, 2, 2]));
    const w = ops.tensor(be, [1, 0, 0, -1], [1, 1, 2, 2]);
    tidy(() => {
      // One output: 1*x00 - 1*x11 = 1 - 4; loss = out^2 -> dloss/dx = 2*out*[1, 0, 0, -1].
      const out = ops.conv2d(image, w);
      backward(ops.sum(ops.square(out)));
    });
    expect(await values(image.grad)).toEqual([-6, 0, 0, 6]);
    expect(w.grad).toBeNull();
    image.dispose();
    w.dispose();
  });
});

describe('lifetimes', () => {
  it('tidy disposes intermediates and keeps what it returns', () => {
    const x = ops.tensor(be, [1, 2, 3], [3]);
    let a!: Tensor;
    let b!: Tensor;
    let kept!: Tensor;
    const out = tidy(() => {
      a = ops.mul(x, 2);
      b = ops.exp(a);
      kept = keep(ops.neg(a));
      return { sum: ops.add(a, b), list: [ops.sub(b, 1)] };
    });
    expect(a.disposed).toBe(true);
    expect(b.disposed).toBe(true);
    expect(x.disposed).toBe(false);
    expect(kept.disposed).toBe(false);
    expect(out.sum.disposed).toBe(false);
    expect(out.list[0]!.disposed).toBe(false);
    expect(() => a.storage).toThrow(/used after dispose/);
    for (const t of [x, kept, out.sum, out.list[0]!]) t.dispose();
  });

  it('a returned tensor moves to the enclosing scope; a throw disposes everything', () => {
    let inner!: Tensor;
    let outer!: Tensor;
    tidy(() => {
      outer = tidy(() => {
        inner = ops.zeros(be, [2]);
        return ops.ones(be, [2]);
      });
      expect(inner.disposed).toBe(true);
      expect(outer.disposed).toBe(false);
    });
    expect(outer.disposed).toBe(true);

    let made!: Tensor;
    const depth = scopeDepth();
    expect(() => tidy(() => {
      made = ops.zeros(be, [1]);
      throw new Error('fail inside');
    })).toThrow('fail inside');
    expect(made.disposed).toBe(true);
    expect(scopeDepth()).toBe(depth);
  });

  it('returning a tensor the scope does not own leaves its owner in charge (regression)', () => {
    // Made outside every scope: returned through nested tidies it must not be adopted and disposed.
    const param = ops.tensor(be, [1, 2], [2]);
    let kept!: Tensor;
    let moved!: Tensor;
    tidy(() => {
      const same = tidy(() => param);
      expect(same).toBe(param);
      kept = tidy(() => keep(ops.zeros(be, [2])));
      moved = tidy(() => ops.ones(be, [2]));
    });
    expect(param.disposed).toBe(false);
    expect(kept.disposed).toBe(false);
    // A tensor the inner scope made still moves to the outer one and dies with it.
    expect(moved.disposed).toBe(true);
    param.dispose();
    kept.dispose();
  });

  it('tidy rejects async functions and scopes must close in order', () => {
    expect(() => tidy(() => Promise.resolve(1))).toThrow(/synchronous/);
    const s1 = beginScope();
    const s2 = beginScope();
    expect(() => endScope(s1)).toThrow(/reverse order/);
    endScope(s2);
    endScope(s1);
  });

  it('liveBytes returns to the start after tidy(forward + backward), leaving only leaf grads', () => {
    const cpu = new CpuBackend({ precision: 'float32' });
    const start0 = cpu.liveBytes();
    const w = requireGrad(ops.tensor(cpu, Array.from({ length: 2 * 2 * 3 * 3 }, (_, i) => Math.sin(i)), [2, 2, 3, 3]));
    const gamma = requireGrad(ops.ones(cpu, [2]));
    const beta = requireGrad(ops.zeros(cpu, [2]));
    const fc = requireGrad(ops.tensor(cpu, Array.from({ length: 8 * 3 }, (_, i) => Math.cos(i)), [8, 3]));
    const running = { mean: ops.zeros(cpu, [2]), var: ops.ones(cpu, [2]) };
    const x = ops.tensor(cpu, Array.from({ length: 2 * 2 * 4 * 4 }, (_, i) => Math.sin(i * 0.7)), [2, 2, 4, 4]);
    const labels = ops.tensor(cpu, Int32Array.from([2, 0]), [2]);
    const params = [w, gamma, beta, fc];
    const start = cpu.liveBytes();
    const opt = new SGD(params, { lr: 0.1 });

    for (let iter = 0; iter < 2; iter++) {
      const loss = tidy(() => {
        const warped = ops.resizeBilinear(x, 5, 5);
        const h = ops.conv2d(warped, w, null, { padding: 1 });
        const bn = ops.batchNorm(h, gamma, beta, running, { training: true });
        const pooled = ops.maxPool2d(ops.relu(bn), { kernel: 2 });
        const logits = ops.matmul(ops.flatten(pooled), fc);
        const l = ops.crossEntropy(logits, labels);
        backward(l);
        return l;
      });
      const gradBytes = params.reduce((s, p) => s + p.size * 4, 0);
      expect(params.every((p) => p.grad !== null)).toBe(true);
      expect(cpu.liveBytes()).toBe(start + gradBytes + loss.size * 4);
      loss.dispose();
      expect(cpu.liveBytes()).toBe(start + gradBytes);
      opt.zeroGrad();
      expect(cpu.liveBytes()).toBe(start);
    }
    for (const t of [...params, running.mean, running.var, x, labels]) t.dispose();
    expect(cpu.liveBytes()).toBe(start0);
  });

  it('disposing a leaf frees its gradient too', () => {
    const cpu = new CpuBackend({ precision: 'float32' });
    const x = requireGrad(ops.tensor(cpu, [1, 2, 3], [3]));
    tidy(() => backward(ops.sum(ops.square(x))));
    expect(cpu.liveBytes()).toBe(2 * 3 * 4);
    x.dispose();
    expect(cpu.liveBytes()).toBe(0);
  });
});
