/**
 * Bilinear grid sampling, PyTorch's F.grid_sample(mode='bilinear') with align_corners true/false
 * and padding 'zeros'/'border', and its gradient with respect to the input and the grid.
 *
 * Coordinates follow PyTorch step for step: grid value g in [-1, 1] maps to the pixel position
 * ((g + 1) / 2) * (size - 1) with align_corners, else ((g + 1) * size - 1) / 2; border padding then
 * clamps it to [0, size - 1] and, as in PyTorch, treats positions on or beyond the border as
 * clipped (zero gradient to the grid). Corners outside the image contribute nothing.
 *
 * Forward: one thread per output element. Backward: one thread per output position (n, oy, ox),
 * looping over channels, so the grid gradient (a sum over channels) is a plain deterministic loop.
 * The input gradient is a scatter whose targets depend on the grid, so an input-centric loop would
 * have to scan every output; instead each thread adds into dx with a float add emulated by a
 * compare-exchange loop on the bits (atomic<u32>). dx is therefore correct but NOT bitwise
 * deterministic when several outputs hit one input pixel: the addition order follows scheduling.
 * dgrid is deterministic.
 */
import type { GridSampleParams, Storage } from '../tensor/backend.js';
import type { GpuContext, GpuProgram } from '../backends/webgpu/context.js';
import { grid, main1d, packUniforms, uniformStruct } from './common.js';

const FIELDS: Array<[string, 'u32' | 'i32' | 'f32']> = [['total', 'u32'], ['c', 'u32'], ['h', 'u32'], ['w', 'u32'], ['outH', 'u32'], ['outW', 'u32']];

function uniforms(p: GridSampleParams, total: number): ArrayBuffer {
  return packUniforms([['u32', total], ['u32', p.c], ['u32', p.h], ['u32', p.w], ['u32', p.outH], ['u32', p.outW]]);
}

/**
 * WGSL: `source(coord, size)` -> (pixel position, d position / d coord), and `Corners`, the four
 * bilinear neighbours of a position with their weights and in-bounds flags.
 */
function samplingWgsl(alignCorners: boolean, border: boolean): string {
  const unnormalize = alignCorners
    ? 'let pos = ((coord + 1.0) / 2.0) * (size - 1.0);\n  let scale = (size - 1.0) / 2.0;'
    : 'let pos = ((coord + 1.0) * size - 1.0) / 2.0;\n  let scale = size / 2.0;';
  const clip = border
    ? `  if (pos <= 0.0) { return vec2<f32>(0.0, 0.0); }
  if (pos >= size - 1.0) { return vec2<f32>(size - 1.0, 0.0); }`
    : '';
  return `
fn source(coord: f32, size: f32) -> vec2<f32> {
  ${unnormalize}
${clip}
  return vec2<f32>(pos, scale);
}

struct Corners {
  // Offsets in the plane of the nw, ne, sw, se neighbours; valid only where inside is true.
  offset: vec4<u32>,
  inside: vec4<bool>,
  weight: vec4<f32>,
  // Position and its floor, kept for the grid gradient.
  ix: f32, iy: f32, x0: f32, y0: f32,
}

fn corners(ix: f32, iy: f32) -> Corners {
  let x0 = floor(ix);
  let y0 = floor(iy);
  let x1 = x0 + 1.0;
  let y1 = y0 + 1.0;
  let wf = f32(u.w);
  let hf = f32(u.h);
  // Bounds are tested in float so huge or non-finite positions never reach an integer cast.
  var inX0 = x0 >= 0.0 && x0 <= wf - 1.0;
  var inX1 = x1 >= 0.0 && x1 <= wf - 1.0;
  var inY0 = y0 >= 0.0 && y0 <= hf - 1.0;
  var inY1 = y1 >= 0.0 && y1 <= hf - 1.0;
  let cx0 = u32(select(0.0, x0, inX0));
  let cx1 = u32(select(0.0, x1, inX1));
  let cy0 = u32(select(0.0, y0, inY0));
  let cy1 = u32(select(0.0, y1, inY1));
  // Above 2^24 pixels a side, f32(u.w) - 1.0 rounds, so the float test alone could admit w or w + 1: recheck in integers.
  inX0 = inX0 && cx0 < u.w;
  inX1 = inX1 && cx1 < u.w;
  inY0 = inY0 && cy0 < u.h;
  inY1 = inY1 && cy1 < u.h;
  var k: Corners;
  k.offset = vec4<u32>(cy0 * u.w + cx0, cy0 * u.w + cx1, cy1 * u.w + cx0, cy1 * u.w + cx1);
  k.inside = vec4<bool>(inY0 && inX0, inY0 && inX1, inY1 && inX0, inY1 && inX1);
  k.weight = vec4<f32>((x1 - ix) * (y1 - iy), (ix - x0) * (y1 - iy), (x1 - ix) * (iy - y0), (ix - x0) * (iy - y0));
  k.ix = ix;
  k.iy = iy;
  k.x0 = x0;
  k.y0 = y0;
  return k;
}`;
}

function variant(p: GridSampleParams): string {
  return `${p.alignCorners ? 'align' : 'noalign'}-${p.padding}`;
}

function forwardProgram(p: GridSampleParams): GpuProgram {
  return {
    key: `grid-sample-${variant(p)}`,
    wgsl: () => `${uniformStruct('U', FIELDS)}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
${samplingWgsl(p.alignCorners, p.padding === 'border')}
${main1d()}
  if (idx >= u.total) { return; }
  let ox = idx % u.outW;
  let oy = (idx / u.outW) % u.outH;
  let plane = idx / (u.outW * u.outH);
  let n = plane / u.c;
  let gi = ((n * u.outH + oy) * u.outW + ox) * 2u;
  let k = corners(source(g[gi], f32(u.w)).x, source(g[gi + 1u], f32(u.h)).x);
  let base = plane * u.h * u.w;
  var acc = 0.0;
  for (var q = 0u; q < 4u; q++) {
    if (k.inside[q]) { acc += x[base + k.offset[q]] * k.weight[q]; }
  }
  dst[idx] = acc;
}`,
  };
}

