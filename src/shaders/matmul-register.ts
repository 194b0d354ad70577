/**
 * Batched matmul, register-tiled, no workgroup memory: the fastest form on CPU-emulated adapters
 * (SwiftShader runs each invocation as a SIMD lane, so workgroup barriers cost coroutine switches
 * while a fat per-thread tile keeps many multiply-adds per loaded element).
 *
 * Thread (tn, tm, z) computes rows tm*TM.. and columns tn*TN.. of batch z. Out-of-range rows and
 * columns are clamped to the last valid one when loading (no branches in the k loop, never an
 * out-of-bounds read) and skipped when storing. k runs in chunks of 4 plus a scalar tail; vec4
 * loads are used for an operand whose contiguous axis and batch stride are multiples of 4.
 */
import type { GpuProgram } from '../backends/webgpu/context.js';
import { uniformStruct } from './common.js';
import { declareAccumulators, indent, range, rankOneUpdate, type RegisterTile, vec4Of } from './matmul-tile.js';

export interface MatmulVariant {
  transA: boolean;
  transB: boolean;
  /** A bound as array<vec4<f32>>: needs its contiguous axis (k, or m when transposed) and batch stride % 4 == 0. */
  vecA: boolean;
  vecB: boolean;
  /** Output bound as array<vec4<f32>>: needs n % 4 == 0. */
  vecOut: boolean;
}

export interface RegisterConfig extends RegisterTile {
  workgroupSize: number;
}

export const MATMUL_UNIFORMS: Array<[string, 'u32']> = [
  ['m', 'u32'], ['n', 'u32'], ['k', 'u32'], ['batch', 'u32'],
  ['strideA', 'u32'], ['strideB', 'u32'], ['tilesN', 'u32'], ['tilesM', 'u32'],
];

const elem = (vec: boolean, buf: string, o: string) => (vec ? `${buf}[(${o}) >> 2u][(${o}) & 3u]` : `${buf}[${o}]`);

export function matmulRegisterProgram(v: MatmulVariant, cfg: RegisterConfig): GpuProgram {
  const { tm, tn, workgroupSize } = cfg;
  // The transposed-A vec4 path loads 4 consecutive rows at once.
  const vecA = v.vecA && (!v.transA || tm % 4 === 0);
  const key = `matmul-reg:${tm}x${tn}:wg${workgroupSize}:tA${+v.transA}:tB${+v.transB}:vA${+vecA}:vB${+v.vecB}:vO${+v.vecOut}`;
  return { key, wgsl: () => matmulRegisterWgsl({ ...v, vecA }, cfg) };
}

