/**
 * conv2d as GEMM over an explicit column matrix (im2col), in "k-major" layout cols[K][nb*P]
 * (K = cIn*kh*kw, P = outH*outW), so every pass is ONE large matmul whatever the spatial size:
 *   forward          y[cOut][nb*P]   = W[cOut][K] . cols[K][nb*P]          (then permuted to NCHW)
 *   backward data    dcols[K][nb*P]  = W^T . dy[cOut][nb*P], then col2im    (a gather, no atomics)
 *   backward weight  dW[cOut][K]    += dy[cOut][nb*P] . cols^T               (the long reduction nb*P
 *                                                                          is the GEMM's inner loop)
 * The batch is processed in chunks so the column matrix stays within maxStorageBufferBindingSize.
 */
import type { Conv2dParams, Storage } from '../tensor/backend.js';
import type { GpuContext, GpuProgram } from '../backends/webgpu/context.js';
import { grid, main1d, packUniforms, uniformStruct } from './common.js';
import { matmul } from './matmul.js';
import { checkParams } from './conv2d.js';
import { binary, copy, releaseTemporary, writeStrided as writeStridedFn } from './elementwise.js';

const GEOMETRY: Array<[string, 'u32']> = [
  ['n0', 'u32'], ['nb', 'u32'], ['cIn', 'u32'], ['h', 'u32'], ['w', 'u32'], ['kh', 'u32'], ['kw', 'u32'], ['sh', 'u32'],
  ['sw', 'u32'], ['ph', 'u32'], ['pw', 'u32'], ['outH', 'u32'], ['outW', 'u32'], ['total', 'u32'],
];

function geometry(p: Conv2dParams, n0: number, nb: number, total: number): ArrayBuffer {
  const v = [n0, nb, p.cIn, p.h, p.w, p.kh, p.kw, p.strideH, p.strideW, p.padH, p.padW, p.outH, p.outW, total];
  return packUniforms(v.map((x) => ['u32', x]));
}

const im2colProgram: GpuProgram = {
  key: 'conv2d-im2col-kmajor',
  wgsl: () => /* wgsl */ `
${uniformStruct('G', GEOMETRY)}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> cols: array<f32>;
@group(0) @binding(2) var<uniform> g: G;
${main1d()}
  if (idx >= g.total) { return; }
  let P = g.outH * g.outW;
  let NP = g.nb * P;
  let k = idx / NP;
  let j = idx - k * NP;
  let n = j / P;
  let pp = j - n * P;
  let oh = pp / g.outW;
  let ow = pp - oh * g.outW;
  let khw = g.kh * g.kw;
  let ci = k / khw;
  let r = k - ci * khw;
  let ki = r / g.kw;
  let kj = r - ki * g.kw;
  // Signed arithmetic: the padded border maps to negative input coordinates.
  let ih = i32(oh * g.sh + ki) - i32(g.ph);
  let iw = i32(ow * g.sw + kj) - i32(g.pw);
  var v = 0.0;
  if (ih >= 0 && iw >= 0 && u32(ih) < g.h && u32(iw) < g.w) {
    v = x[((g.n0 + n) * g.cIn + ci) * g.h * g.w + u32(ih) * g.w + u32(iw)];
  }
  cols[idx] = v;
}`,
};

const col2imProgram: GpuProgram = {
  key: 'conv2d-col2im-kmajor',
  wgsl: () => /* wgsl */ `
${uniformStruct('G', GEOMETRY)}
@group(0) @binding(0) var<storage, read> dcols: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<uniform> g: G;
${main1d()}
  if (idx >= g.total) { return; }
  // idx runs over this chunk's dx elements [nb][cIn][h][w]; dx is the whole batch.
  let hw = g.h * g.w;
  let plane = idx / hw;
  let rem = idx - plane * hw;
  let ih = rem / g.w;
  let iw = rem - ih * g.w;
  let n = plane / g.cIn;
  let ci = plane - n * g.cIn;
  let P = g.outH * g.outW;
  let NP = g.nb * P;
  var acc = 0.0;
  for (var ki = 0u; ki < g.kh; ki++) {
    let t = i32(ih + g.ph) - i32(ki);
    if (t < 0 || (u32(t) % g.sh) != 0u) { continue; }
    let oh = u32(t) / g.sh;
    if (oh >= g.outH) { continue; }
    for (var kj = 0u; kj < g.kw; kj++) {
      let s = i32(iw + g.pw) - i32(kj);
      if (s < 0 || (u32(s) % g.sw) != 0u) { continue; }
      let ow = u32(s) / g.sw;
      if (ow >= g.outW) { continue; }
      let k = (ci * g.kh + ki) * g.kw + kj;
      acc += dcols[k * NP + n * P + oh * g.outW + ow];
    }
  }
  dx[(g.n0 * g.cIn) * hw + idx] = acc;
}`,
};

/** Images per chunk so that a K x (nb*P) float matrix stays within the binding limit (and 64 MiB). */
function chunkSize(ctx: GpuContext, p: Conv2dParams): number {
  const perImage = p.cIn * p.kh * p.kw * p.outH * p.outW * 4;
  const budget = Math.min(ctx.limits.maxStorageBufferBindingSize, 64 * 2 ** 20);
  const nb = Math.floor(budget / Math.max(perImage, 1));
  if (nb < 1) throw new Error(`conv2d: one image's column matrix (${perImage} bytes) exceeds the ${budget}-byte binding budget`);
  return Math.min(p.n, nb);
}