const zeroProgram: GpuProgram = {
  key: 'grid-sample-zero',
  wgsl: () => `${uniformStruct('U', FIELDS)}
@group(0) @binding(0) var<storage, read_write> dst: array<u32>;
@group(0) @binding(1) var<uniform> u: U;
${main1d()}
  if (idx < u.total) { dst[idx] = 0u; }
}`,
};

function backwardProgram(p: GridSampleParams): GpuProgram {
  return {
    key: `grid-sample-backward-${variant(p)}`,
    wgsl: () => `${uniformStruct('U', FIELDS)}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> dgrid: array<f32>;
@group(0) @binding(5) var<uniform> u: U;
${samplingWgsl(p.alignCorners, p.padding === 'border')}

/** dx[i] += v, retrying until no other invocation changed dx[i] in between. */
fn addToDx(i: u32, v: f32) {
  var old = atomicLoad(&dx[i]);
  loop {
    let r = atomicCompareExchangeWeak(&dx[i], old, bitcast<u32>(bitcast<f32>(old) + v));
    if (r.exchanged) { break; }
    old = r.old_value;
  }
}

${main1d()}
  // Here total counts output positions n * outH * outW; each thread loops over the channels.
  if (idx >= u.total) { return; }
  let ox = idx % u.outW;
  let oy = (idx / u.outW) % u.outH;
  let n = idx / (u.outW * u.outH);
  let gi = idx * 2u;
  let sx = source(g[gi], f32(u.w));
  let sy = source(g[gi + 1u], f32(u.h));
  let k = corners(sx.x, sy.x);
  // d weight / d ix and d weight / d iy for nw, ne, sw, se.
  let y1 = k.y0 + 1.0;
  let x1 = k.x0 + 1.0;
  let dwx = vec4<f32>(-(y1 - k.iy), y1 - k.iy, -(k.iy - k.y0), k.iy - k.y0);
  let dwy = vec4<f32>(-(x1 - k.ix), -(k.ix - k.x0), x1 - k.ix, k.ix - k.x0);
  let outPlane = u.outH * u.outW;
  let inPlane = u.h * u.w;
  var gix = 0.0;
  var giy = 0.0;
  for (var ch = 0u; ch < u.c; ch++) {
    let plane = n * u.c + ch;
    let gOut = dy[plane * outPlane + oy * u.outW + ox];
    let base = plane * inPlane;
    for (var q = 0u; q < 4u; q++) {
      if (k.inside[q]) {
        let v = x[base + k.offset[q]];
        gix += v * dwx[q] * gOut;
        giy += v * dwy[q] * gOut;
        addToDx(base + k.offset[q], k.weight[q] * gOut);
      }
    }
  }
  dgrid[gi] = sx.y * gix;
  dgrid[gi + 1u] = sy.y * giy;
}`,
  };
}

function check(what: string, p: GridSampleParams, tensors: Array<[string, Storage, number]>): void {
  for (const k of ['n', 'c', 'h', 'w', 'outH', 'outW'] as const) {
    if (!Number.isInteger(p[k]) || p[k] < 0) throw new Error(`${what}: ${k} must be a non-negative integer, got ${p[k]}`);
  }
  for (const [name, s, length] of tensors) {
    if (s.dtype !== 'float32' || s.length !== length) throw new Error(`${what}: ${name} must be float32 with ${length} elements, got ${s.dtype} with ${s.length}`);
  }
}

export function gridSample(ctx: GpuContext, x: Storage, g: Storage, p: GridSampleParams): Storage {
  check('gridSample', p, [['x', x, p.n * p.c * p.h * p.w], ['grid', g, p.n * p.outH * p.outW * 2]]);
  const total = p.n * p.c * p.outH * p.outW;
  const out = ctx.alloc(total, 'float32');
  if (total === 0) return out;
  ctx.dispatch(forwardProgram(p), [
    { storage: x, access: 'read' }, { storage: g, access: 'read' }, { storage: out, access: 'read_write' },
  ], grid(ctx, total), uniforms(p, total));
  return out;
}

export function gridSampleBackward(ctx: GpuContext, dy: Storage, x: Storage, g: Storage, p: GridSampleParams): { dx: Storage; dgrid: Storage } {
  const points = p.n * p.outH * p.outW;
  const inTotal = p.n * p.c * p.h * p.w;
  check('gridSampleBackward', p, [['dy', dy, p.n * p.c * p.outH * p.outW], ['x', x, inTotal], ['grid', g, points * 2]]);
  const dx = ctx.alloc(inTotal, 'float32');
  const dgrid = ctx.alloc(points * 2, 'float32');
  // Pooled buffers hold stale data and dx is accumulated into, so it starts from zero bits (+0.0).
  if (inTotal > 0) ctx.dispatch(zeroProgram, [{ storage: dx, access: 'read_write' }], grid(ctx, inTotal), uniforms(p, inTotal));
  if (points === 0) return { dx, dgrid };
  ctx.dispatch(backwardProgram(p), [
    { storage: dy, access: 'read' }, { storage: x, access: 'read' }, { storage: g, access: 'read' },
    { storage: dx, access: 'read_write' }, { storage: dgrid, access: 'read_write' },
  ], grid(ctx, points), uniforms(p, points));
  return { dx, dgrid };
}
