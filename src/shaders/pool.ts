/**
 * 2-D max/avg pooling over NCHW planes (one thread per output) and its gradient.
 *
 * The gradient is input-centric, so it needs no atomics and is deterministic: each input element
 * walks the (at most ceil(kh/sh) x ceil(kw/sw)) windows that contain it in row-major window order
 * (the order a sequential scatter would add them) and sums their contributions. For max pooling it
 * recomputes each such window's first maximum and takes the window's gradient only if that maximum
 * is this element. Recomputing costs kh*kw reads per window but needs no argmax scratch buffer or
 * second dispatch; for the usual 3x3/stride-2 pool that is about 20 reads per input.
 */
import type { Pool2dParams, Storage } from '../tensor/backend.js';
import type { GpuContext, GpuProgram } from '../backends/webgpu/context.js';
import { grid, main1d, packUniforms, uniformStruct } from './common.js';

type Field = [string, 'u32' | 'i32' | 'f32'];

// Signed sizes: window origins go negative with padding.
const FIELDS: Field[] = [
  ['total', 'u32'], ['h', 'i32'], ['w', 'i32'], ['kh', 'i32'],
  ['kw', 'i32'], ['sh', 'i32'], ['sw', 'i32'], ['ph', 'i32'],
  ['pw', 'i32'], ['outH', 'i32'], ['outW', 'i32'], ['includePad', 'u32'],
  // A window of padding only has max -infinity, which WGSL cannot write as a constant.
  ['negInf', 'f32'],
];

function uniforms(p: Pool2dParams, total: number): ArrayBuffer {
  const values = [total, p.h, p.w, p.kh, p.kw, p.strideH, p.strideW, p.padH, p.padW, p.outH, p.outW, p.countIncludePad ? 1 : 0, -Infinity];
  return packUniforms(FIELDS.map(([, t], i) => [t, values[i]!]));
}

const HEADER = `${uniformStruct('U', FIELDS)}
@group(0) @binding(0) var<storage, read> src: array<f32>;`;

/** WGSL: the in-bounds part [yLo,yHi) x [xLo,xHi) of output (oy, ox)'s window, and its plane. */
const WINDOW = `
  if (idx >= u.total) { return; }
  let outPlane = u32(u.outH * u.outW);
  let plane = idx / outPlane;
  let r = i32(idx % outPlane);
  let oy = r / u.outW;
  let ox = r % u.outW;
  let y0 = oy * u.sh - u.ph;
  let x0 = ox * u.sw - u.pw;
  let yLo = max(y0, 0);
  let yHi = min(y0 + u.kh, u.h);
  let xLo = max(x0, 0);
  let xHi = min(x0 + u.kw, u.w);
  let base = plane * u32(u.h * u.w);`;

/** WGSL: the window's first maximum (a NaN wins) as value `best` and in-plane offset `at` (-1, best 0, if empty). */
const ARGMAX = `
  var best = 0.0;
  var at = -1;
  for (var y = yLo; y < yHi; y++) {
    for (var x = xLo; x < xHi; x++) {
      let off = y * u.w + x;
      let v = src[base + u32(off)];
      // Each NaN takes over, as in PyTorch and the CPU reference.
      if (at < 0 || v > best || v != v) {
        best = v;
        at = off;
      }
    }
  }`;

/** WGSL: the divisor of an avg window whose clipped extent is [yLo,yHi) x [xLo,xHi). */
const AVG_DIVISOR = `
fn divisor(yLo: i32, yHi: i32, xLo: i32, xHi: i32) -> f32 {
  if (u.includePad != 0u) { return f32(u.kh * u.kw); }
  return f32(max(yHi - yLo, 0) * max(xHi - xLo, 0));
}`;

const forwardMax: GpuProgram = {
  key: 'pool2d-max',
  wgsl: () => `${HEADER}
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> u: U;
${main1d()}
${WINDOW}
${ARGMAX}
  dst[idx] = select(best, u.negInf, at < 0);
}`,
};

const forwardAvg: GpuProgram = {
  key: 'pool2d-avg',
  wgsl: () => `${HEADER}
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> u: U;
${AVG_DIVISOR}
${main1d()}
${WINDOW}
  var sum = 0.0;
  for (var y = yLo; y < yHi; y++) {
    for (var x = xLo; x < xHi; x++) {
      sum += src[base + u32(y * u.w + x)];
    }
  }
  let d = divisor(yLo, yHi, xLo, xHi);
  dst[idx] = select(0.0, sum / d, d > 0.0);
}`,
};

/**
 * WGSL: for input (iy, ix) of `plane`, the outputs whose windows contain it are
 * oy in [ceil((iy + ph - kh + 1) / sh), floor((iy + ph) / sh)] (clipped to [0, outH)), same for x.
 * Integer division truncates toward zero in WGSL, so the lower bound is only divided when positive.
 */
