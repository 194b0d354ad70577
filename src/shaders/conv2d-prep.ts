/**
 * Cheap elementwise passes around the convolution GEMMs:
 * - `padImages`: zero-padded copy of NCHW images, so the implicit-GEMM inner loops read
 *   [b][c][oy*s + ky][ox*s + kx] with no bounds checks at all.
 * - `dilateImages`: the output gradient spread onto a stride-1 grid (zeros between and around),
 *   turning backward-data into a plain stride-1 convolution with the flipped kernel.
 * - `sumSlices`: the reduce pass of split-K (sum of `slices` partial results).
 * Each writes every element of its output, so fresh pooled buffers need no clearing.
 */
import type { Storage } from '../tensor/backend.js';
import type { GpuContext } from '../backends/webgpu/context.js';
import { grid, main1d, packUniforms, uniformStruct } from './common.js';

const IMAGE_FIELDS: Array<[string, 'u32' | 'i32']> = [
  // total: output rows (one invocation each).
  ['total', 'u32'], ['c', 'u32'], ['h', 'i32'], ['w', 'i32'],
  ['hs', 'u32'], ['ws', 'u32'], ['offY', 'i32'], ['offX', 'i32'],
  ['sh', 'i32'], ['sw', 'i32'], ['b0', 'u32'],
];

/**
 * out[b][c][Y][X] (b < images, Y < hs, X < ws) = src[b0 + b][c][(Y - offY) / sh][(X - offX) / sw]
 * where that is an exact, in-range index, else 0. Padding is sh = sw = 1; dilation uses the stride.
 * Offsets may be negative (backward-data with padding > kernel - 1 drops leading gradient rows).
 *
 * One invocation per output row, looping along it: on SwiftShader a vector integer division is
 * several scalar divisions, and one thread per element spent more on its three index divisions
 * than on the copy itself (about 4 % of a 64x32x32 convolution pass; a thread per row costs about a third of that).
 */
function spreadProgram(strided: boolean) {
  return {
    key: `conv-spread:${strided ? 'strided' : 'pad'}`,
    wgsl: () => `${uniformStruct('U', IMAGE_FIELDS)}
@group(0) @binding(0) var<storage, read> S: array<f32>;
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
@group(0) @binding(2) var<uniform> u: U;
${main1d()}
  if (idx >= u.total) { return; }
  let Y = i32(idx % u.hs);
  let plane = idx / u.hs;
  let ty = Y - u.offY;
  ${strided
    ? `let iy = ty / u.sh;
  let rowInside = ty >= 0 && ty % u.sh == 0 && iy < u.h;`
    : `let iy = ty;
  let rowInside = ty >= 0 && iy < u.h;`}
  let src = ((u.b0 * u.c + plane) * u32(u.h) + u32(select(0, iy, rowInside))) * u32(u.w);
  let dst = idx * u.ws;
  for (var X = 0u; X < u.ws; X += 1u) {
    let tx = i32(X) - u.offX;
    ${strided
      ? `let ix = tx / u.sw;
    let inside = rowInside && tx >= 0 && tx % u.sw == 0 && ix < u.w;`
      : `let ix = tx;
    let inside = rowInside && tx >= 0 && ix < u.w;`}
    var v = 0.0;
    if (inside) { v = S[src + u32(ix)]; }
    O[dst + X] = v;
  }
}`,
  };
}

export interface SpreadArgs {
  images: number; c: number; h: number; w: number;
  /** Output plane size. */
  hs: number; ws: number;
  /** Where source pixel (0, 0) lands. */
  offY: number; offX: number;
  /** Spacing between source pixels (1 = plain padding). */
  sh: number; sw: number;
  /** First source image. */
  b0: number;
}

export function spreadImages(ctx: GpuContext, src: Storage, a: SpreadArgs): Storage {
  const total = a.images * a.c * a.hs * a.ws;
  const out = ctx.alloc(total, 'float32');
  if (total === 0) return out;
  const rows = a.images * a.c * a.hs;
  const values = [rows, a.c, a.h, a.w, a.hs, a.ws, a.offY, a.offX, a.sh, a.sw, a.b0];
  const u = packUniforms(IMAGE_FIELDS.map(([, t], i) => [t, values[i]!]));
  const strided = a.sh !== 1 || a.sw !== 1;
  ctx.dispatch(spreadProgram(strided), [{ storage: src, access: 'read' }, { storage: out, access: 'read_write' }], grid(ctx, rows), u);
  return out;
}

const SUM_FIELDS: Array<[string, 'u32']> = [['length', 'u32'], ['slices', 'u32'], ['offset', 'u32'], ['plane', 'u32'], ['m', 'u32']];

function sumProgram(bias: boolean) {
  return {
    key: `conv-sum-slices${bias ? ':bias' : ''}`,
    wgsl: () => `${uniformStruct('U', SUM_FIELDS)}
@group(0) @binding(0) var<storage, read> P: array<f32>;
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
${bias ? '@group(0) @binding(2) var<storage, read> Bias: array<f32>;' : ''}
@group(0) @binding(${bias ? 3 : 2}) var<uniform> u: U;
${main1d()}
  if (idx >= u.length) { return; }
  var s = 0.0;
  for (var i = 0u; i < u.slices; i += 1u) { s += P[i * u.length + idx]; }
  O[u.offset + idx] = s${bias ? ' + Bias[(idx / u.plane) % u.m]' : ''};
}`,
  };
}

/** out[i] = sum over s < slices of partials[s * length + i]: the summing pass of split-K backward-weight. */
export function sumSlices(ctx: GpuContext, partials: Storage, length: number, slices: number): Storage {
  const out = ctx.alloc(length, 'float32');
  sumSlicesInto(ctx, partials, out, { length, slices, offset: 0, plane: 1, m: 1, bias: null });
  return out;
}

/**
 * out[offset + i] = sum over s < slices of partials[s * length + i] (+ bias[(i / plane) % m]): the summing pass of
 * split-K, also of the im2col GEMM, whose slots hold NCHW outputs of `m` channels of `plane` pixels.
 */
export function sumSlicesInto(ctx: GpuContext, partials: Storage, out: Storage, q: { length: number; slices: number; offset: number; plane: number; m: number; bias: Storage | null }): void {
  if (q.length === 0) return;
  if (partials.length < q.slices * q.length || out.length < q.offset + q.length || q.plane < 1 || q.m < 1 || (q.bias && q.bias.length !== q.m)) {
    throw new Error(`sumSlicesInto: ${q.slices} slices of ${q.length} into ${out.length} at ${q.offset} do not fit (partials ${partials.length}, plane ${q.plane}, m ${q.m})`);
  }
  const bindings = [{ storage: partials, access: 'read' as const }, { storage: out, access: 'read_write' as const }];
  if (q.bias) bindings.push({ storage: q.bias, access: 'read' as const });
  ctx.dispatch(sumProgram(q.bias !== null), bindings, grid(ctx, q.length), packUniforms([['u32', q.length], ['u32', q.slices], ['u32', q.offset], ['u32', q.plane], ['u32', q.m]]));
}