function im2col(ctx: GpuContext, x: Storage, p: Conv2dParams, n0: number, nb: number): Storage {
  const K = p.cIn * p.kh * p.kw;
  const total = K * nb * p.outH * p.outW;
  const cols = ctx.alloc(total, 'float32');
  ctx.dispatch(im2colProgram, [{ storage: x, access: 'read' }, { storage: cols, access: 'read_write' }], grid(ctx, total), geometry(p, n0, nb, total));
  return cols;
}

export function conv2dGemm(ctx: GpuContext, x: Storage, w: Storage, bias: Storage | null, p: Conv2dParams): Storage {
  checkParams(p, { x: [x, p.n * p.cIn * p.h * p.w], weight: [w, p.cOut * p.cIn * p.kh * p.kw], bias: [bias, p.cOut] });
  const P = p.outH * p.outW;
  const K = p.cIn * p.kh * p.kw;
  const out = ctx.alloc(p.n * p.cOut * P, 'float32');
  const nbMax = chunkSize(ctx, p);
  for (let n0 = 0; n0 < p.n; n0 += nbMax) {
    const nb = Math.min(nbMax, p.n - n0);
    const cols = im2col(ctx, x, p, n0, nb);
    const y = matmul(ctx, w, cols, { batch: 1, m: p.cOut, n: nb * P, k: K, transA: false, transB: false, batchStrideA: 0, batchStrideB: 0 });
    releaseTemporary(ctx, cols);
    // [cOut][nb][P] -> NCHW rows of this chunk, with the bias broadcast over nb and P.
    const shape = [nb, p.cOut, P];
    const src = { storage: y, shape, strides: [P, nb * P, 1], offset: 0 };
    const chunk = bias ? binary(ctx, 'add', src, { storage: bias, shape, strides: [0, 1, 0], offset: 0 }, shape) : copy(ctx, src);
    releaseTemporary(ctx, y);
    if (nbMax === p.n) {
      releaseTemporary(ctx, out);
      return chunk;
    }
    copyInto(ctx, out, chunk, n0 * p.cOut * P);
    releaseTemporary(ctx, chunk);
  }
  return out;
}

export function conv2dGemmBackwardData(ctx: GpuContext, dy: Storage, w: Storage, p: Conv2dParams): Storage {
  checkParams(p, { dy: [dy, p.n * p.cOut * p.outH * p.outW], weight: [w, p.cOut * p.cIn * p.kh * p.kw] });
  const P = p.outH * p.outW;
  const K = p.cIn * p.kh * p.kw;
  const dx = ctx.alloc(p.n * p.cIn * p.h * p.w, 'float32');
  const nbMax = chunkSize(ctx, p);
  for (let n0 = 0; n0 < p.n; n0 += nbMax) {
    const nb = Math.min(nbMax, p.n - n0);
    const dyT = copy(ctx, { storage: dy, shape: [p.cOut, nb, P], strides: [P, p.cOut * P, 1], offset: n0 * p.cOut * P });
    const dcols = matmul(ctx, w, dyT, { batch: 1, m: K, n: nb * P, k: p.cOut, transA: true, transB: false, batchStrideA: 0, batchStrideB: 0 });
    releaseTemporary(ctx, dyT);
    const total = nb * p.cIn * p.h * p.w;
    ctx.dispatch(col2imProgram, [{ storage: dcols, access: 'read' }, { storage: dx, access: 'read_write' }], grid(ctx, total), geometry(p, n0, nb, total));
    releaseTemporary(ctx, dcols);
  }
  return dx;
}

export function conv2dGemmBackwardWeight(ctx: GpuContext, x: Storage, dy: Storage, p: Conv2dParams): Storage {
  checkParams(p, { x: [x, p.n * p.cIn * p.h * p.w], dy: [dy, p.n * p.cOut * p.outH * p.outW] });
  const P = p.outH * p.outW;
  const K = p.cIn * p.kh * p.kw;
  const nbMax = chunkSize(ctx, p);
  let dw: Storage | null = null;
  for (let n0 = 0; n0 < p.n; n0 += nbMax) {
    const nb = Math.min(nbMax, p.n - n0);
    const cols = im2col(ctx, x, p, n0, nb);
    const dyT = copy(ctx, { storage: dy, shape: [p.cOut, nb, P], strides: [P, p.cOut * P, 1], offset: n0 * p.cOut * P });
    const part = matmul(ctx, dyT, cols, { batch: 1, m: p.cOut, n: K, k: nb * P, transA: false, transB: true, batchStrideA: 0, batchStrideB: 0 });
    releaseTemporary(ctx, cols);
    releaseTemporary(ctx, dyT);
    if (!dw) dw = part;
    else {
      const v = (s: Storage) => ({ storage: s, shape: [p.cOut * K], strides: [1], offset: 0 });
      const sum = binary(ctx, 'add', v(dw), v(part), [p.cOut * K]);
      releaseTemporary(ctx, dw);
      releaseTemporary(ctx, part);
      dw = sum;
    }
  }
  return dw ?? ctx.alloc(p.cOut * K, 'float32');
}

/** dst[offset ...] = src, as a strided copy-in (writeStrided without importing the op layer). */
function copyInto(ctx: GpuContext, dst: Storage, src: Storage, offset: number): void {
  writeStridedFn(ctx, { storage: dst, shape: [src.length], strides: [1], offset }, src);
}
