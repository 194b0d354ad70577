/**
 * Row-wise softmax / log-softmax over contiguous [rows, cols], and the fused cross-entropy loss and
 * its gradient. Every variant shares one row reduction: m = max(row), s = sum(exp(row - m)), so
 * exp never overflows (the usual stable form); the variants differ only in what they write.
 *
 * Two layouts: short rows get one thread per row (three sequential passes over the row, summed in
 * column order like the CPU reference); long rows get one workgroup per row, each thread striding
 * over the columns and a shared-memory tree combining the partial max and sum. The workgroup form
 * is only used where the context prefers workgroup memory: on SwiftShader its barriers made it
 * 2-20x slower than a thread per row (65537 x 64 log-softmax: 7.9 s vs 0.37 s; 2048 x 1000:
 * 0.43 s vs 0.22 s). Out-of-range labels give NaN, which WGSL cannot spell as a constant, so it
 * arrives through the uniforms.
 */
import type { Storage } from '../tensor/backend.js';
import type { GpuBinding, GpuContext, GpuProgram } from '../backends/webgpu/context.js';
import { grid1d } from '../backends/webgpu/context.js';
import { grid, main1d, packUniforms, uniformStruct } from './common.js';

type Mode = 'softmax' | 'logSoftmax' | 'crossEntropy' | 'crossEntropyBackward';

/** Rows at least this long get a workgroup each (where workgroup memory is preferred); shorter ones a thread each. */
const GROUP_MIN_COLS = 64;

const FIELDS: Array<[string, 'u32' | 'i32' | 'f32']> = [['rows', 'u32'], ['cols', 'u32'], ['nan', 'f32']];

function bindingsWgsl(mode: Mode): string {
  const decl = (i: number, name: string, type: string, rw = false): string =>
    `@group(0) @binding(${i}) var<storage, ${rw ? 'read_write' : 'read'}> ${name}: array<${type}>;`;
  const lines = [decl(0, 'x', 'f32')];
  if (mode === 'crossEntropy' || mode === 'crossEntropyBackward') lines.push(decl(1, 'labels', 'i32'));
  if (mode === 'crossEntropyBackward') lines.push(decl(2, 'g', 'f32'));
  lines.push(decl(lines.length, 'dst', 'f32', true));
  lines.push(`@group(0) @binding(${lines.length}) var<uniform> u: U;`);
  return `${uniformStruct('U', FIELDS)}\n${lines.join('\n')}`;
}

/**
 * WGSL statements writing row `row` (base offset `base`) from its max `m` and exp-sum `s`, for
 * columns c = first, first + step, ...; `lead` is true in exactly one invocation per row.
 */
function writeWgsl(mode: Mode, first: string, step: string, lead: string): string {
  const each = (body: string): string => `  for (var c = ${first}; c < u.cols; c += ${step}) {\n${body}\n  }`;
  switch (mode) {
    case 'softmax':
      return each('    dst[base + c] = exp(x[base + c] - m) / s;');
    case 'logSoftmax':
      return `  let ls = log(s);\n${each('    dst[base + c] = (x[base + c] - m) - ls;')}`;
    case 'crossEntropy':
      return `  if (${lead}) {
    let label = labels[row];
    if (label < 0 || u32(label) >= u.cols) { dst[row] = u.nan; }
    else { dst[row] = (m + log(s)) - x[base + u32(label)]; }
  }`;
    case 'crossEntropyBackward':
      return `  let label = labels[row];
  let valid = label >= 0 && u32(label) < u.cols;
  let gr = g[row];
${each(`    let hot = select(0.0, 1.0, valid && u32(label) == c);
    dst[base + c] = select(u.nan, gr * (exp(x[base + c] - m) / s - hot), valid);`)}`;
  }
}

function threadPerRow(mode: Mode): GpuProgram {
  return {
    key: `softmax-${mode}-thread`,
    wgsl: () => `${bindingsWgsl(mode)}
${main1d()}
  if (idx >= u.rows) { return; }
  let row = idx;
  let base = row * u.cols;
  var m = x[base];
  for (var c = 1u; c < u.cols; c++) { m = max(m, x[base + c]); }
  var s = 0.0;
  for (var c = 0u; c < u.cols; c++) { s += exp(x[base + c] - m); }
${writeWgsl(mode, '0u', '1u', 'true')}
}`,
  };
}

