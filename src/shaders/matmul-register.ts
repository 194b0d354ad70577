/**
 * Register-tiled GEMM without workgroup memory: the form for CPU-emulated adapters (SwiftShader),
 * shared by matmul and the implicit-GEMM convolutions.
 *
 * What it is tuned against (measured on SwiftShader, 2 cores, bench/kernels.ts):
 * - SwiftShader runs invocations as lanes of 4-wide SIMD with no uniformity analysis, so every
 *   load at a run-time index, from storage or from workgroup memory alike, is a per-lane gather
 *   costing tens of cycles, while a multiply-add costs a few. Loads per multiply-add decide speed:
 *   each thread owns a TM x TN block and loads TM + TN elements per k for TM * TN updates.
 *   Staging A in workgroup memory does not help (its loads are gathers too) and barriers add
 *   coroutine switches, hence no workgroup memory here.
 * - Loop-carried values are merged through masked phi copies on every iteration, so the k loop is
 *   unrolled KU times to amortise that over many updates.
 * - vec4 loads are still 4 gathers each, so operands are loaded as scalars, which also lets any
 *   m, n, k and layout share one code path.
 *
 * Operand addressing is split so that per-k work is a few integer ops shared by all loads:
 * A(m, k) = A[aRow(m) + aK] and B(k, n) = B[bK + bCol(n)], where aK and bK come from a "k walker"
 * that each op defines (a counter for matmul), or from an op's own k loop (`kLoop`: the
 * convolutions, specialised per geometry in conv2d-implicit.ts). Rows and columns past the edge are clamped for loading and skipped for storing,
 * so no load is ever out of bounds and the k loop has no branches.
 */
import type { GpuProgram } from '../backends/webgpu/context.js';
import { uniformStruct } from './common.js';

export interface RegisterConfig {
  /** Rows per thread. */
  tm: number;
  /** Columns per thread. */
  tn: number;
  /** k steps per loop iteration. */
  ku: number;
  workgroupSize: number;
}

