/**
 * Backward-data of a strided convolution, one output phase at a time (the sub-pixel form).
 *
 * Along one axis with stride s, padding p and kernel k, input position i = s*j + r (phase r < s)
 * receives gradient only through the taps ky = k0 + s*t with k0 = (r + p) mod s:
 *   dx[s*j + r] = sum over t < T of dy[j + d - t] * w[k0 + s*t],   d = floor((r + p) / s),
 * a stride-1 correlation of dy (shifted by T-1-d) with a flipped sub-kernel of T = ceil((k - k0) / s)
 * taps. The plain way spreads dy onto a stride-1 grid that is (s-1)/s zeros per axis and convolves
 * it with the whole kernel, so a 3x3 stride-2 layer does 4x the multiply-adds it needs (36 per
 * output position instead of 9, over the four phases) and its gathers mostly fetch zeros. Per phase
 * this file provides the axis plan, the sub-kernel gather and the interleaving write; conv2d.ts runs
 * each phase's GEMM with the ordinary stride-1 im2col kernel.
 */
import type { Storage } from '../tensor/backend.js';
import type { GpuContext } from '../backends/webgpu/context.js';
import { grid, main1d, packUniforms, uniformStruct } from './common.js';

/** One phase along one axis. */
export interface AxisPhase {
  /** First kernel tap that reaches this phase. */
  k0: number;
  /** Taps k0, k0 + s, ... inside the kernel (0: the phase gets no gradient at all). */
  taps: number;
  /** Input positions r, r + s, ... inside the input. */
  count: number;
  /** Where dy[0] sits in the phase's stride-1 source (T - 1 - d; may be negative). */
  off: number;
}

export function axisPhase(size: number, k: number, s: number, pad: number, r: number): AxisPhase {
  const k0 = (r + pad) % s;
  const taps = k0 < k ? Math.ceil((k - k0) / s) : 0;
  const d = Math.floor((r + pad) / s);
  const count = r < size ? Math.ceil((size - r) / s) : 0;
  return { k0, taps, count, off: taps - 1 - d };
}

const GATHER_FIELDS: Array<[string, 'u32']> = [
  ['total', 'u32'], ['kh', 'u32'], ['kw', 'u32'], ['th', 'u32'],
  ['tw', 'u32'], ['k0y', 'u32'], ['k0x', 'u32'], ['sh', 'u32'], ['sw', 'u32'],
];

const gatherProgram = {
  key: 'conv-phase-kernel',
  wgsl: () => `${uniformStruct('U', GATHER_FIELDS)}
@group(0) @binding(0) var<storage, read> W: array<f32>;
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
@group(0) @binding(2) var<uniform> u: U;
${main1d()}
  if (idx >= u.total) { return; }
  let tx = idx % u.tw;
  let ty = (idx / u.tw) % u.th;
  let plane = idx / (u.tw * u.th);
  O[idx] = W[(plane * u.kh + u.k0y + u.sh * ty) * u.kw + u.k0x + u.sw * tx];
}`,
};

/** wp[co][ci][ty][tx] = w[co][ci][k0y + sh*ty][k0x + sw*tx]: the taps one phase uses. */
export function gatherPhaseKernel(ctx: GpuContext, w: Storage, planes: number, kh: number, kw: number, sh: number, sw: number, py: AxisPhase, px: AxisPhase): Storage {
  const total = planes * py.taps * px.taps;
  const out = ctx.alloc(total, 'float32');
  if (total === 0) return out;
  const values = [total, kh, kw, py.taps, px.taps, py.k0, px.k0, sh, sw];
  ctx.dispatch(gatherProgram, [{ storage: w, access: 'read' }, { storage: out, access: 'read_write' }], grid(ctx, total),
    packUniforms(GATHER_FIELDS.map(([, t], i) => [t, values[i]!])));
  return out;
}

const SCATTER_FIELDS: Array<[string, 'u32']> = [
  ['rows', 'u32'], ['countY', 'u32'], ['countX', 'u32'], ['h', 'u32'],
  ['w', 'u32'], ['ry', 'u32'], ['rx', 'u32'], ['sh', 'u32'], ['sw', 'u32'],
];

/** One invocation per phase row (plane, j), looping along it (as the padding pass: no per-element divisions). */
function scatterProgram(zero: boolean) {
  return {
    key: `conv-phase-scatter:${zero ? 'zero' : 'copy'}`,
    wgsl: () => `${uniformStruct('U', SCATTER_FIELDS)}
${zero ? '' : '@group(0) @binding(0) var<storage, read> P: array<f32>;'}
@group(0) @binding(${zero ? 0 : 1}) var<storage, read_write> O: array<f32>;
@group(0) @binding(${zero ? 1 : 2}) var<uniform> u: U;
${main1d()}
  if (idx >= u.rows) { return; }
  let j = idx % u.countY;
  let plane = idx / u.countY;
  let dst = (plane * u.h + u.ry + u.sh * j) * u.w + u.rx;
  let src = idx * u.countX;
  for (var i = 0u; i < u.countX; i += 1u) {
    O[dst + u.sw * i] = ${zero ? '0.0' : 'P[src + i]'};
  }
}`,
  };
}

export interface ScatterArgs { planes: number; h: number; w: number; sh: number; sw: number; ry: number; rx: number; countY: number; countX: number }

/** out[plane][ry + sh*j][rx + sw*i] = phase[plane][j][i] (or 0 when `phase` is null). */
export function scatterPhase(ctx: GpuContext, phase: Storage | null, out: Storage, a: ScatterArgs): void {
  const rows = a.planes * a.countY;
  if (rows === 0 || a.countX === 0) return;
  const values = [rows, a.countY, a.countX, a.h, a.w, a.ry, a.rx, a.sh, a.sw];
  const bindings = phase ? [{ storage: phase, access: 'read' as const }, { storage: out, access: 'read_write' as const }] : [{ storage: out, access: 'read_write' as const }];
  ctx.dispatch(scatterProgram(phase === null), bindings, grid(ctx, rows), packUniforms(SCATTER_FIELDS.map(([, t], i) => [t, values[i]!])));
}