function groupPerRow(mode: Mode, wg: number): GpuProgram {
  return {
    key: `softmax-${mode}-group${wg}`,
    wgsl: () => `${bindingsWgsl(mode)}
var<workgroup> partial: array<f32, ${wg}>;

/** Tree-combines partial[0..${wg}) into partial[0] (max or sum); every invocation must call it. */
fn combine(lid: u32, useMax: bool) {
  workgroupBarrier();
  for (var half = ${wg / 2}u; half > 0u; half >>= 1u) {
    if (lid < half) {
      let a = partial[lid];
      let b = partial[lid + half];
      partial[lid] = select(a + b, max(a, b), useMax);
    }
    workgroupBarrier();
  }
}

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= u.rows) { return; }
  let base = row * u.cols;
  // Seeding with the row's first element (every row has one) avoids needing -inf.
  var pm = x[base];
  for (var c = lid; c < u.cols; c += ${wg}u) { pm = max(pm, x[base + c]); }
  partial[lid] = pm;
  combine(lid, true);
  let m = partial[0];
  workgroupBarrier();
  var ps = 0.0;
  for (var c = lid; c < u.cols; c += ${wg}u) { ps += exp(x[base + c] - m); }
  partial[lid] = ps;
  combine(lid, false);
  let s = partial[0];
${writeWgsl(mode, 'lid', `${wg}u`, 'lid == 0u')}
}`,
  };
}

const programs = new Map<string, GpuProgram>();

function dispatchRows(ctx: GpuContext, mode: Mode, bindings: GpuBinding[], rows: number, cols: number): void {
  if (rows === 0) return;
  const uniforms = packUniforms([['u32', rows], ['u32', cols], ['f32', NaN]]);
  if (!ctx.preferWorkgroupMemory || cols < GROUP_MIN_COLS) {
    const key = `${mode}-thread`;
    const program = programs.get(key) ?? threadPerRow(mode);
    programs.set(key, program);
    ctx.dispatch(program, bindings, grid(ctx, rows), uniforms);
    return;
  }
  // 64 lanes keep most of a row of a few hundred busy; very long rows use the full 256.
  const wg = cols >= 4096 ? 256 : 64;
  const key = `${mode}-group${wg}`;
  const program = programs.get(key) ?? groupPerRow(mode, wg);
  programs.set(key, program);
  ctx.dispatch(program, bindings, grid1d(rows, ctx.limits.maxComputeWorkgroupsPerDimension), uniforms);
}

function checkLogits(what: string, x: Storage, rows: number, cols: number): void {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 1) throw new Error(`${what}: need rows >= 0 and cols >= 1, got ${rows}x${cols}`);
  if (x.dtype !== 'float32' || x.length !== rows * cols) throw new Error(`${what}: expected float32 [${rows}, ${cols}], got ${x.dtype} with ${x.length} elements`);
}

function checkLabels(what: string, labels: Storage, rows: number): void {
  if (labels.dtype !== 'int32' || labels.length !== rows) throw new Error(`${what}: labels must be int32 [${rows}], got ${labels.dtype} with ${labels.length} elements`);
}

export function softmax(ctx: GpuContext, x: Storage, rows: number, cols: number, log: boolean): Storage {
  checkLogits('softmax', x, rows, cols);
  const out = ctx.alloc(rows * cols, 'float32');
  dispatchRows(ctx, log ? 'logSoftmax' : 'softmax', [{ storage: x, access: 'read' }, { storage: out, access: 'read_write' }], rows, cols);
  return out;
}

export function crossEntropy(ctx: GpuContext, logits: Storage, labels: Storage, rows: number, cols: number): Storage {
  checkLogits('crossEntropy', logits, rows, cols);
  checkLabels('crossEntropy', labels, rows);
  const out = ctx.alloc(rows, 'float32');
  dispatchRows(ctx, 'crossEntropy', [
    { storage: logits, access: 'read' }, { storage: labels, access: 'read' }, { storage: out, access: 'read_write' },
  ], rows, cols);
  return out;
}

export function crossEntropyBackward(ctx: GpuContext, logits: Storage, labels: Storage, gradPerRow: Storage, rows: number, cols: number): Storage {
  checkLogits('crossEntropyBackward', logits, rows, cols);
  checkLabels('crossEntropyBackward', labels, rows);
  if (gradPerRow.dtype !== 'float32' || gradPerRow.length !== rows) throw new Error(`crossEntropyBackward: gradPerRow must be float32 [${rows}], got ${gradPerRow.dtype} with ${gradPerRow.length} elements`);
  const out = ctx.alloc(rows * cols, 'float32');
  dispatchRows(ctx, 'crossEntropyBackward', [
    { storage: logits, access: 'read' }, { storage: labels, access: 'read' }, { storage: gradPerRow, access: 'read' },
    { storage: out, access: 'read_write' },
  ], rows, cols);
  return out;
}