const INPUT = `
  if (idx >= u.total) { return; }
  let inPlane = u32(u.h * u.w);
  let plane = idx / inPlane;
  let r = i32(idx % inPlane);
  let iy = r / u.w;
  let ix = r % u.w;
  let ny = iy + u.ph - u.kh + 1;
  let nx = ix + u.pw - u.kw + 1;
  // ceil(ny / sh) for ny > 0, written so a huge stride cannot overflow i32 into a negative start.
  let oyLo = select(0, (ny - 1) / u.sh + 1, ny > 0);
  let oxLo = select(0, (nx - 1) / u.sw + 1, nx > 0);
  let oyHi = min((iy + u.ph) / u.sh, u.outH - 1);
  let oxHi = min((ix + u.pw) / u.sw, u.outW - 1);
  let outBase = plane * u32(u.outH * u.outW);
  var acc = 0.0;`;

const backwardMax: GpuProgram = {
  key: 'pool2d-max-backward',
  wgsl: () => `${HEADER}
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> u: U;

/** In-plane offset of the first maximum of output (oy, ox)'s window in the plane at base; -1 if empty. */
fn firstMax(base: u32, oy: i32, ox: i32) -> i32 {
  let y0 = oy * u.sh - u.ph;
  let x0 = ox * u.sw - u.pw;
  let yLo = max(y0, 0);
  let yHi = min(y0 + u.kh, u.h);
  let xLo = max(x0, 0);
  let xHi = min(x0 + u.kw, u.w);
${ARGMAX}
  return at;
}

${main1d()}
${INPUT}
  let base = plane * inPlane;
  for (var oy = oyLo; oy <= oyHi; oy++) {
    for (var ox = oxLo; ox <= oxHi; ox++) {
      if (firstMax(base, oy, ox) == r) { acc += dy[outBase + u32(oy * u.outW + ox)]; }
    }
  }
  dx[idx] = acc;
}`,
};

const backwardAvg: GpuProgram = {
  key: 'pool2d-avg-backward',
  wgsl: () => `${uniformStruct('U', FIELDS)}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<uniform> u: U;
${AVG_DIVISOR}
${main1d()}
${INPUT}
  for (var oy = oyLo; oy <= oyHi; oy++) {
    let y0 = oy * u.sh - u.ph;
    let yLo = max(y0, 0);
    let yHi = min(y0 + u.kh, u.h);
    for (var ox = oxLo; ox <= oxHi; ox++) {
      let x0 = ox * u.sw - u.pw;
      acc += dy[outBase + u32(oy * u.outW + ox)] / divisor(yLo, yHi, max(x0, 0), min(x0 + u.kw, u.w));
    }
  }
  dx[idx] = acc;
}`,
};

const POOL_PARAM_MAX = 2 ** 28;

function check(p: Pool2dParams, sizes: { x: Storage; dy?: Storage }): void {
  for (const k of ['n', 'c', 'h', 'w', 'kh', 'kw', 'strideH', 'strideW', 'padH', 'padW', 'outH', 'outW'] as const) {
    // The kernels add these as i32 (e.g. iy + padH); 2^28 each keeps every sum far from overflow.
    if (!Number.isInteger(p[k]) || p[k] < 0 || p[k] > POOL_PARAM_MAX) throw new Error(`pool2d: ${k} must be an integer in [0, 2^28], got ${p[k]}`);
  }
  if (p.strideH < 1 || p.strideW < 1) throw new Error(`pool2d: strides must be at least 1, got ${p.strideH}x${p.strideW}`);
  const inLen = p.n * p.c * p.h * p.w;
  if (sizes.x.length !== inLen || sizes.x.dtype !== 'float32') throw new Error(`pool2d: x must be float32 with ${inLen} elements, got ${sizes.x.dtype} with ${sizes.x.length}`);
  const outLen = p.n * p.c * p.outH * p.outW;
  if (sizes.dy && (sizes.dy.length !== outLen || sizes.dy.dtype !== 'float32')) throw new Error(`pool2d backward: dy must be float32 with ${outLen} elements, got ${sizes.dy.dtype} with ${sizes.dy.length}`);
}

export function pool2d(ctx: GpuContext, x: Storage, p: Pool2dParams): Storage {
  check(p, { x });
  const total = p.n * p.c * p.outH * p.outW;
  const out = ctx.alloc(total, 'float32');
  if (total === 0) return out;
  ctx.dispatch(p.kind === 'max' ? forwardMax : forwardAvg, [{ storage: x, access: 'read' }, { storage: out, access: 'read_write' }], grid(ctx, total), uniforms(p, total));
  return out;
}

export function pool2dBackward(ctx: GpuContext, dy: Storage, x: Storage, p: Pool2dParams): Storage {
  check(p, { x, dy });
  const inTotal = p.n * p.c * p.h * p.w;
  const dx = ctx.alloc(inTotal, 'float32');
  if (inTotal === 0) return dx;
  if (p.kind === 'avg') {
    ctx.dispatch(backwardAvg, [{ storage: dy, access: 'read' }, { storage: dx, access: 'read_write' }], grid(ctx, inTotal), uniforms(p, inTotal));
    return dx;
  }
  ctx.dispatch(backwardMax, [{ storage: x, access: 'read' }, { storage: dy, access: 'read' }, { storage: dx, access: 'read_write' }], grid(ctx, inTotal), uniforms(p, inTotal));
  return dx;
}
