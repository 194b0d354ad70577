/**
 * Counter-based random numbers and randperm, bit-identical to src/tensor/counter-rng.ts.
 *
 * mix32/randomBits are the same u32 steps (WGSL u32 multiplication and addition wrap mod 2^32 like
 * Math.imul/>>>0), so uniforms match the CPU exactly. Normals use Box-Muller with our own log and
 * cos: WGSL's built-ins only promise about 2^-11 absolute error for cos and lose relative accuracy
 * of log near 1, while these keep a few float32 ulps, i.e. ~1e-6 from the CPU's float64 result.
 *
 * randperm sorts (randomBits(key, i), i) pairs ascending with a bitonic sort over the next power of
 * two (padding pairs carry key 0xffffffff and an index >= n, so they sort last). On GPUs, steps
 * whose compare distance fits a 512-element block run together in workgroup memory, one dispatch
 * per merge size, and larger distances get one dispatch per step; CPU-emulated adapters run every
 * step as its own dispatch (no barriers).
 */
import type { Storage } from '../tensor/backend.js';
import type { GpuContext, GpuProgram } from '../backends/webgpu/context.js';
import { grid1d } from '../backends/webgpu/context.js';
import { streamKey } from '../tensor/counter-rng.js';
import { grid, main1d, packUniforms, uniformStruct } from './common.js';
import { releaseTemporary } from './elementwise.js';

const RANDOM_BITS = /* wgsl */ `
fn mix32(x0: u32) -> u32 {
  var x = x0;
  x = x ^ (x >> 16u);
  x = x * 0x7feb352du;
  x = x ^ (x >> 15u);
  x = x * 0x846ca68bu;
  x = x ^ (x >> 16u);
  return x;
}
fn randomBits(key: u32, i: u32) -> u32 { return mix32(mix32(i ^ key) + key); }
`;

const NORMAL_HELPERS = /* wgsl */ `
// log of a positive normal float: x = 2^e * f with f in [sqrt(1/2), sqrt(2)), log f by the atanh
// series in s = (f-1)/(f+1) (f-1 is exact), ln 2 split in a high part exact in products with e.
fn logPositive(x: f32) -> f32 {
  let bits = bitcast<u32>(x);
  var e = i32(bits >> 23u) - 127;
  var f = bitcast<f32>((bits & 0x007fffffu) | 0x3f800000u);
  if (f > 1.41421356) { f = f * 0.5; e = e + 1; }
  let s = (f - 1.0) / (f + 1.0);
  let s2 = s * s;
  let series = s * (2.0 + s2 * (0.6666666667 + s2 * (0.4 + s2 * (0.2857142857 + s2 * (0.2222222222 + s2 * 0.1818181818)))));
  let fe = f32(e);
  return fe * 0.693145751953125 + (fe * 1.428606765330187e-6 + series);
}
// cos(2 pi m / 2^24) for integer m in [0, 2^24): exact reduction to the nearest quarter turn, then
// Taylor polynomials on |theta| <= pi/4.
fn cosTurn(m: u32) -> f32 {
  let quarter = (m + 0x200000u) >> 22u;
  let theta = f32(i32(m) - i32(quarter << 22u)) * 3.7450702e-7;
  let t2 = theta * theta;
  let c = 1.0 + t2 * (-0.5 + t2 * (0.041666668 + t2 * (-0.0013888889 + t2 * (2.4801587e-5 + t2 * -2.7557319e-7))));
  let s = theta * (1.0 + t2 * (-0.16666667 + t2 * (0.008333334 + t2 * (-0.0001984127 + t2 * 2.7557319e-6))));
  switch (quarter & 3u) {
    case 0u: { return c; }
    case 1u: { return -s; }
    case 2u: { return -c; }
    default: { return s; }
  }
}
`;

