/**
 * The convolutions as implicit GEMMs (im2col is never materialised), in both kernel forms.
 *
 * "im2col" GEMM (forward and backward-data), over a source that is already zero-padded so every
 * read is in bounds:
 *   O[b0 + b][m][oy][ox] = bias[m] + sum over (c, ky, kx) of A(m; c, ky, kx) * S[b][c][oy*sh + ky][ox*sw + kx]
 * with columns n = (b, oy, ox) and k = (c, ky, kx). Forward: A is the weight [cOut][cIn*kh*kw].
 * Backward-data: S is the dilated output gradient and A(ci; co, ky, kx) = w[co][ci][kh-1-ky][kw-1-kx]
 * (the flipped, transposed kernel, addressed in place).
 *
 * "dw" GEMM (backward-weight): rows co, columns n = (ci, ky, kx), k = (b, oy, ox), split into
 * `splits` k ranges that write partial slots P[slot0 + z][co][n], summed by a later pass:
 *   P[..][co][n] = sum over its k range of dy[b0 + b][co][oy][ox] * X[b][ci][oy*sh + ky][ox*sw + kx]
 */
import type { GpuProgram } from '../backends/webgpu/context.js';
import { uniformStruct } from './common.js';
import { registerGemmWgsl, type RegisterConfig } from './matmul-register.js';
import { sharedGemmWgsl } from './matmul-shared.js';

export const IM2COL_FIELDS: Array<[string, 'u32']> = [
  ['m', 'u32'], ['n', 'u32'], ['k', 'u32'], ['c', 'u32'],
  ['hs', 'u32'], ['ws', 'u32'], ['outH', 'u32'], ['outW', 'u32'],
  ['sh', 'u32'], ['sw', 'u32'], ['kh', 'u32'], ['kw', 'u32'],
  ['tilesN', 'u32'], ['tilesM', 'u32'], ['b0', 'u32'], ['one', 'u32'],
  // Register-form k walker: A offset start / per-tap step / extra at each channel; B jumps.
  ['aInit', 'u32'], ['aTapStep', 'u32'], ['aChanJump', 'u32'], ['rowJump', 'u32'],
  ['planeJump', 'u32'],
];

export const DW_FIELDS: Array<[string, 'u32']> = [
  ['m', 'u32'], ['n', 'u32'], ['k', 'u32'], ['cIn', 'u32'],
  ['hs', 'u32'], ['ws', 'u32'], ['outH', 'u32'], ['outW', 'u32'],
  ['sh', 'u32'], ['sw', 'u32'], ['kh', 'u32'], ['kw', 'u32'],
  ['tilesN', 'u32'], ['tilesM', 'u32'], ['b0', 'u32'], ['splits', 'u32'],
  ['chunk', 'u32'], ['slot0', 'u32'], ['aImageJump', 'u32'], ['bRowJump', 'u32'],
  ['bImageJump', 'u32'],
];

export type KernelForm = { kind: 'register'; cfg: RegisterConfig } | { kind: 'shared' };

function formKey(form: KernelForm): string {
  return form.kind === 'shared' ? 'shared' : `reg${form.cfg.tm}x${form.cfg.tn}:ku${form.cfg.ku}:wg${form.cfg.workgroupSize}`;
}

