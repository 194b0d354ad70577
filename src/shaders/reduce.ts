/**
 * sum / max / min over any sorted set of axes of a contiguous tensor, and argmax over one axis.
 *
 * The host collapses the problem to kept dims and reduced dims (neighbours of the same kind fused,
 * size-1 dims dropped), so a kernel only decomposes indices for those few dims; their counts are
 * compiled in (part of the key), sizes and strides travel in uniforms. Two strategies:
 * - one thread per output, looping over its reduction: for short reductions, and for reductions
 *   over outer axes with many outputs (neighbouring threads then read neighbouring addresses);
 * - one 256-thread workgroup per output (or per chunk of one output), each thread striding through
 *   the reduction and a tree in workgroup memory combining the partials. With few outputs (batch-norm
 *   statistics: 64 channels of 131072 values) the reduction is cut into chunks so enough workgroups
 *   run, and a second pass reduces the [outputs, chunks] partials.
 * max/min propagate NaN; argmax returns the first maximum, a NaN counting as the maximum.
 */
import type { ReduceOp, Storage } from '../tensor/backend.js';
import type { GpuContext, GpuProgram } from '../backends/webgpu/context.js';
import { grid1d } from '../backends/webgpu/context.js';
import { contiguousStrides, sizeOf } from '../tensor/shape.js';
import { grid, main1d, packUniforms, uniformStruct } from './common.js';
import { fill, FLOAT_HELPERS, releaseTemporary } from './elementwise.js';

const WG_SIZE = 256;
/** Reductions this short always get one thread per output. */
const SHORT_GROUP = 32;
/** With at least this many outputs, an outer-axis reduction keeps every thread of the GPU busy alone. */
const MANY_OUTPUTS = 2048;
/** Chunking aims for about this many workgroups in all, each reducing at least MIN_CHUNK values. */
const TARGET_WORKGROUPS = 1024;
const MIN_CHUNK = 2048;

interface Dim { size: number; stride: number }

interface ReducePlan {
  kept: Dim[];
  reduced: Dim[];
  outputs: number;
  group: number;
}

/** Kept and reduced dims of contiguous `shape`; `keepReducedOnes` keeps argmax's axis even when it has size 1. */
function planReduce(shape: readonly number[], axes: readonly number[], keepReducedOnes: boolean): ReducePlan {
  const strides = contiguousStrides(shape);
  const kept: Dim[] = [];
  const reduced: Dim[] = [];
  let lastWasReduced: boolean | null = null;
  for (let k = 0; k < shape.length; k++) {
    const isReduced = axes.includes(k);
    if (shape[k] === 1 && !(isReduced && keepReducedOnes)) continue;
    const list = isReduced ? reduced : kept;
    const prev = list[list.length - 1];
    // Neighbours of one kind are contiguous with each other in a contiguous input (skipped dims have size 1).
    if (prev && lastWasReduced === isReduced) {
      prev.size *= shape[k]!;
      prev.stride = strides[k]!;
    } else {
      list.push({ size: shape[k]!, stride: strides[k]! });
    }
    lastWasReduced = isReduced;
  }
  return { kept, reduced, outputs: sizeOf(kept.map((d) => d.size)), group: sizeOf(reduced.map((d) => d.size)) };
}

function checkArgs(op: ReduceOp, x: Storage, shape: readonly number[], axes: readonly number[]): void {
  if (x.dtype !== 'float32') throw new Error(`reduce '${op}' expects a float32 input, got ${x.dtype}`);
  if (x.length !== sizeOf(shape)) throw new Error(`reduce: storage of ${x.length} elements does not hold shape [${shape.join(', ')}]`);
  for (let i = 0; i < axes.length; i++) {
    const a = axes[i]!;
    if (!Number.isInteger(a) || a < 0 || a >= shape.length) throw new Error(`reduce: axis ${a} is out of range for rank ${shape.length}`);
    if (i > 0 && a <= axes[i - 1]!) throw new Error(`reduce: axes [${axes.join(', ')}] must be sorted and distinct`);
  }
  if (op === 'argmax' && axes.length !== 1) throw new Error(`reduce 'argmax' takes exactly one axis, got [${axes.join(', ')}]`);
}

// ---- WGSL pieces ---------------------------------------------------------------------------------

function planFields(kr: number, rr: number): Array<[string, 'u32']> {
  const f: Array<[string, 'u32']> = [];
  for (let k = 0; k < kr; k++) f.push([`k${k}`, 'u32'], [`ks${k}`, 'u32']);
  for (let k = 0; k < rr; k++) f.push([`r${k}`, 'u32'], [`rs${k}`, 'u32']);
  return f;
}

