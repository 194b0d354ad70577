/**
 * sum / max / min over any sorted set of axes of a contiguous tensor, and argmax over one axis.
 *
 * The host collapses the problem to kept dims and reduced dims (neighbours of the same kind fused,
 * size-1 dims dropped), so a kernel only decomposes indices for those few dims; their counts are
 * compiled in (part of the key), sizes and strides travel in uniforms. Two kernels:
 * - thread: one thread per output (or per chunk of the outermost reduced dim of one output),
 *   looping over its values without index division. Threads are chunk-major, so for reductions
 *   over outer axes neighbouring threads read neighbouring addresses. Used for short reductions,
 *   outer-axis reductions, and everywhere on CPU-emulated adapters (barriers cost them dearly).
 * - lanes: on GPUs, innermost-axis reductions give each output `lanes` threads (enough that each
 *   reads about LANE_WORK values, consecutive lanes reading consecutive values) and combine them
 *   with a tree in workgroup memory; a full 256-thread workgroup per output for long ones.
 * With few outputs and long reductions (batch-norm statistics: 64 channels of 131072 values) both
 * cut each reduction into chunks so enough threads/workgroups run; a second pass reduces the
 * partials, laid out so that it is an ordinary reduction again.
 * max/min propagate NaN; argmax (never chunked) returns the first maximum, NaN counting as maximal.
 */
import type { ReduceOp, Storage } from '../tensor/backend.js';
import type { GpuContext, GpuProgram } from '../backends/webgpu/context.js';
import { grid1d } from '../backends/webgpu/context.js';
import { contiguousStrides, sizeOf } from '../tensor/shape.js';
import { grid, main1d, packUniforms, uniformStruct } from './common.js';
import { fill, FLOAT_HELPERS, releaseTemporary } from './elementwise.js';

const WG_SIZE = 256;
/** Reductions this short always get one thread per output, unsplit. */
const SHORT_GROUP = 32;
/** Values each lane of a shared reduction should get, at least (sets the lanes per output). */
const LANE_WORK = 8;
/** Lanes kernel: chunking aims for about this many workgroups, each reducing at least MIN_LANE_CHUNK values. */
const TARGET_WORKGROUPS = 1024;
const MIN_LANE_CHUNK = 2048;
/** Thread kernel: chunking aims for this many threads (GPU / CPU-emulated), each reducing at least MIN_THREAD_CHUNK values. */
const TARGET_THREADS = 32768;
const TARGET_THREADS_SOFTWARE = 2048;
const MIN_THREAD_CHUNK = 64;

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

/**
 * WGSL nested loops over the reduced dims (no index division), running `body` on offset `q`; the
 * outermost runs over [from0, to0) only.
 */
function nestedLoops(rr: number, body: string): string {
  if (rr === 0) return `if (from0 < to0) { let q = base; ${body} }`;
  let code = body;
  for (let k = rr - 1; k >= 0; k--) {
    const from = k === 0 ? 'base' : `q${k - 1}`;
    const q = k === rr - 1 ? 'q' : `q${k}`;
    const range = k === 0 ? 'var i0 = from0; i0 < to0; i0++' : `var i${k} = 0u; i${k} < u.r${k}; i${k}++`;
    code = `for (${range}) {\n    let ${q} = ${from} + i${k} * u.rs${k};\n    ${code}\n  }`;
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

/**
 * Thread t reduces output t % outputs over chunk t / outputs, i.e. over i0 in [chunk * len0, +len0)
 * of the outermost reduced dim (and all of the inner ones), writing partial [chunks, outputs].
 */
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
  out[t] = i32(bi);`
    : op === 'sum'
      // Compensated (Kahan) summation: long float32 sums such as batch-norm statistics over N*H*W
      // would otherwise lose about log2(length) bits, which the cancellations in batch-norm's
      // backward amplify (measured: 2.5e-3 relative error in ResNet-18's input gradient).
      ? `var acc = 0.0;
  var comp = 0.0;
  ${nestedLoops(rr, `let yk = x[q] - comp; let tk = acc + yk; comp = (tk - acc) - yk; acc = tk;`)}
  out[t] = acc;`
      : `var acc = ${identity(op)};
  ${nestedLoops(rr, `acc = ${combine(op, 'acc', 'x[q]')};`)}
  out[t] = acc;`;
  return {
    key: `reduce_thread_${op}_k${kr}_r${rr}`,
    wgsl: () => `
${FLOAT_HELPERS}
${uniformStruct('U', [['total', 'u32'], ['outputs', 'u32'], ['len0', 'u32'], ...planFields(kr, rr)])}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<${outType}>;
@group(0) @binding(2) var<uniform> u: U;
${main1d()}
  let t = idx;
  if (t >= u.total) { return; }
  let o = t % u.outputs;
  let from0 = (t / u.outputs) * u.len0;
  let to0 = min(from0 + u.len0, ${rr > 0 ? 'u.r0' : '1u'});
  ${keptBase(kr)}
  ${body}
}`,
  };
}

/**
 * `lanes` threads per reduction slot (one output, or one chunk of it), 256 / lanes slots per
 * workgroup: lanes stride through the slot's values (consecutive lanes read consecutive values of
 * an innermost-axis reduction), then a tree over the slot's lanes in workgroup memory.
 */
function workgroupProgram(op: ReduceOp, kr: number, rr: number, lanes: number): GpuProgram {
  const argmax = op === 'argmax';
  const outType = argmax ? 'i32' : 'f32';
  const perThread = argmax
    ? `var bv = 0.0;
  var bi = EMPTY;
  for (var r = start + lane; r < end; r += ${lanes}u) {
    ${reducedOffset(rr)}
    let v = x[q];
    if (beats(bv, bi, v, r)) { bv = v; bi = r; }
  }
  sv[lid] = bv;
  si[lid] = bi;`
    : `var acc = ${identity(op)};
  for (var r = start + lane; r < end; r += ${lanes}u) {
    ${reducedOffset(rr)}
    acc = ${combine(op, 'acc', 'x[q]')};
  }
  sv[lid] = acc;`;
  const step = argmax
    ? `if (beats(sv[lid], si[lid], sv[lid + s], si[lid + s])) { sv[lid] = sv[lid + s]; si[lid] = si[lid + s]; }`
    : `sv[lid] = ${combine(op, 'sv[lid]', 'sv[lid + s]')};`;
  return {
    key: `reduce_wg_${op}_k${kr}_r${rr}_l${lanes}`,
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
  let lane = lid % ${lanes}u;
  let slot = (wid.y * nwg.x + wid.x) * ${WG_SIZE / lanes}u + lid / ${lanes}u;
  // Slots past the end reduce an empty range but still reach every barrier.
  let o = min(slot, u.total - 1u) / u.chunks;
  let start = select(u.group, (slot % u.chunks) * u.chunkLen, slot < u.total);
  let end = min(start + u.chunkLen, u.group);
  ${keptBase(kr)}
  ${perThread}
  workgroupBarrier();
  for (var s = ${lanes / 2}u; s > 0u; s = s >> 1u) {
    if (lane < s) { ${step} }
    workgroupBarrier();
  }
  if (lane == 0u && slot < u.total) { out[slot] = ${argmax ? 'i32(si[lid])' : 'sv[lid]'}; }
}`,
  };
}