function randomProgram(kind: 'uniform' | 'normal'): GpuProgram {
  const value = kind === 'uniform'
    ? 'f32(randomBits(u.key, u.counter + idx) >> 8u) * 5.9604645e-8'
    : `sqrt(-2.0 * logPositive(f32((randomBits(u.key, 2u * i) >> 8u) + 1u) * 5.9604645e-8)) * cosTurn(randomBits(u.key, 2u * i + 1u) >> 8u)`;
  return {
    key: `random_${kind}`,
    wgsl: () => `
${RANDOM_BITS}
${kind === 'normal' ? NORMAL_HELPERS : ''}
${uniformStruct('U', [['n', 'u32'], ['key', 'u32'], ['counter', 'u32']])}
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> u: U;
${main1d()}
  if (idx >= u.n) { return; }
  let i = u.counter + idx;
  out[idx] = ${value};
}`,
  };
}

/** Element j is position (counter + j) mod 2^32 of stream `seed`, as uniformAt/normalAt. */
export function random(ctx: GpuContext, kind: 'uniform' | 'normal', length: number, seed: number, counter: number): Storage {
  const out = ctx.alloc(length, 'float32');
  if (length === 0) return out;
  const uniforms = packUniforms([['u32', length], ['u32', streamKey(seed >>> 0)], ['u32', counter >>> 0]]);
  ctx.dispatch(randomProgram(kind), [{ storage: out, access: 'read_write' }], grid(ctx, length), uniforms);
  return out;
}

// ---- randperm ------------------------------------------------------------------------------------

/** Elements a workgroup sorts in workgroup memory (two per thread). */
const BLOCK = 512;
const HALF_BLOCK = BLOCK / 2;

/** The work buffer holds keys in [0, p) and indices in [p, 2p). */
const initProgram: GpuProgram = {
  key: 'randperm_init',
  wgsl: () => `
${RANDOM_BITS}
${uniformStruct('U', [['n', 'u32'], ['p', 'u32'], ['key', 'u32']])}
@group(0) @binding(0) var<storage, read_write> work: array<u32>;
@group(0) @binding(1) var<uniform> u: U;
${main1d()}
  if (idx >= u.p) { return; }
  work[idx] = select(0xffffffffu, randomBits(u.key, idx), idx < u.n);
  work[u.p + idx] = idx;
}`,
};

/** WGSL: whether pair a should come after pair b. */
const AFTER = 'fn after(ka: u32, ia: u32, kb: u32, ib: u32) -> bool { return ka > kb || (ka == kb && ia > ib); }';

/** One compare-exchange step at distance j of the bitonic merge of size k: a thread per pair. */
const globalStepProgram: GpuProgram = {
  key: 'randperm_step',
  wgsl: () => `
${AFTER}
${uniformStruct('U', [['pairs', 'u32'], ['p', 'u32'], ['j', 'u32'], ['k', 'u32']])}
@group(0) @binding(0) var<storage, read_write> work: array<u32>;
@group(0) @binding(1) var<uniform> u: U;
${main1d()}
  if (idx >= u.pairs) { return; }
  // Insert a zero bit at j's position: i is the lower element of the pair, l = i + j its partner.
  let low = idx & (u.j - 1u);
  let i = ((idx - low) << 1u) | low;
  let l = i | u.j;
  if (l >= u.p) { return; }
  let ascending = (i & u.k) == 0u;
  let ki = work[i];
  let kl = work[l];
  let ii = work[u.p + i];
  let il = work[u.p + l];
  if (after(ki, ii, kl, il) == ascending) {
    work[i] = kl;
    work[l] = ki;
    work[u.p + i] = il;
    work[u.p + l] = ii;
  }
}`,
};

/**
 * Within each BLOCK-element block: for merge sizes k = kLo, 2kLo, ..., kHi, every compare distance
 * j from min(k/2, BLOCK/2) down to 1 (global bitonic order, since ascending depends on global i & k).
 */