function planValues(plan: ReducePlan): Array<['u32', number]> {
  const v: Array<['u32', number]> = [];
  for (const d of plan.kept) v.push(['u32', d.size], ['u32', d.stride]);
  for (const d of plan.reduced) v.push(['u32', d.size], ['u32', d.stride]);
  return v;
}

/** WGSL: `base`, the input offset of output `o`'s first element. */
function keptBase(kr: number): string {
  const lines = ['var base = 0u;', 'var orem = o;'];
  for (let k = kr - 1; k >= 0; k--) {
    if (k > 0) lines.push(`base += (orem % u.k${k}) * u.ks${k}; orem = orem / u.k${k};`);
    else lines.push('base += orem * u.ks0;');
  }
  return lines.join('\n  ');
}

/** WGSL: `q`, the input offset of reduction position `r` (relative to base). */
function reducedOffset(rr: number): string {
  const lines = ['var q = base;', 'var rrem = r;'];
  for (let k = rr - 1; k >= 0; k--) {
    if (k > 0) lines.push(`q += (rrem % u.r${k}) * u.rs${k}; rrem = rrem / u.r${k};`);
    else lines.push('q += rrem * u.rs0;');
  }
  return lines.join('\n    ');
}

type FloatOp = 'sum' | 'max' | 'min';

function combine(op: FloatOp, a: string, b: string): string {
  return op === 'sum' ? `${a} + ${b}` : op === 'max' ? `maxNan(${a}, ${b})` : `minNan(${a}, ${b})`;
}

function identity(op: FloatOp): string {
  return op === 'sum' ? '0.0' : op === 'max' ? '-infF32()' : 'infF32()';
}

/** WGSL nested loops over the reduced dims (no index division), running `body` on offset `q`. */
function nestedLoops(rr: number, body: string): string {
  if (rr === 0) return `{ let q = base; ${body} }`;
  let code = body;
  for (let k = rr - 1; k >= 0; k--) {
    const from = k === 0 ? 'base' : `q${k - 1}`;
    const q = k === rr - 1 ? 'q' : `q${k}`;
    code = `for (var i${k} = 0u; i${k} < u.r${k}; i${k}++) {\n    let ${q} = ${from} + i${k} * u.rs${k};\n    ${code}\n  }`;
  }
  return code;
}

const ARGMAX_HELPERS = /* wgsl */ `
const EMPTY = 0xffffffffu;
// Whether candidate (v2, i2) beats the current (v1, i1): a NaN beats numbers, ties go to the lower index.
fn beats(v1: f32, i1: u32, v2: f32, i2: u32) -> bool {
  if (i2 == EMPTY) { return false; }
  if (i1 == EMPTY) { return true; }
  let n1 = isNan(v1);
  let n2 = isNan(v2);
  if (n1 || n2) { return select(n2, i2 < i1, n1 && n2); }
  return v2 > v1 || (v2 == v1 && i2 < i1);
}
`;

function threadProgram(op: ReduceOp, kr: number, rr: number): GpuProgram {
  const outType = op === 'argmax' ? 'i32' : 'f32';
  const body = op === 'argmax'
    ? `var bv = x[base];
  var bi = 0u;
  for (var i = 1u; i < u.r0; i++) {
    let v = x[base + i * u.rs0];
    // Once best is NaN it stays (the first NaN wins), as in the CPU reference.
    if (!isNan(bv) && (v > bv || isNan(v))) { bv = v; bi = i; }
  }
  out[o] = i32(bi);`
    : `var acc = ${identity(op)};
  ${nestedLoops(rr, `acc = ${combine(op, 'acc', 'x[q]')};`)}
  out[o] = acc;`;
  return {
    key: `reduce_thread_${op}_k${kr}_r${rr}`,
    wgsl: () => `
${FLOAT_HELPERS}
${uniformStruct('U', [['outputs', 'u32'], ...planFields(kr, rr)])}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<${outType}>;
@group(0) @binding(2) var<uniform> u: U;
${main1d()}
  let o = idx;
  if (o >= u.outputs) { return; }
  ${keptBase(kr)}
  ${body}
}`,
  };
}

