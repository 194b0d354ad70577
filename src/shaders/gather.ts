/**
 * torch.gather along the middle axis of [outer, n, inner], its adjoint scatterAdd, and oneHot. One
 * thread per output element throughout.
 *
 * scatterAdd is written output-centric so it needs no float atomics and is deterministic: output
 * (o, j, i) sums g[o, k, i] over every k whose index[o, k, i] is j, in increasing k, which is the
 * order a sequential scatter adds them. That costs nIdx reads per output, which is cheap for the
 * small index axes this library gathers along (class labels, a few positions).
 *
 * The CPU reference throws on an index out of range; a kernel cannot, so it stays in bounds and
 * makes the bug visible where it can: such an index gathers NaN, is skipped by scatterAdd (it
 * matches no j), and a label outside [0, classes) gives an all-zero oneHot row.
 */
import type { Storage } from '../tensor/backend.js';
import type { GpuContext, GpuProgram } from '../backends/webgpu/context.js';
import { grid, main1d, packUniforms, uniformStruct } from './common.js';

const FIELDS: Array<[string, 'u32' | 'i32' | 'f32']> = [['total', 'u32'], ['nIn', 'u32'], ['inner', 'u32'], ['nIdx', 'u32'], ['nan', 'f32']];

function uniforms(total: number, nIn: number, inner: number, nIdx: number): ArrayBuffer {
  return packUniforms([['u32', total], ['u32', nIn], ['u32', inner], ['u32', nIdx], ['f32', NaN]]);
}

const gatherProgram: GpuProgram = {
  key: 'gather',
  wgsl: () => `${uniformStruct('U', FIELDS)}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> index: array<i32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
${main1d()}
  if (idx >= u.total) { return; }
  let i = idx % u.inner;
  let o = idx / (u.inner * u.nIdx);
  let j = index[idx];
  if (j < 0 || u32(j) >= u.nIn) { dst[idx] = u.nan; return; }
  dst[idx] = x[(o * u.nIn + u32(j)) * u.inner + i];
}`,
};

const scatterAddProgram: GpuProgram = {
  key: 'scatter-add',
  wgsl: () => `${uniformStruct('U', FIELDS)}
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> index: array<i32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
${main1d()}
  if (idx >= u.total) { return; }
  let i = idx % u.inner;
  let j = i32((idx / u.inner) % u.nIn);
  let o = idx / (u.inner * u.nIn);
  var acc = 0.0;
  for (var k = 0u; k < u.nIdx; k++) {
    let at = (o * u.nIdx + k) * u.inner + i;
    if (index[at] == j) { acc += g[at]; }
  }
  dst[idx] = acc;
}`,
};

const oneHotProgram: GpuProgram = {
  key: 'one-hot',
  wgsl: () => `${uniformStruct('U', FIELDS)}
@group(0) @binding(0) var<storage, read> labels: array<i32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> u: U;
${main1d()}
  if (idx >= u.total) { return; }
  // Here nIn carries the class count.
  let c = i32(idx % u.nIn);
  dst[idx] = select(0.0, 1.0, labels[idx / u.nIn] == c);
}`,
};

function checkSizes(what: string, sizes: Record<string, number>): void {
  for (const [name, v] of Object.entries(sizes)) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`${what}: ${name} must be a non-negative integer, got ${v}`);
  }
}

function expect(what: string, s: Storage, dtype: 'float32' | 'int32', length: number): void {
  if (s.dtype !== dtype || s.length !== length) throw new Error(`${what}: expected ${dtype} with ${length} elements, got ${s.dtype} with ${s.length}`);
}

export function gather(ctx: GpuContext, x: Storage, index: Storage, outer: number, nIn: number, inner: number, nIdx: number): Storage {
  checkSizes('gather', { outer, nIn, inner, nIdx });
  expect('gather x', x, 'float32', outer * nIn * inner);
  expect('gather index', index, 'int32', outer * nIdx * inner);
  const total = outer * nIdx * inner;
  const out = ctx.alloc(total, 'float32');
  if (total === 0) return out;
  ctx.dispatch(gatherProgram, [
    { storage: x, access: 'read' }, { storage: index, access: 'read' }, { storage: out, access: 'read_write' },
  ], grid(ctx, total), uniforms(total, nIn, inner, nIdx));
  return out;
}

export function scatterAdd(ctx: GpuContext, g: Storage, index: Storage, outer: number, nIn: number, inner: number, nIdx: number): Storage {
  checkSizes('scatterAdd', { outer, nIn, inner, nIdx });
  expect('scatterAdd g', g, 'float32', outer * nIdx * inner);
  expect('scatterAdd index', index, 'int32', outer * nIdx * inner);
  const total = outer * nIn * inner;
  const out = ctx.alloc(total, 'float32');
  if (total === 0) return out;
  ctx.dispatch(scatterAddProgram, [
    { storage: g, access: 'read' }, { storage: index, access: 'read' }, { storage: out, access: 'read_write' },
  ], grid(ctx, total), uniforms(total, nIn, inner, nIdx));
  return out;
}

export function oneHot(ctx: GpuContext, labels: Storage, n: number, classes: number): Storage {
  checkSizes('oneHot', { n, classes });
  expect('oneHot labels', labels, 'int32', n);
  const total = n * classes;
  const out = ctx.alloc(total, 'float32');
  if (total === 0) return out;
  ctx.dispatch(oneHotProgram, [{ storage: labels, access: 'read' }, { storage: out, access: 'read_write' }], grid(ctx, total), uniforms(total, classes, 1, 1));
  return out;
}