function matmulRegisterWgsl(v: MatmulVariant, cfg: RegisterConfig): string {
  const { tm, tn, workgroupSize } = cfg;
  const t: RegisterTile = { tm, tn };
  const rows = range(tm);
  const cols = range(tn);
  const groups = range(tn / 4);
  const ld = (vec: boolean, buf: string, o: string) => elem(vec, buf, o);

  // Per-thread setup: clamped row/column indices and base offsets.
  const setup: string[] = [];
  for (const r of rows) setup.push(`let row${r} = min(i0 + ${r}u, u.m - 1u);`);
  for (const j of cols) setup.push(`let col${j} = min(j0 + ${j}u, u.n - 1u);`);
  if (!v.transA) for (const r of rows) setup.push(`let aRow${r} = aBase + row${r} * u.k;`);
  if (v.transB) for (const j of cols) setup.push(`let bCol${j} = bBase + col${j} * u.k;`);
  if (v.transA && v.vecA) {
    // Rows come in aligned groups of 4; a group past the end is clamped to the last group.
    for (const g of range(tm / 4)) setup.push(`let rowG${g} = min(i0 + ${4 * g}u, u.m - 4u);`);
  }
  if (!v.transB && v.vecB) for (const c of groups) setup.push(`let colG${c} = min(j0 + ${4 * c}u, u.n - 4u);`);

  // Main loop body over k..k+3.
  const body: string[] = [];
  // a[r][kk]: expression for A(row r, k + kk).
  let aAt: (r: number, kk: number) => string;
  if (!v.transA) {
    if (v.vecA) {
      for (const r of rows) body.push(`let av${r} = A[(aRow${r} + k) >> 2u];`);
    } else {
      for (const r of rows) body.push(`let av${r} = ${vec4Of(range(4).map((kk) => `A[aRow${r} + k + ${kk}u]`))};`);
    }
    aAt = (r, kk) => `av${r}[${kk}]`;
  } else {
    if (v.vecA) {
      for (const kk of range(4)) {
        for (const g of range(tm / 4)) body.push(`let av${kk}_${g} = A[(aBase + (k + ${kk}u) * u.m + rowG${g}) >> 2u];`);
      }
      aAt = (r, kk) => `av${kk}_${Math.floor(r / 4)}[${r % 4}]`;
    } else {
      aAt = (r, kk) => `A[aBase + (k + ${kk}u) * u.m + row${r}]`;
    }
  }
  // b[kk][c]: vec4 expression for B(k + kk, columns 4c..4c+3).
  let bAt: (kk: number, c: number) => string;
  if (!v.transB) {
    if (v.vecB) bAt = (kk, c) => `B[(bBase + (k + ${kk}u) * u.n + colG${c}) >> 2u]`;
    else bAt = (kk, c) => vec4Of(range(4).map((q) => `B[bBase + (k + ${kk}u) * u.n + col${4 * c + q}]`));
  } else {
    if (v.vecB) {
      for (const j of cols) body.push(`let bv${j} = B[(bCol${j} + k) >> 2u];`);
      bAt = (kk, c) => vec4Of(range(4).map((q) => `bv${4 * c + q}[${kk}]`));
    } else {
      bAt = (kk, c) => vec4Of(range(4).map((q) => `B[bCol${4 * c + q} + k + ${kk}u]`));
    }
  }
  for (const kk of range(4)) {
    body.push(rankOneUpdate(t, rows.map((r) => aAt(r, kk)), groups.map((c) => bAt(kk, c)), `${kk}`));
  }

  // Scalar tail for k % 4 leftovers (at most 3 iterations).
  const aTail = rows.map((r) => ld(v.vecA, 'A', v.transA ? `aBase + k * u.m + row${r}` : `aRow${r} + k`));
  const bTail = groups.map((c) => vec4Of(range(4).map((q) => ld(v.vecB, 'B', v.transB ? `bCol${4 * c + q} + k` : `bBase + k * u.n + col${4 * c + q}`))));

  const store: string[] = [];
  for (const r of rows) {
    const lines: string[] = [];
    for (const c of groups) {
      const j = `j0 + ${4 * c}u`;
      if (v.vecOut) {
        lines.push(`if (${j} < u.n) { O[(oRow + ${j}) >> 2u] = acc_${r}_${c}; }`);
      } else {
        for (const q of range(4)) lines.push(`if (${j} + ${q}u < u.n) { O[oRow + ${j} + ${q}u] = acc_${r}_${c}[${q}]; }`);
      }
    }
    store.push(`if (i0 + ${r}u < u.m) {\n  let oRow = oBase + (i0 + ${r}u) * u.n;\n${indent(lines.join('\n'))}\n}`);
  }

  const t4 = (vec: boolean) => (vec ? 'vec4<f32>' : 'f32');
  return `${uniformStruct('U', MATMUL_UNIFORMS)}
@group(0) @binding(0) var<storage, read> A: array<${t4(v.vecA)}>;
@group(0) @binding(1) var<storage, read> B: array<${t4(v.vecB)}>;
@group(0) @binding(2) var<storage, read_write> O: array<${t4(v.vecOut)}>;
@group(0) @binding(3) var<uniform> u: U;

@compute @workgroup_size(${workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.y * nwg.x + wid.x) * ${workgroupSize}u + lid;
  let tileN = idx % u.tilesN;
  let rest = idx / u.tilesN;
  let tileM = rest % u.tilesM;
  let z = rest / u.tilesM;
  if (z >= u.batch) { return; }
  let i0 = tileM * ${tm}u;
  let j0 = tileN * ${tn}u;
  let aBase = z * u.strideA;
  let bBase = z * u.strideB;
  let oBase = z * u.m * u.n;
${indent(setup.join('\n'))}
${indent(declareAccumulators(t))}
  var k = 0u;
  for (; k + 4u <= u.k; k += 4u) {
${indent(body.join('\n'), 4)}
  }
  for (; k < u.k; k += 1u) {
${indent(rankOneUpdate(t, aTail, bTail, 't'), 4)}
  }
${indent(store.join('\n'))}
}
`;
}