/** Forward (flip = false, optional bias) or backward-data (flip = true) convolution GEMM. */
export function im2colProgram(form: KernelForm, flip: boolean, bias: boolean): GpuProgram {
  const key = `conv-im2col:${formKey(form)}:${flip ? 'dx' : 'fwd'}:bias${+bias}`;
  const declarations = `${uniformStruct('U', IM2COL_FIELDS)}
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
${bias ? '@group(0) @binding(3) var<storage, read> Bias: array<f32>;' : ''}
@group(0) @binding(${bias ? 4 : 3}) var<uniform> u: U;
/** Offset of column n = (b, oy, ox) in the source: its top-left tap. */
fn bColOf(n: u32) -> u32 {
  let plane = u.outH * u.outW;
  let b = n / plane;
  let q = n % plane;
  return (b * u.c * u.hs + (q / u.outW) * u.sh) * u.ws + (q % u.outW) * u.sw;
}
fn storeC(z: u32, m: u32, n: u32, v: f32) {
  let plane = u.outH * u.outW;
  O[((u.b0 + n / plane) * u.m + m) * plane + n % plane] = v${bias ? ' + Bias[m]' : ''};
}`;
  if (form.kind === 'shared') {
    const taps = 'u.kh * u.kw';
    const aIndex = flip
      ? `((k / taps) * u.m + m) * taps + taps - 1u - k % taps`
      : 'm * u.k + k';
    return {
      key,
      wgsl: () => sharedGemmWgsl({
        declarations: `${declarations}
fn loadA(z: u32, m: u32, k: u32) -> f32 {
  let taps = ${taps};
  return A[${aIndex}];
}
fn loadB(z: u32, k: u32, n: u32) -> f32 {
  let taps = ${taps};
  let t = k % taps;
  return B[bColOf(n) + ((k / taps) * u.hs + t / u.kw) * u.ws + t % u.kw];
}
fn kRange(z: u32) -> vec2<u32> { return vec2<u32>(0u, u.k); }`,
        problems: 'u.one',
        aContiguous: 'k',
        bContiguous: 'n',
      }),
    };
  }
  return {
    key,
    wgsl: () => registerGemmWgsl({
      declarations,
      m: 'u.m',
      n: 'u.n',
      problems: 'u.one',
      kRange: 'vec2<u32>(0u, u.k)',
      aRow: (m) => (flip ? `${m} * u.kh * u.kw` : `${m} * u.k`),
      bCol: (n) => `bColOf(${n})`,
      walkerInit: () => 'var kx_ = 0u;\n  var ky_ = 0u;\n  var aK_ = u.aInit;\n  var bK_ = 0u;',
      walkerOffsets: 'let aK = aK_;\n      let bK = bK_;',
      walkerAdvance: `let wx = kx_ + 1u == u.kw;
      kx_ = select(kx_ + 1u, 0u, wx);
      let ky1 = ky_ + select(0u, 1u, wx);
      let wy = ky1 == u.kh;
      ky_ = select(ky1, 0u, wy);
      aK_ += u.aTapStep + select(0u, u.aChanJump, wy);
      bK_ += 1u + select(0u, u.rowJump, wx) + select(0u, u.planeJump, wy);`,
    }, form.cfg),
  };
}

/** Backward-weight partial GEMM (see the file comment). */
export function dwProgram(form: KernelForm): GpuProgram {
  const key = `conv-dw:${formKey(form)}`;
  const declarations = `${uniformStruct('U', DW_FIELDS)}
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> P: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
/** Offset of column n = (ci, ky, kx) in the padded input: the tap relative to a window's corner. */
fn bColOf(n: u32) -> u32 {
  let taps = u.kh * u.kw;
  let t = n % taps;
  return ((n / taps) * u.hs + t / u.kw) * u.ws + t % u.kw;
}
fn storeC(z: u32, m: u32, n: u32, v: f32) { P[((u.slot0 + z) * u.m + m) * u.n + n] = v; }`;
  const kRange = 'vec2<u32>(z * u.chunk, min(u.k, z * u.chunk + u.chunk))';
  if (form.kind === 'shared') {
    return {
      key,
      wgsl: () => sharedGemmWgsl({
        declarations: `${declarations}
fn loadA(z: u32, m: u32, k: u32) -> f32 {
  let plane = u.outH * u.outW;
  return A[((u.b0 + k / plane) * u.m + m) * plane + k % plane];
}
fn loadB(z: u32, k: u32, n: u32) -> f32 {
  let plane = u.outH * u.outW;
  let q = k % plane;
  return B[bColOf(n) + ((k / plane) * u.cIn * u.hs + (q / u.outW) * u.sh) * u.ws + (q % u.outW) * u.sw];
}
fn kRange(z: u32) -> vec2<u32> { return ${kRange}; }`,
        problems: 'u.splits',
        aContiguous: 'k',
        bContiguous: 'k',
      }),
    };
  }
  return {
    key,
    wgsl: () => registerGemmWgsl({
      declarations,
      m: 'u.m',
      n: 'u.n',
      problems: 'u.splits',
      kRange,
      aRow: (m) => `${m} * u.outH * u.outW`,
      bCol: (n) => `bColOf(${n})`,
      walkerInit: (k) => `let plane_ = u.outH * u.outW;
  let b_ = ${k} / plane_;
  let q_ = ${k} % plane_;
  var oy_ = q_ / u.outW;
  var ox_ = q_ % u.outW;
  var aK_ = (u.b0 + b_) * u.m * plane_ + q_;
  var bK_ = (b_ * u.cIn * u.hs + oy_ * u.sh) * u.ws + ox_ * u.sw;`,
      walkerOffsets: 'let aK = aK_;\n      let bK = bK_;',
      walkerAdvance: `let wx = ox_ + 1u == u.outW;
      ox_ = select(ox_ + 1u, 0u, wx);
      let oy1 = oy_ + select(0u, 1u, wx);
      let wy = oy1 == u.outH;
      oy_ = select(oy1, 0u, wy);
      aK_ += 1u + select(0u, u.aImageJump, wy);
      bK_ += u.sw + select(0u, u.bRowJump, wx) + select(0u, u.bImageJump, wy);`,
    }, form.cfg),
  };
}
