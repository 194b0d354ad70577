/**
 * Workgroup-memory tiled GEMM, the form that wins on real GPUs: a 256-thread workgroup computes a
 * 64x64 output tile, staging 16-deep slices of A and B through workgroup memory (8 KiB) so each
 * global element is read once per tile instead of once per thread; every thread then accumulates
 * a 4x4 block from workgroup memory.
 *
 * The core is generic over where the operands come from: each user (matmul, the implicit-GEMM
 * convolutions) supplies WGSL functions
 *   fn loadA(z: u32, m: u32, k: u32) -> f32      A(m, k) of problem z, called only in range
 *   fn loadB(z: u32, k: u32, n: u32) -> f32      B(k, n)
 *   fn storeC(z: u32, m: u32, n: u32, v: f32)     called only in range
 *   fn kRange(z: u32) -> vec2<u32>                the [begin, end) of k this problem sums over
 * plus uniforms with at least m, n, problems, tilesN, tilesM.
 */
import type { GpuProgram } from '../backends/webgpu/context.js';
import { uniformStruct } from './common.js';
import { MATMUL_UNIFORMS } from './matmul-register.js';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const indent = (text: string, spaces = 2) => text.split('\n').map((l) => (l ? ' '.repeat(spaces) + l : l)).join('\n');

export const SHARED_TILE = { bm: 64, bn: 64, bk: 16, threads: 256 } as const;

export interface SharedGemmSpec {
  /** WGSL: bindings, uniform struct `u`, and the four functions above. */
  declarations: string;
  /** Uniform field names for the sizes (defaults: u.m, u.n, u.batch). */
  m?: string;
  n?: string;
  problems?: string;
  /** Which axis of A (of B) is contiguous in memory, so consecutive threads load consecutive addresses. */
  aContiguous: 'm' | 'k';
  bContiguous: 'k' | 'n';
}

export function sharedGemmWgsl(spec: SharedGemmSpec): string {
  const { bm, bn, bk, threads } = SHARED_TILE;
  const M = spec.m ?? 'u.m';
  const N = spec.n ?? 'u.n';
  const problems = spec.problems ?? 'u.batch';
  const loadsPerThread = (bm * bk) / threads;
  const tileLoad = (which: 'A' | 'B'): string => {
    const lines: string[] = [];
    for (const s of range(loadsPerThread)) {
      const e = `lid + ${s * threads}u`;
      const outer = which === 'A' ? bm : bn;
      const alongK = which === 'A' ? spec.aContiguous === 'k' : spec.bContiguous === 'k';
      const kk = alongK ? `(${e}) % ${bk}u` : `(${e}) / ${outer}u`;
      const oo = alongK ? `(${e}) / ${bk}u` : `(${e}) % ${outer}u`;
      const limit = which === 'A' ? M : N;
      const base = which === 'A' ? 'm0' : 'n0';
      const call = which === 'A' ? 'loadA(z, o, k)' : 'loadB(z, k, o)';
      lines.push(`{
  let kk = ${kk};
  let oo = ${oo};
  let k = k0 + kk;
  let o = ${base} + oo;
  var v = 0.0;
  if (k < kr.y && o < ${limit}) { v = ${call}; }
  ${which}s[kk * ${outer / 4}u + oo / 4u][oo % 4u] = v;
}`);
    }
    return lines.join('\n');
  };
  const acc = range(4).map((r) => `var acc${r} = vec4<f32>(0.0);`).join('\n');
  const inner = range(bk).map((kk) => `{
  let a = As[${kk * (bm / 4)}u + ty];
  let b = Bs[${kk * (bn / 4)}u + tx];
${range(4).map((r) => `  acc${r} += a[${r}] * b;`).join('\n')}
}`).join('\n');
  const store = range(4).map((r) => range(4).map((c) =>
    `if (m0 + ty * 4u + ${r}u < ${M} && n0 + tx * 4u + ${c}u < ${N}) { storeC(z, m0 + ty * 4u + ${r}u, n0 + tx * 4u + ${c}u, acc${r}[${c}]); }`).join('\n')).join('\n');
  return `${spec.declarations}
var<workgroup> As: array<vec4<f32>, ${(bm * bk) / 4}>;
var<workgroup> Bs: array<vec4<f32>, ${(bn * bk) / 4}>;

@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let wg = wid.y * nwg.x + wid.x;
  let tileN = wg % u.tilesN;
  let rest = wg / u.tilesN;
  let tileM = rest % u.tilesM;
  let z = rest / u.tilesM;
  // Uniform per workgroup, so returning here keeps every barrier below in uniform control flow.
  if (z >= ${problems}) { return; }
  let m0 = tileM * ${bm}u;
  let n0 = tileN * ${bn}u;
  let tx = lid % ${bn / 4}u;
  let ty = lid / ${bn / 4}u;
  let kr = kRange(z);
${indent(acc)}
  for (var k0 = kr.x; k0 < kr.y; k0 += ${bk}u) {
${indent(tileLoad('A'), 4)}
${indent(tileLoad('B'), 4)}
    workgroupBarrier();
${indent(inner, 4)}
    workgroupBarrier();
  }
${indent(store)}
}
`;
}

/** Matmul through the shared core. */
export function matmulSharedProgram(transA: boolean, transB: boolean): GpuProgram {
  const key = `matmul-shared:tA${+transA}:tB${+transB}`;
  return {
    key,
    wgsl: () => sharedGemmWgsl({
      declarations: `${uniformStruct('U', MATMUL_UNIFORMS)}
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
fn loadA(z: u32, m: u32, k: u32) -> f32 { return A[z * u.strideA + ${transA ? 'k * u.m + m' : 'm * u.k + k'}]; }
fn loadB(z: u32, k: u32, n: u32) -> f32 { return B[z * u.strideB + ${transB ? 'n * u.k + k' : 'k * u.n + n'}]; }
fn storeC(z: u32, m: u32, n: u32, v: f32) { O[(z * u.m + m) * u.n + n] = v; }
fn kRange(z: u32) -> vec2<u32> { return vec2<u32>(0u, u.k); }`,
      aContiguous: transA ? 'm' : 'k',
      bContiguous: transB ? 'k' : 'n',
    }),
  };
}