// ---- dispatch --------------------------------------------------------------------------------------

/** Chunks of the thread kernel: splits of the outermost reduced dim, each covering >= MIN_THREAD_CHUNK values. */
function threadChunks(ctx: GpuContext, op: ReduceOp, plan: ReducePlan): number {
  if (op === 'argmax' || plan.group <= SHORT_GROUP) return 1;
  const r0 = plan.reduced[0]!.size;
  const minLen0 = Math.ceil(MIN_THREAD_CHUNK / (plan.group / r0));
  const target = ctx.preferWorkgroupMemory ? TARGET_THREADS : TARGET_THREADS_SOFTWARE;
  return Math.max(1, Math.min(Math.ceil(target / plan.outputs), Math.floor(r0 / minLen0)));
}

/** Chunks of the lanes kernel: only a full workgroup per output is split. */
function laneChunks(op: ReduceOp, plan: ReducePlan, lanes: number): number {
  if (op === 'argmax' || lanes < WG_SIZE) return 1;
  return Math.max(1, Math.min(Math.ceil(TARGET_WORKGROUPS / plan.outputs), Math.ceil(plan.group / MIN_LANE_CHUNK)));
}

/** Threads that share one output in the lanes kernel, or 1 for the thread kernel. */
function lanesPerOutput(ctx: GpuContext, plan: ReducePlan): number {
  if (plan.group <= SHORT_GROUP || !ctx.preferWorkgroupMemory) return 1;
  const innermostReduced = plan.reduced[plan.reduced.length - 1]!.stride === 1;
  if (!innermostReduced) return 1;
  let lanes = 2;
  while (lanes < WG_SIZE && lanes * 2 * LANE_WORK <= plan.group) lanes *= 2;
  return lanes;
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
  const lanes = lanesPerOutput(ctx, plan);
  return lanes === 1 ? reduceByThreads(ctx, op, x, plan) : reduceByLanes(ctx, op, x, plan, lanes);
}

function reduceByThreads(ctx: GpuContext, op: ReduceOp, x: Storage, plan: ReducePlan): Storage {
  const r0 = plan.reduced[0]?.size ?? 1;
  const len0 = Math.ceil(r0 / threadChunks(ctx, op, plan));
  const chunks = Math.ceil(r0 / len0);
  const total = plan.outputs * chunks;
  const partial = ctx.alloc(total, op === 'argmax' ? 'int32' : 'float32');
  ctx.dispatch(threadProgram(op, plan.kept.length, plan.reduced.length), [
    { storage: x, access: 'read' },
    { storage: partial, access: 'read_write' },
  ], grid(ctx, total), packUniforms([['u32', total], ['u32', plan.outputs], ['u32', len0], ...planValues(plan)]));
  if (chunks === 1) return partial;
  // Partials are [chunks, outputs]: an outer-axis reduction, read coalesced by the next pass.
  const out = reduce(ctx, op, partial, [chunks, plan.outputs], [0]);
  releaseTemporary(ctx, partial);
  return out;
}

function reduceByLanes(ctx: GpuContext, op: ReduceOp, x: Storage, plan: ReducePlan, lanes: number): Storage {
  const chunkLen = Math.ceil(plan.group / laneChunks(op, plan, lanes));
  const chunks = Math.ceil(plan.group / chunkLen);
  const total = plan.outputs * chunks;
  const partial = ctx.alloc(total, op === 'argmax' ? 'int32' : 'float32');
  ctx.dispatch(workgroupProgram(op, plan.kept.length, plan.reduced.length, lanes), [
    { storage: x, access: 'read' },
    { storage: partial, access: 'read_write' },
  ], grid1d(Math.ceil(total / (WG_SIZE / lanes)), ctx.limits.maxComputeWorkgroupsPerDimension), packUniforms([
    ['u32', total], ['u32', chunks], ['u32', chunkLen], ['u32', plan.group], ...planValues(plan),
  ]));
  if (chunks === 1) return partial;
  // Partials of one output are contiguous: [outputs, chunks].
  const out = reduce(ctx, op, partial, [plan.outputs, chunks], [1]);
  releaseTemporary(ctx, partial);
  return out;
}
