/**
 * Register-tiled GEMM for CPU-emulated adapters (SwiftShader), used by matmul and by the
 * implicit-GEMM convolutions.
 *
 * Why this shape: SwiftShader runs invocations as the lanes of 4-wide SIMD and has no uniformity
 * analysis, so every storage-buffer load whose index is computed at run time becomes a per-lane
 * gather (tens of instructions), while a load from workgroup memory at a compile-time-constant
 * index is one scalar load broadcast to all lanes. Measured at 1024^3: register tiles that gather
 * both operands peak near 1.8 GFLOP/s; moving A to broadcast loads more than doubles that. So:
 *
 * - A workgroup owns TM rows and WG*TN columns. Per k chunk of KC it stages A[TM rows][KC] into
 *   workgroup memory (a few elements per thread) together with the k part of B's offsets.
 * - Each thread owns TN columns (strided by WG so neighbouring lanes touch neighbouring
 *   addresses) and keeps TM*TN accumulators. The KC loop is unrolled, so every A read and every
 *   k-offset read is a constant-index broadcast, and the only gathers left are TN loads of B per
 *   k, each reused TM times.
 *
 * B's address must split into kOffB(z, k) + nOffB(z, n) (true for matmul in either layout and for
 * the implicit im2col of a padded input), so B is never materialised.
 *
 * The generated shader expects from `spec.declarations`: uniforms `u` with m, n, tilesN, tilesM
 * and the problem count, storage `B: array<f32>`, and WGSL functions
 *   fn loadA(z: u32, m: u32, k: u32) -> f32      called only in range
 *   fn kOffB(z: u32, k: u32) -> u32              called only for k in kRange(z)
 *   fn nOffB(z: u32, n: u32) -> u32              called only for n < u.n
 *   fn storeC(z: u32, m: u32, n: u32, v: f32)    called only in range
 *   fn kRange(z: u32) -> vec2<u32>               [begin, end) of the reduction for problem z
 */
import type { GpuProgram } from '../backends/webgpu/context.js';
import { uniformStruct } from './common.js';

export interface RegisterConfig {
  /** Rows per workgroup (each thread accumulates all of them). */
  tm: number;
  /** Columns per thread. */
  tn: number;
  /** Threads per workgroup. */
  workgroupSize: number;
  /** k chunk staged per barrier pair; the unrolled inner loop has this many steps. */
  kc: number;
}

export interface GemmSpec {
  declarations: string;
  m?: string;
  n?: string;
  problems?: string;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

export function registerGemmWgsl(spec: GemmSpec, cfg: RegisterConfig): string {
  const { tm, tn, workgroupSize: wg, kc } = cfg;
  const M = spec.m ?? 'u.m';
  const N = spec.n ?? 'u.n';
  const problems = spec.problems ?? 'u.batch';
  const rows = range(tm);
  const cols = range(tn);
  const stageA = range(Math.ceil((tm * kc) / wg)).map((s) => {
    const e = `lid + ${s * wg}u`;
    const guard = (tm * kc) % wg === 0 || (s + 1) * wg <= tm * kc ? '' : `if (${e} < ${tm * kc}u) `;
    return `${guard}{
      let r = (${e}) / ${kc}u;
      let kk = (${e}) % ${kc}u;
      var v = 0.0;
      if (i0 + r < ${M} && k0 + kk < kr.y) { v = loadA(z, i0 + r, k0 + kk); }
      As[${e}] = v;
    }`;
  });
  const stageK = range(Math.ceil(kc / wg)).map((s) => {
    const e = `lid + ${s * wg}u`;
    return `if (${e} < ${kc}u) { Ko[${e}] = kOffB(z, min(k0 + ${e}, kr.y - 1u)); }`;
  });
  const inner = range(kc).map((kk) => {
    const lines = [`let ko${kk} = Ko[${kk}];`];
    for (const t of cols) lines.push(process.env.HACKB ? `let b${kk}_${t} = B[${kk * tn + t}u];` : `let b${kk}_${t} = B[ko${kk} + nOff${t}];`);
    for (const r of rows) {
      lines.push(process.env.HACKA ? `let a${kk}_${r} = f32(${r}) * 0.001;` : `let a${kk}_${r} = As[${r * kc + kk}];`);
      for (const t of cols) lines.push(`acc${r}_${t} += a${kk}_${r} * b${kk}_${t};`);
    }
    return lines.join('\n    ');
  });
  const store = rows.map((r) => cols.map((t) =>
    `if (i0 + ${r}u < ${M} && col${t} < ${N}) { storeC(z, i0 + ${r}u, col${t}, acc${r}_${t}); }`).join('\n  ')).join('\n  ');

  return `${spec.declarations}
var<workgroup> As: array<f32, ${tm * kc}>;
var<workgroup> Ko: array<u32, ${kc}>;

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let wgi = wid.y * nwg.x + wid.x;
  let tileN = wgi % u.tilesN;
  let rest = wgi / u.tilesN;
  let tileM = rest % u.tilesM;
  let z = rest / u.tilesM;
  // Uniform per workgroup, so returning keeps the barriers below in uniform control flow.
  if (z >= ${problems}) { return; }
  let i0 = tileM * ${tm}u;
  let j0 = tileN * ${wg * tn}u;
  ${cols.map((t) => `let col${t} = j0 + ${t * wg}u + lid;`).join('\n  ')}
  ${cols.map((t) => `let nOff${t} = nOffB(z, min(col${t}, ${N} - 1u));`).join('\n  ')}
  ${rows.map((r) => cols.map((t) => `var acc${r}_${t} = 0.0;`).join(' ')).join('\n  ')}
  let kr = kRange(z);
  for (var k0 = kr.x; k0 < kr.y; k0 += ${kc}u) {
    ${stageA.join('\n    ')}
    ${stageK.join('\n    ')}
    ${process.env.NOBAR ? "" : "workgroupBarrier();"}
    ${inner.join('\n    ')}
    ${process.env.NOBAR ? "" : "workgroupBarrier();"}
  }
  ${store}
}
`;
}

export const MATMUL_UNIFORMS: Array<[string, 'u32']> = [
  ['m', 'u32'], ['n', 'u32'], ['k', 'u32'], ['batch', 'u32'],
  ['strideA', 'u32'], ['strideB', 'u32'], ['tilesN', 'u32'], ['tilesM', 'u32'],
];

export function matmulRegisterProgram(transA: boolean, transB: boolean, cfg: RegisterConfig): GpuProgram {
  const key = `matmul-reg:${cfg.tm}x${cfg.tn}:wg${cfg.workgroupSize}:kc${cfg.kc}:tA${+transA}:tB${+transB}`;
  return {
    key,
    wgsl: () => registerGemmWgsl({
      declarations: `${uniformStruct('U', MATMUL_UNIFORMS)}
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
fn loadA(z: u32, m: u32, k: u32) -> f32 { return A[z * u.strideA + ${transA ? 'k * u.m + m' : 'm * u.k + k'}]; }
fn kOffB(z: u32, k: u32) -> u32 { return ${transB ? 'k' : 'k * u.n'}; }
fn nOffB(z: u32, n: u32) -> u32 { return z * u.strideB + ${transB ? 'n * u.k' : 'n'}; }
fn storeC(z: u32, m: u32, n: u32, v: f32) { O[(z * u.m + m) * u.n + n] = v; }
fn kRange(z: u32) -> vec2<u32> { return vec2<u32>(0u, u.k); }`,
    }, cfg),
  };
}
