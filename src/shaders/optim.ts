/**
 * In-place optimiser steps, one thread per parameter, with the recurrences of torch.optim.SGD and
 * torch.optim.Adam (L2 weight decay folded into the gradient; see src/backends/cpu/optim.ts).
 * Step-dependent scalars (bias corrections) are computed on the host in float64 and passed as
 * float32 uniforms, so the kernels never evaluate pow(beta, step) in float32.
 */
import type { AdamParams, SgdParams, Storage } from '../tensor/backend.js';
import type { GpuContext, GpuProgram } from '../backends/webgpu/context.js';
import { grid, main1d, packUniforms, uniformStruct } from './common.js';

function checkFloat(s: Storage, length: number, what: string): void {
  if (s.dtype !== 'float32') throw new Error(`${what}: expected a float32 storage, got ${s.dtype}`);
  if (s.length !== length) throw new Error(`${what}: expected ${length} elements, got ${s.length}`);
}

function sgdProgram(withMomentum: boolean): GpuProgram {
  const update = withMomentum
    ? `let b = select(u.momentum * buf[idx] + u.keep * d, d, u.firstStep != 0u);
  buf[idx] = b;
  d = select(b, d + u.momentum * b, u.nesterov != 0u);`
    : '';
  return {
    key: `optim_sgd_${withMomentum ? 'momentum' : 'plain'}`,
    wgsl: () => `
${uniformStruct('U', [['n', 'u32'], ['lr', 'f32'], ['momentum', 'f32'], ['keep', 'f32'], ['weightDecay', 'f32'], ['nesterov', 'u32'], ['firstStep', 'u32']])}
@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
${withMomentum ? '@group(0) @binding(2) var<storage, read_write> buf: array<f32>;' : ''}
@group(0) @binding(${withMomentum ? 3 : 2}) var<uniform> u: U;
${main1d()}
  if (idx >= u.n) { return; }
  let w = param[idx];
  var d = grad[idx] + u.weightDecay * w;
  ${update}
  param[idx] = w - u.lr * d;
}`,
  };
}

/** The momentum buffer is used exactly when momentum != 0, as in the CPU reference. */
export function sgdUpdate(ctx: GpuContext, param: Storage, grad: Storage, momentumBuf: Storage | null, p: SgdParams): void {
  const n = param.length;
  checkFloat(param, n, 'sgdUpdate param');
  checkFloat(grad, n, 'sgdUpdate grad');
  const withMomentum = p.momentum !== 0;
  if (withMomentum) {
    if (!momentumBuf) throw new Error('sgdUpdate: momentum is set but no momentum buffer was given');
    checkFloat(momentumBuf, n, 'sgdUpdate momentum buffer');
  }
  if (n === 0) return;
  const bindings = [
    { storage: param, access: 'read_write' as const },
    { storage: grad, access: 'read' as const },
  ];
  if (withMomentum) bindings.push({ storage: momentumBuf!, access: 'read_write' });
  ctx.dispatch(sgdProgram(withMomentum), bindings, grid(ctx, n), packUniforms([
    ['u32', n], ['f32', p.lr], ['f32', p.momentum], ['f32', 1 - p.dampening], ['f32', p.weightDecay],
    ['u32', p.nesterov ? 1 : 0], ['u32', p.firstStep ? 1 : 0],
  ]));
}

const adamProgram: GpuProgram = {
  key: 'optim_adam',
  wgsl: () => `
${uniformStruct('U', [['n', 'u32'], ['beta1', 'f32'], ['oneMinusBeta1', 'f32'], ['beta2', 'f32'], ['oneMinusBeta2', 'f32'], ['stepSize', 'f32'], ['invSqrtCorrection2', 'f32'], ['eps', 'f32'], ['weightDecay', 'f32']])}
@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<uniform> u: U;
${main1d()}
  if (idx >= u.n) { return; }
  let w = param[idx];
  let g = grad[idx] + u.weightDecay * w;
  let mi = u.beta1 * m[idx] + u.oneMinusBeta1 * g;
  let vi = u.beta2 * v[idx] + u.oneMinusBeta2 * g * g;
  m[idx] = mi;
  v[idx] = vi;
  // lr * (m / c1) / (sqrt(v / c2) + eps), with lr / c1 and 1 / sqrt(c2) folded on the host.
  param[idx] = w - u.stepSize * mi / (sqrt(vi) * u.invSqrtCorrection2 + u.eps);
}`,
};

export function adamUpdate(ctx: GpuContext, param: Storage, grad: Storage, m: Storage, v: Storage, p: AdamParams): void {
  const n = param.length;
  checkFloat(param, n, 'adamUpdate param');
  checkFloat(grad, n, 'adamUpdate grad');
  checkFloat(m, n, 'adamUpdate m');
  checkFloat(v, n, 'adamUpdate v');
  if (!(p.step >= 1)) throw new Error(`adamUpdate: step is 1-based, got ${p.step}`);
  if (n === 0) return;
  const correction1 = 1 - Math.pow(p.beta1, p.step);
  const correction2 = 1 - Math.pow(p.beta2, p.step);
  ctx.dispatch(adamProgram, [
    { storage: param, access: 'read_write' },
    { storage: grad, access: 'read' },
    { storage: m, access: 'read_write' },
    { storage: v, access: 'read_write' },
  ], grid(ctx, n), packUniforms([
    ['u32', n], ['f32', p.beta1], ['f32', 1 - p.beta1], ['f32', p.beta2], ['f32', 1 - p.beta2],
    ['f32', p.lr / correction1], ['f32', 1 / Math.sqrt(correction2)], ['f32', p.eps], ['f32', p.weightDecay],
  ]));
}
