/**
 * Runs in headless Chromium: the same engine bundle, on navigator.gpu, computes a matmul and a
 * conv2d (forward and both backward passes) and compares them with the CPU backend in the page.
 */
import { CpuBackend } from '../../src/backends/cpu/index.js';
import { createWebGpuBackend } from '../../src/backends/index.js';
import type { Backend } from '../../src/tensor/backend.js';
import { backward, requireGrad, tidy } from '../../src/index.js';
import * as ops from '../../src/ops/index.js';

function data(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}

async function compute(be: Backend): Promise<Record<string, number[]>> {
  // Leaves live outside the scope: their gradients are disposed with them.
  const x = requireGrad(ops.tensor(be, data(2 * 3 * 9 * 7, 3), [2, 3, 9, 7]));
  const w = requireGrad(ops.tensor(be, data(5 * 3 * 3 * 3, 4), [5, 3, 3, 3]));
  const outs = tidy(() => {
    const a = ops.tensor(be, data(33 * 17, 1), [33, 17]);
    const b = ops.tensor(be, data(17 * 9, 2), [17, 9]);
    const mm = ops.matmul(a, b);
    const y = ops.conv2d(x, w, null, { stride: 2, padding: 1 });
    backward(ops.sum(ops.mul(y, y)));
    return { mm, y };
  });
  const result: Record<string, number[]> = {};
  for (const [k, t] of Object.entries({ ...outs, dx: x.grad!, dw: w.grad! })) result[k] = Array.from(await t.data());
  x.dispose();
  w.dispose();
  return result;
}

async function main(): Promise<unknown> {
  const gpu = await createWebGpuBackend();
  const got = await compute(gpu);
  const want = await compute(new CpuBackend());
  const maxErr: Record<string, number> = {};
  for (const k of Object.keys(want)) {
    maxErr[k] = want[k]!.reduce((m, v, i) => Math.max(m, Math.abs(v - got[k]![i]!) / (1e-3 + Math.abs(v))), 0);
  }
  return { backend: gpu.info.description, maxErr, sizes: Object.fromEntries(Object.entries(got).map(([k, v]) => [k, v.length])) };
}

(globalThis as { smokeResult?: Promise<unknown> }).smokeResult = main().catch((e: Error) => ({ error: e.message }));