const localStepsProgram: GpuProgram = {
  key: `randperm_local_${BLOCK}`,
  wgsl: () => `
${AFTER}
${uniformStruct('U', [['p', 'u32'], ['kLo', 'u32'], ['kHi', 'u32']])}
@group(0) @binding(0) var<storage, read_write> work: array<u32>;
@group(0) @binding(1) var<uniform> u: U;
var<workgroup> sk: array<u32, ${BLOCK}>;
var<workgroup> si: array<u32, ${BLOCK}>;
@compute @workgroup_size(${HALF_BLOCK})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let blockBase = (wid.y * nwg.x + wid.x) * ${BLOCK}u;
  // Uniform across the workgroup, so returning before the barriers is allowed.
  if (blockBase >= u.p) { return; }
  for (var e = lid; e < ${BLOCK}u; e += ${HALF_BLOCK}u) {
    if (blockBase + e < u.p) {
      sk[e] = work[blockBase + e];
      si[e] = work[u.p + blockBase + e];
    }
  }
  workgroupBarrier();
  for (var k = u.kLo; k <= u.kHi; k = k << 1u) {
    for (var j = min(k >> 1u, ${HALF_BLOCK}u); j > 0u; j = j >> 1u) {
      let low = lid & (j - 1u);
      let i = ((lid - low) << 1u) | low;
      let l = i | j;
      if (blockBase + l < u.p) {
        let ascending = ((blockBase + i) & k) == 0u;
        let ki = sk[i];
        let kl = sk[l];
        let ii = si[i];
        let il = si[l];
        if (after(ki, ii, kl, il) == ascending) {
          sk[i] = kl;
          sk[l] = ki;
          si[i] = il;
          si[l] = ii;
        }
      }
      workgroupBarrier();
    }
  }
  for (var e = lid; e < ${BLOCK}u; e += ${HALF_BLOCK}u) {
    if (blockBase + e < u.p) {
      work[blockBase + e] = sk[e];
      work[u.p + blockBase + e] = si[e];
    }
  }
}`,
};

const extractProgram: GpuProgram = {
  key: 'randperm_extract',
  wgsl: () => `
${uniformStruct('U', [['n', 'u32'], ['p', 'u32']])}
@group(0) @binding(0) var<storage, read> work: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<uniform> u: U;
${main1d()}
  if (idx >= u.n) { return; }
  out[idx] = work[u.p + idx];
}`,
};

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Equals randpermHost(n, seed). */
export function randperm(ctx: GpuContext, n: number, seed: number): Storage {
  if (!Number.isInteger(n) || n < 0) throw new Error(`randperm: n must be a non-negative integer, got ${n}`);
  const out = ctx.alloc(n, 'int32');
  if (n === 0) return out;
  const p = nextPowerOfTwo(n);
  const work = ctx.alloc(2 * p, 'int32');
  const rw = [{ storage: work, access: 'read_write' as const }];
  const maxDim = ctx.limits.maxComputeWorkgroupsPerDimension;
  const blocks = grid1d(Math.ceil(p / BLOCK), maxDim);
  ctx.dispatch(initProgram, rw, grid(ctx, p), packUniforms([['u32', n], ['u32', p], ['u32', streamKey(seed >>> 0)]]));
  const globalStep = (j: number, k: number): void => {
    ctx.dispatch(globalStepProgram, rw, grid(ctx, p / 2), packUniforms([['u32', p / 2], ['u32', p], ['u32', j], ['u32', k]]));
  };
  if (!ctx.preferWorkgroupMemory) {
    // CPU-emulated adapters: barriers cost far more than dispatches (50000 elements on SwiftShader:
    // 0.13 s with only global steps, 3 s with the workgroup-memory steps).
    for (let k = 2; k <= p; k *= 2) for (let j = k / 2; j >= 1; j /= 2) globalStep(j, k);
  } else {
    if (p >= 2) ctx.dispatch(localStepsProgram, rw, blocks, packUniforms([['u32', p], ['u32', 2], ['u32', Math.min(p, BLOCK)]]));
    for (let k = 2 * BLOCK; k <= p; k *= 2) {
      for (let j = k / 2; j >= BLOCK; j /= 2) globalStep(j, k);
      ctx.dispatch(localStepsProgram, rw, blocks, packUniforms([['u32', p], ['u32', k], ['u32', k]]));
    }
  }
  ctx.dispatch(extractProgram, [
    { storage: work, access: 'read' },
    { storage: out, access: 'read_write' },
  ], grid(ctx, n), packUniforms([['u32', n], ['u32', p]]));
  releaseTemporary(ctx, work);
  return out;
}