function workgroupProgram(op: ReduceOp, kr: number, rr: number): GpuProgram {
  const argmax = op === 'argmax';
  const outType = argmax ? 'i32' : 'f32';
  const perThread = argmax
    ? `var bv = 0.0;
  var bi = EMPTY;
  for (var r = start + lid; r < end; r += ${WG_SIZE}u) {
    ${reducedOffset(rr)}
    let v = x[q];
    if (beats(bv, bi, v, r)) { bv = v; bi = r; }
  }
  sv[lid] = bv;
  si[lid] = bi;`
    : `var acc = ${identity(op)};
  for (var r = start + lid; r < end; r += ${WG_SIZE}u) {
    ${reducedOffset(rr)}
    acc = ${combine(op, 'acc', 'x[q]')};
  }
  sv[lid] = acc;`;
  const step = argmax
    ? `if (beats(sv[lid], si[lid], sv[lid + s], si[lid + s])) { sv[lid] = sv[lid + s]; si[lid] = si[lid + s]; }`
    : `sv[lid] = ${combine(op, 'sv[lid]', 'sv[lid + s]')};`;
  return {
    key: `reduce_wg_${op}_k${kr}_r${rr}`,
    wgsl: () => `
${FLOAT_HELPERS}
${argmax ? ARGMAX_HELPERS : ''}
${uniformStruct('U', [['total', 'u32'], ['chunks', 'u32'], ['chunkLen', 'u32'], ['group', 'u32'], ...planFields(kr, rr)])}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<${outType}>;
@group(0) @binding(2) var<uniform> u: U;
var<workgroup> sv: array<f32, ${WG_SIZE}>;
${argmax ? `var<workgroup> si: array<u32, ${WG_SIZE}>;` : ''}
@compute @workgroup_size(${WG_SIZE})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let wg = wid.y * nwg.x + wid.x;
  // Uniform across the workgroup, so returning before the barriers is allowed.
  if (wg >= u.total) { return; }
  let o = wg / u.chunks;
  let start = (wg % u.chunks) * u.chunkLen;
  let end = min(start + u.chunkLen, u.group);
  ${keptBase(kr)}
  ${perThread}
  workgroupBarrier();
  for (var s = ${WG_SIZE / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { ${step} }
    workgroupBarrier();
  }
  if (lid == 0u) { out[wg] = ${argmax ? 'i32(si[0])' : 'sv[0]'}; }
}`,
  };
}

// ---- dispatch --------------------------------------------------------------------------------------

/** How many chunks each output's reduction is cut into (1: one workgroup per output, no second pass). */
function chunkCount(op: ReduceOp, plan: ReducePlan): number {
  if (op === 'argmax') return 1;
  const byWorkgroups = Math.ceil(TARGET_WORKGROUPS / plan.outputs);
  const byLength = Math.ceil(plan.group / MIN_CHUNK);
  return Math.max(1, Math.min(byWorkgroups, byLength));
}

function usesThreadPerOutput(plan: ReducePlan): boolean {
  if (plan.group <= SHORT_GROUP) return true;
  const innermostReduced = plan.reduced[plan.reduced.length - 1]!.stride === 1;
  return !innermostReduced && plan.outputs >= MANY_OUTPUTS;
}

export function reduce(ctx: GpuContext, op: ReduceOp, x: Storage, shape: readonly number[], axes: readonly number[]): Storage {
  checkArgs(op, x, shape, axes);
  const plan = planReduce(shape, axes, op === 'argmax');
  const outDType = op === 'argmax' ? 'int32' : 'float32';
  if (plan.outputs === 0) return ctx.alloc(0, outDType);
  if (plan.group === 0) {
    if (op === 'sum') return fill(ctx, plan.outputs, 0, 'float32');
    throw new Error(`reduce '${op}' over an empty axis has no identity`);
  }
  const kr = plan.kept.length;
  const rr = plan.reduced.length;
  if (usesThreadPerOutput(plan)) {
    const out = ctx.alloc(plan.outputs, outDType);
    ctx.dispatch(threadProgram(op, kr, rr), [
      { storage: x, access: 'read' },
      { storage: out, access: 'read_write' },
    ], grid(ctx, plan.outputs), packUniforms([['u32', plan.outputs], ...planValues(plan)]));
    return out;
  }
  const chunkLen = Math.ceil(plan.group / chunkCount(op, plan));
  const chunks = Math.ceil(plan.group / chunkLen);
  const total = plan.outputs * chunks;
  const partial = ctx.alloc(total, outDType);
  ctx.dispatch(workgroupProgram(op, kr, rr), [
    { storage: x, access: 'read' },
    { storage: partial, access: 'read_write' },
  ], grid1d(total, ctx.limits.maxComputeWorkgroupsPerDimension), packUniforms([
    ['u32', total], ['u32', chunks], ['u32', chunkLen], ['u32', plan.group], ...planValues(plan),
  ]));
  if (chunks === 1) return partial;
  // Partials of one output are contiguous: [outputs, chunks], reduced by the same op.
  const out = reduce(ctx, op, partial, [plan.outputs, chunks], [1]);
  releaseTemporary(ctx, partial);
  return out;
}