export interface RegisterGemmOps {
  /**
   * Bindings (A and B as array<f32>), uniform struct `u`, and either
   * fn storeC(z: u32, m: u32, n: u32, v: f32) or, with `cRow`/`cCol`, fn storeAt(i: u32, m: u32, v: f32).
   */
  declarations: string;
  /** WGSL expressions for the GEMM sizes and the number of independent problems (batch or split). */
  m: string;
  n: string;
  problems: string;
  /** Offset of row `m` of A / column `n` of B within problem `z` (m < M, n < N guaranteed). */
  aRow(m: string): string;
  bCol(n: string): string;
  /**
   * The k loop, given `step(aK, bK)` (one k step's loads and multiply-adds as a block, from WGSL
   * expressions for the two offsets). Ops whose k index decomposes into nested counters emit their
   * own nest here with compile-time inner offsets, instead of paying a walker per k step. A loop
   * may also do its own loads and updates (to load an operand value once for several k steps):
   * the thread's rows and columns are at A[aRow{r} + aK] and B[bK + bCol{t}] and its sums are the
   * `var`s acc{r}_{t}, for r < tm and t < tn.
   */
  kLoop?: (step: (aK: string, bK: string) => string, cfg: RegisterConfig) => string;
  /** Without kLoop: [begin, end) of k for problem `z`, as a vec2<u32> expression ... */
  kRange?: string;
  /** ... statements declaring the walker's `var`s positioned at k = `kBegin` ... */
  walkerInit?(kBegin: string): string;
  /** ... statements defining `let aK` and `let bK` for the current k ... */
  walkerOffsets?: string;
  /** ... and statements moving the walker to k + 1. */
  walkerAdvance?: string;
  /**
   * Optional split of C's offset into row + column parts, computed once per thread so that the
   * TM x TN stores need no index arithmetic (no divisions) of their own; stores go to storeAt.
   */
  cRow?(m: string): string;
  cCol?(n: string): string;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

export function registerGemmWgsl(ops: RegisterGemmOps, cfg: RegisterConfig): string {
  const { tm, tn, ku, workgroupSize } = cfg;
  const rows = range(tm);
  const cols = range(tn);
  const math = [
    ...rows.map((r) => `let a${r} = A[aRow${r} + aK];`),
    ...cols.map((t) => `let b${t} = B[bK + bCol${t}];`),
    ...rows.flatMap((r) => cols.map((t) => `acc${r}_${t} += a${r} * b${t};`)),
  ];
  let loop: string;
  if (ops.kLoop) {
    loop = ops.kLoop((aK, bK) => `{\n${[`let aK = ${aK};`, `let bK = ${bK};`, ...math].map((l) => `  ${l}`).join('\n')}\n}`, cfg);
  } else {
    if (!ops.kRange || !ops.walkerInit || ops.walkerOffsets === undefined || ops.walkerAdvance === undefined) {
      throw new Error('registerGemmWgsl: give either kLoop or kRange and the three walker parts');
    }
    const step = [ops.walkerOffsets, ...math, ops.walkerAdvance].join('\n      ');
    const unrolled = range(ku).map(() => `{\n      ${step}\n    }`).join('\n    ');
    loop = `let kr = ${ops.kRange};
  ${ops.walkerInit('kr.x')}
  var k = kr.x;
  for (; k + ${ku}u <= kr.y; k += ${ku}u) {
    ${unrolled}
  }
  for (; k < kr.y; k += 1u) {
    ${step}
  }`;
  }
  const split = ops.cRow && ops.cCol;
  const store = rows.flatMap((r) => cols.map((t) => {
    const inRange = `i0 + ${r}u < ${ops.m} && j0 + ${t}u < ${ops.n}`;
    return split
      ? `if (${inRange}) { storeAt(cRow${r} + cCol${t}, i0 + ${r}u, acc${r}_${t}); }`
      : `if (${inRange}) { storeC(z, i0 + ${r}u, j0 + ${t}u, acc${r}_${t}); }`;
  })).join('\n  ');
  const clampM = (r: number) => `min(i0 + ${r}u, ${ops.m} - 1u)`;
  const clampN = (t: number) => `min(j0 + ${t}u, ${ops.n} - 1u)`;
  return `${ops.declarations}

@compute @workgroup_size(${workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.y * nwg.x + wid.x) * ${workgroupSize}u + lid;
  let tileN = idx % u.tilesN;
  let rest = idx / u.tilesN;
  let tileM = rest % u.tilesM;
  let z = rest / u.tilesM;
  if (z >= ${ops.problems}) { return; }
  let i0 = tileM * ${tm}u;
  let j0 = tileN * ${tn}u;
  ${rows.map((r) => `let aRow${r} = ${ops.aRow(clampM(r))};`).join('\n  ')}
  ${cols.map((t) => `let bCol${t} = ${ops.bCol(clampN(t))};`).join('\n  ')}
  ${rows.map((r) => cols.map((t) => `var acc${r}_${t} = 0.0;`).join(' ')).join('\n  ')}
  ${loop.split('\n').join('\n  ')}
  ${split ? rows.map((r) => `let cRow${r} = ${ops.cRow!(clampM(r))};`).join('\n  ') : ''}
  ${split ? cols.map((t) => `let cCol${t} = ${ops.cCol!(clampN(t))};`).join('\n  ') : ''}
  ${store}
}
`;
}

export const MATMUL_UNIFORMS: Array<[string, 'u32']> = [
  ['m', 'u32'], ['n', 'u32'], ['k', 'u32'], ['batch', 'u32'],
  ['strideA', 'u32'], ['strideB', 'u32'], ['tilesN', 'u32'], ['tilesM', 'u32'],
];

export function matmulRegisterProgram(transA: boolean, transB: boolean, cfg: RegisterConfig): GpuProgram {
  const key = `matmul-reg:${cfg.tm}x${cfg.tn}:ku${cfg.ku}:wg${cfg.workgroupSize}:tA${+transA}:tB${+transB}`;
  return {
    key,
    wgsl: () => registerGemmWgsl({
      declarations: `${uniformStruct('U', MATMUL_UNIFORMS)}
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
fn storeC(z: u32, m: u32, n: u32, v: f32) { O[(z * u.m + m) * u.n + n] = v; }`,
      m: 'u.m',
      n: 'u.n',
      problems: 'u.batch',
      kRange: 'vec2<u32>(0u, u.k)',
      aRow: (m) => `z * u.strideA + ${transA ? m : `${m} * u.k`}`,
      bCol: (n) => `z * u.strideB + ${transB ? `${n} * u.k` : n}`,
      walkerInit: () => 'var aK_ = 0u;\n  var bK_ = 0u;',
      walkerOffsets: 'let aK = aK_;\n      let bK = bK_;',
      walkerAdvance: `aK_ += ${transA ? 'u.m' : '1u'};\n      bK_ += ${transB ? '1u' : 'u.n'};`,
    }, cfg),
  };
}
