/**
 * Elementwise WGSL kernels: fill, strided copy and write-back, unary ops, broadcasting binary ops
 * and where. Views are collapsed on the host first (size-1 dims dropped, dims that stay mergeable
 * in every view fused), so most calls run a rank-1 or rank-2 program. The collapsed rank is baked
 * into the WGSL (part of the key: at most 6 variants per op); sizes, strides and offsets travel in
 * uniforms. Ranks above 6 are split into several dispatches over the leading dims.
 */
import type { BinaryOp, DType, Storage, StridedView, UnaryOp, UnaryParams } from '../tensor/backend.js';
import type { GpuContext, GpuProgram } from '../backends/webgpu/context.js';
import { sizeOf } from '../tensor/shape.js';
import { grid, main1d, packUniforms, uniformStruct } from './common.js';

type Tag = 'u32' | 'i32' | 'f32';
type Field = [string, Tag];
type Value = [Tag, number];

/** Highest rank compiled into a strided program. */
export const MAX_RANK = 6;

/**
 * Float helpers that keep the CPU reference's NaN and infinity semantics. NaN is tested on the bits
 * (robust to compilers that fold x != x) and produced from runtime values, since a constant NaN or
 * infinity is a WGSL shader-creation error.
 */
export const FLOAT_HELPERS = /* wgsl */ `
fn isNan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn isInf(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }
fn nanF32() -> f32 { var bits = 0x7fc00000u; return bitcast<f32>(bits); }
fn infF32() -> f32 { var bits = 0x7f800000u; return bitcast<f32>(bits); }
// Math.max/min semantics: NaN wins, and ties keep the first operand.
fn maxNan(a: f32, b: f32) -> f32 {
  if (isNan(a)) { return a; }
  if (isNan(b)) { return b; }
  return select(a, b, b > a);
}
fn minNan(a: f32, b: f32) -> f32 {
  if (isNan(a)) { return a; }
  if (isNan(b)) { return b; }
  return select(a, b, b < a);
}
`;

/** Math.pow semantics (WGSL's pow is undefined for negative bases). */
const POW_HELPER = /* wgsl */ `
fn powF(x: f32, a: f32) -> f32 {
  if (a == 0.0) { return 1.0; }
  if (isNan(x) || isNan(a)) { return nanF32(); }
  let ax = abs(x);
  let aInt = floor(a) == a;
  // Every float of magnitude >= 2^24 is even.
  let aOdd = aInt && abs(a) < 16777216.0 && floor(a * 0.5) != a * 0.5;
  var r: f32;
  if (a == 1.0) { r = ax; }
  else if (a == 2.0) { r = ax * ax; }
  else if (ax == 0.0) { r = select(infF32(), 0.0, a > 0.0); }
  else if (isInf(ax)) { r = select(0.0, infF32(), a > 0.0); }
  else { r = exp2(a * log2(ax)); }
  if ((bitcast<u32>(x) & 0x80000000u) != 0u) {
    if (aOdd) { r = -r; }
    else if (!aInt && ax != 0.0 && !isInf(ax)) { return nanF32(); }
  }
  return r;
}
`;

const UNARY_HELPERS = /* wgsl */ `
fn logF(x: f32) -> f32 {
  if (x < 0.0) { return nanF32(); }
  if (x == 0.0) { return -infF32(); }
  return log(x);
}
fn sqrtF(x: f32) -> f32 { return select(sqrt(x), nanF32(), x < 0.0); }
// Two branches so exp never overflows into inf/inf.
fn sigmoidF(x: f32) -> f32 {
  if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); }
  let e = exp(x);
  return e / (1.0 + e);
}
// tanh(+-15) rounds to +-1 in f32; clamping keeps exp-based implementations away from inf/inf.
fn tanhF(x: f32) -> f32 { return tanh(clamp(x, -15.0, 15.0)); }
// Saturating truncation with NaN -> 0, as the CPU reference's truncateToInt32.
fn toI32(x: f32) -> i32 {
  if (isNan(x)) { return 0; }
  if (x >= 2147483648.0) { return 2147483647; }
  if (x <= -2147483648.0) { return -2147483647 - 1; }
  return i32(x);
}
`;

// ---- host-side view planning ---------------------------------------------------------------

type Layout = Pick<StridedView, 'shape' | 'strides' | 'offset'>;

/** A set of views over one logical shape, after collapsing; view v reads shape through strides[v]. */
interface ViewPlan {
  shape: number[];
  strides: number[][];
  offsets: number[];
}

/** Drops size-1 dims and fuses neighbouring dims that are contiguous with each other in every view. */
export function collapseViews(shape: readonly number[], strides: ReadonlyArray<readonly number[]>): { shape: number[]; strides: number[][] } {
  const dims: number[] = [];
  const steps: number[][] = strides.map(() => []);
  for (let k = 0; k < shape.length; k++) {
    const size = shape[k]!;
    if (size === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && strides.every((s, v) => steps[v]![last] === s[k]! * size)) {
      dims[last] = dims[last]! * size;
      strides.forEach((s, v) => { steps[v]![last] = s[k]!; });
    } else {
      dims.push(size);
      strides.forEach((s, v) => steps[v]!.push(s[k]!));
    }
  }
  return { shape: dims, strides: steps };
}

/** Throws unless `view` is shaped `shape` and every element it can reach lies inside its storage. */
function checkView(view: StridedView, shape: readonly number[], what: string): void {
  const same = view.shape.length === shape.length && view.shape.every((d, i) => d === shape[i]);
  if (!same) throw new Error(`${what}: view shape [${view.shape.join(', ')}] does not match [${shape.join(', ')}]`);
  if (view.strides.length !== shape.length) throw new Error(`${what}: ${view.strides.length} strides for a rank-${shape.length} view`);
  if (sizeOf(shape) === 0) return;
  let lo = view.offset;
  let hi = view.offset;
  for (let k = 0; k < shape.length; k++) {
    const span = (shape[k]! - 1) * view.strides[k]!;
    if (span < 0) lo += span;
    else hi += span;
  }
  // Written so a NaN or infinite stride or offset fails too (every comparison with NaN is false).
  if (!view.strides.every(Number.isInteger) || !Number.isInteger(view.offset) || !(lo >= 0) || !(hi < view.storage.length)) {
    throw new Error(`${what}: view of shape [${shape.join(', ')}] strides [${view.strides.join(', ')}] offset ${view.offset} reaches outside its storage of ${view.storage.length} elements`);
  }
}

function planViews(shape: readonly number[], views: readonly Layout[]): ViewPlan {
  const c = collapseViews(shape, views.map((v) => v.strides));
  if (c.shape.length === 0) return { shape: [1], strides: views.map(() => [0]), offsets: views.map((v) => v.offset) };
  return { ...c, offsets: views.map((v) => v.offset) };
}

/**
 * Calls `run` once per dispatch: with the plan itself when its rank fits MAX_RANK, else once per
 * index of the leading dims, with those dims folded into the offsets. `outOffset` is where the
 * chunk starts in the contiguous side (output or source).
 */
function forEachChunk(plan: ViewPlan, run: (chunk: ViewPlan, outOffset: number, count: number) => void): void {
  const rank = plan.shape.length;
  const lead = Math.max(0, rank - MAX_RANK);
  const shape = plan.shape.slice(lead);
  const count = sizeOf(shape);
  const leadShape = plan.shape.slice(0, lead);
  const chunks = sizeOf(leadShape);
  for (let c = 0; c < chunks; c++) {
    const offsets = [...plan.offsets];
    let rem = c;
    for (let k = lead - 1; k >= 0; k--) {
      const coord = rem % leadShape[k]!;
      rem = Math.floor(rem / leadShape[k]!);
      plan.strides.forEach((s, v) => { offsets[v] = offsets[v]! + coord * s[k]!; });
    }
    run({ shape, strides: plan.strides.map((s) => s.slice(lead)), offsets }, c * count, count);
  }
}

/** True when every view walks the collapsed shape with unit stride (one fused dim). */
function isFlat(plan: ViewPlan): boolean {
  return plan.shape.length === 1 && plan.strides.every((s) => s[0] === 1);
}

// ---- WGSL for strided indexing -----------------------------------------------------------------

/** Uniform fields of a strided program: n, outOff, per-view offsets, dims, per-view strides. */
function stridedFields(rank: number, views: number, flat: boolean): Field[] {
  const fields: Field[] = [['n', 'u32'], ['outOff', 'u32']];
  for (let v = 0; v < views; v++) fields.push([`off${v}`, 'u32']);
  if (flat) return fields;
  for (let k = 0; k < rank; k++) fields.push([`d${k}`, 'u32']);
  for (let v = 0; v < views; v++) for (let k = 0; k < rank; k++) fields.push([`s${v}_${k}`, 'i32']);
  return fields;
}

function stridedValues(chunk: ViewPlan, outOffset: number, count: number, flat: boolean): Value[] {
  const values: Value[] = [['u32', count], ['u32', outOffset]];
  for (const o of chunk.offsets) values.push(['u32', o]);
  if (flat) return values;
  for (const d of chunk.shape) values.push(['u32', d]);
  for (const s of chunk.strides) for (const st of s) values.push(['i32', st]);
  return values;
}

/** WGSL defining `p0..p{views-1}`: the element index of linear position `idx` in each view. */
function stridedIndex(rank: number, views: number, flat: boolean): string {
  const lines: string[] = [];
  if (flat) {
    for (let v = 0; v < views; v++) lines.push(`let p${v} = u.off${v} + idx;`);
    return lines.join('\n  ');
  }
  for (let v = 0; v < views; v++) lines.push(`var q${v} = i32(u.off${v});`);
  lines.push('var rem = idx;');
  for (let k = rank - 1; k >= 0; k--) {
    if (k > 0) lines.push(`let c${k} = i32(rem % u.d${k}); rem = rem / u.d${k};`);
    else lines.push('let c0 = i32(rem);');
    for (let v = 0; v < views; v++) lines.push(`q${v} += c${k} * u.s${v}_${k};`);
  }
  for (let v = 0; v < views; v++) lines.push(`let p${v} = u32(q${v});`);
  return lines.join('\n  ');
}

function variant(chunk: ViewPlan): { rank: number; flat: boolean; tag: string } {
  const flat = isFlat(chunk);
  return { rank: chunk.shape.length, flat, tag: flat ? 'flat' : `r${chunk.shape.length}` };
}

function binding(index: number, name: string, access: 'read' | 'read_write', type: string): string {
  return `@group(0) @binding(${index}) var<storage, ${access}> ${name}: array<${type}>;`;
}

function wgslType(dtype: DType): string {
  return dtype === 'int32' ? 'i32' : 'f32';
}

// ---- fill, copy, writeStrided ----------------------------------------------------------------

const fillProgram: GpuProgram = {
  key: 'ew_fill',
  wgsl: () => `
${uniformStruct('U', [['n', 'u32'], ['bits', 'u32']])}
${binding(0, 'out', 'read_write', 'u32')}
@group(0) @binding(1) var<uniform> u: U;
${main1d()}
  if (idx >= u.n) { return; }
  out[idx] = u.bits;
}`,
};

/** Writes the value's bit pattern, so one program serves both dtypes. */
export function fill(ctx: GpuContext, length: number, value: number, dtype: DType): Storage {
  const out = ctx.alloc(length, dtype);
  if (length === 0) return out;
  const bits: Value = dtype === 'int32' ? ['i32', value | 0] : ['f32', value];
  ctx.dispatch(fillProgram, [{ storage: out, access: 'read_write' }], grid(ctx, length), packUniforms([['u32', length], bits]));
  return out;
}

/** Moves 32-bit words between a strided view and a contiguous buffer; `scatter` writes into the view. */
function moveProgram(rank: number, flat: boolean, tag: string, scatter: boolean): GpuProgram {
  return {
    key: `ew_${scatter ? 'write' : 'copy'}_${tag}`,
    wgsl: () => `
${uniformStruct('U', stridedFields(rank, 1, flat))}
${binding(0, 'src', 'read', 'u32')}
${binding(1, 'dst', 'read_write', 'u32')}
@group(0) @binding(2) var<uniform> u: U;
${main1d()}
  if (idx >= u.n) { return; }
  ${stridedIndex(rank, 1, flat)}
  ${scatter ? 'dst[p0] = src[u.outOff + idx];' : 'dst[u.outOff + idx] = src[p0];'}
}`,
  };
}

export function copy(ctx: GpuContext, src: StridedView): Storage {
  checkView(src, src.shape, 'copy');
  const n = sizeOf(src.shape);
  const out = ctx.alloc(n, src.storage.dtype);
  if (n === 0) return out;
  forEachChunk(planViews(src.shape, [src]), (chunk, outOffset, count) => {
    const { rank, flat, tag } = variant(chunk);
    ctx.dispatch(moveProgram(rank, flat, tag, false), [
      { storage: src.storage, access: 'read' },
      { storage: out, access: 'read_write' },
    ], grid(ctx, count), packUniforms(stridedValues(chunk, outOffset, count, flat)));
  });
  return out;
}

export function writeStrided(ctx: GpuContext, dst: StridedView, src: Storage): void {
  checkView(dst, dst.shape, 'writeStrided');
  const n = sizeOf(dst.shape);
  if (src.length !== n) throw new Error(`writeStrided: source has ${src.length} elements, the view ${n}`);
  if (src.dtype !== dst.storage.dtype) throw new Error(`writeStrided: source is ${src.dtype}, destination ${dst.storage.dtype}`);
  if (n === 0) return;
  // One dispatch may not bind a buffer both read-only and writable, and every value must be read
  // before any is overwritten anyway: a storage written into itself goes through a copy.
  const source = src === dst.storage ? copy(ctx, { storage: src, shape: [n], strides: [1], offset: 0 }) : src;
  forEachChunk(planViews(dst.shape, [dst]), (chunk, srcOffset, count) => {
    const { rank, flat, tag } = variant(chunk);
    ctx.dispatch(moveProgram(rank, flat, tag, true), [
      { storage: source, access: 'read' },
      { storage: dst.storage, access: 'read_write' },
    ], grid(ctx, count), packUniforms(stridedValues(chunk, srcOffset, count, flat)));
  });
  if (source !== src) releaseTemporary(ctx, source);
}

/**
 * Returns a scratch buffer to the pool right after the dispatches that use it were recorded (safe:
 * the runtime replays dispatches in recording order). GpuContext does not declare `release`, but the
 * runtime behind it has one; without it the buffer is simply left to the garbage collector.
 */
export function releaseTemporary(ctx: GpuContext, s: Storage): void {
  ctx.release(s);
}

// ---- unary ------------------------------------------------------------------------------------

/** WGSL expression of `x` (and uniforms u.a, u.b) for each op. */
function unaryExpr(op: UnaryOp): string {
  switch (op) {
    case 'neg': return '-x';
    case 'exp': return 'exp(x)';
    case 'log': return 'logF(x)';
    case 'sqrt': return 'sqrtF(x)';
    case 'rsqrt': return 'select(1.0 / sqrt(x), nanF32(), x < 0.0)';
    case 'abs': return 'abs(x)';
    case 'sign': return 'select(select(x, -1.0, x < 0.0), 1.0, x > 0.0)';
    case 'relu': return 'select(0.0, x, x > 0.0)';
    case 'sigmoid': return 'sigmoidF(x)';
    case 'tanh': return 'tanhF(x)';
    case 'square': return 'x * x';
    case 'reciprocal': return '1.0 / x';
    case 'floor': return 'floor(x)';
    case 'step': return 'select(0.0, 1.0, x > 0.0)';
    case 'affine': return 'x * u.a + u.b';
    case 'powScalar': return 'powF(x, u.a)';
    case 'clamp': return 'minNan(maxNan(x, u.a), u.b)';
    case 'toInt': return 'toI32(x)';
    case 'toFloat': return 'f32(x)';
  }
}

/** Ops whose result for a NaN input is not simply that NaN (everything else passes NaN through). */
const unaryOwnNan: ReadonlySet<UnaryOp> = new Set<UnaryOp>(['step', 'powScalar', 'toInt', 'toFloat']);

function unaryProgram(op: UnaryOp): GpuProgram {
  const inType = op === 'toFloat' ? 'i32' : 'f32';
  const outType = op === 'toInt' ? 'i32' : 'f32';
  const body = unaryOwnNan.has(op) ? unaryExpr(op) : `select(${unaryExpr(op)}, x, isNan(x))`;
  return {
    key: `ew_unary_${op}`,
    wgsl: () => `
${FLOAT_HELPERS}
${POW_HELPER}
${UNARY_HELPERS}
${uniformStruct('U', [['n', 'u32'], ['a', 'f32'], ['b', 'f32']])}
${binding(0, 'src', 'read', inType)}
${binding(1, 'dst', 'read_write', outType)}
@group(0) @binding(2) var<uniform> u: U;
${main1d()}
  if (idx >= u.n) { return; }
  let x = src[idx];
  dst[idx] = ${body};
}`,
  };
}

function unaryOutputDType(op: UnaryOp, input: DType): DType {
  if (op === 'toFloat') {
    if (input !== 'int32') throw new Error(`unary 'toFloat' expects an int32 input, got ${input}`);
    return 'float32';
  }
  if (input !== 'float32') throw new Error(`unary '${op}' expects a float32 input, got ${input}`);
  return op === 'toInt' ? 'int32' : 'float32';
}

/** The (a, b) uniforms each op reads, with the CPU reference's defaults. */
function unaryScalars(op: UnaryOp, params: UnaryParams): [number, number] {
  if (op === 'affine') return [params.a ?? 1, params.b ?? 0];
  if (op === 'clamp') return [params.a ?? -Infinity, params.b ?? Infinity];
  if (op === 'powScalar') {
    if (params.a === undefined) throw new Error("unary 'powScalar' needs params.a (the exponent)");
    return [params.a, 0];
  }
  return [0, 0];
}

export function unary(ctx: GpuContext, op: UnaryOp, x: Storage, params: UnaryParams = {}): Storage {
  const out = ctx.alloc(x.length, unaryOutputDType(op, x.dtype));
  const [a, b] = unaryScalars(op, params);
  if (x.length === 0) return out;
  ctx.dispatch(unaryProgram(op), [
    { storage: x, access: 'read' },
    { storage: out, access: 'read_write' },
  ], grid(ctx, x.length), packUniforms([['u32', x.length], ['f32', a], ['f32', b]]));
  return out;
}

// ---- binary and where ---------------------------------------------------------------------------

const comparisons: ReadonlySet<BinaryOp> = new Set<BinaryOp>(['eq', 'ne', 'lt', 'le', 'gt', 'ge']);

function binaryExpr(op: BinaryOp): string {
  switch (op) {
    case 'add': return 'x + y';
    case 'sub': return 'x - y';
    case 'mul': return 'x * y';
    case 'div': return 'x / y';
    case 'pow': return 'powF(x, y)';
    case 'max': return 'maxNan(x, y)';
    case 'min': return 'minNan(x, y)';
    // Some drivers lower != to an ordered comparison (false for NaN); !(x == y) is IEEE's answer.
    case 'eq': return 'select(0.0, 1.0, x == y)';
    case 'ne': return 'select(1.0, 0.0, x == y)';
    case 'lt': return 'select(0.0, 1.0, x < y)';
    case 'le': return 'select(0.0, 1.0, x <= y)';
    case 'gt': return 'select(0.0, 1.0, x > y)';
    case 'ge': return 'select(0.0, 1.0, x >= y)';
    // A product with step(y), not a select: NaN/infinite x still give NaN where y <= 0, as mul(g, step(x)) did.
    case 'reluGrad': return reluGradWgsl('x', 'y');
  }
}

/**
 * WGSL for reluGrad(g, y) = g * step(y) on two plain identifiers (each is read more than once), with
 * FLOAT_HELPERS in scope: only g's NaN propagates (a NaN y counts as not positive), and a NaN or
 * infinite g where y <= 0 gives NaN as the product would, written out since compilers may fold g * 0.
 * Shared by the binary op and batch norm's fused ReLU backward.
 */
export function reluGradWgsl(g: string, y: string): string {
  return `select(${g} * select(0.0, 1.0, ${y} > 0.0), nanF32(), isNan(${g}) || (isInf(${g}) && !(${y} > 0.0)))`;
}

function binaryProgram(op: BinaryOp, dtype: DType, rank: number, flat: boolean, tag: string): GpuProgram {
  const t = wgslType(dtype);
  // Arithmetic results are NaN whenever an operand is; only the comparisons ignore it.
  const expr = op === 'reluGrad'
    ? binaryExpr(op)
    : dtype === 'float32' && !comparisons.has(op) && op !== 'pow' && op !== 'max' && op !== 'min'
      ? `select(${binaryExpr(op)}, nanF32(), isNan(x) || isNan(y))`
      : binaryExpr(op);
  return {
    key: `ew_binary_${op}_${t}_${tag}`,
    wgsl: () => `
${FLOAT_HELPERS}
${POW_HELPER}
${uniformStruct('U', stridedFields(rank, 2, flat))}
${binding(0, 'a', 'read', t)}
${binding(1, 'b', 'read', t)}
${binding(2, 'dst', 'read_write', 'f32')}
@group(0) @binding(3) var<uniform> u: U;
${main1d()}
  if (idx >= u.n) { return; }
  ${stridedIndex(rank, 2, flat)}
  let x = a[p0];
  let y = b[p1];
  dst[u.outOff + idx] = ${expr};
}`,
  };
}

export function binary(ctx: GpuContext, op: BinaryOp, a: StridedView, b: StridedView, outShape: readonly number[]): Storage {
  checkView(a, outShape, `binary '${op}' (a)`);
  checkView(b, outShape, `binary '${op}' (b)`);
  const dtype = a.storage.dtype;
  if (dtype !== b.storage.dtype) throw new Error(`binary '${op}': mixed dtypes ${dtype} and ${b.storage.dtype}`);
  if (dtype === 'int32' && !comparisons.has(op)) throw new Error(`binary '${op}' is not supported on int32 inputs`);
  const n = sizeOf(outShape);
  const out = ctx.alloc(n, 'float32');
  if (n === 0) return out;
  forEachChunk(planViews(outShape, [a, b]), (chunk, outOffset, count) => {
    const { rank, flat, tag } = variant(chunk);
    ctx.dispatch(binaryProgram(op, dtype, rank, flat, tag), [
      { storage: a.storage, access: 'read' },
      { storage: b.storage, access: 'read' },
      { storage: out, access: 'read_write' },
    ], grid(ctx, count), packUniforms(stridedValues(chunk, outOffset, count, flat)));
  });
  return out;
}

/** Selects 32-bit words, so values (NaN payloads included) pass through bit-exactly for either dtype. */
function whereProgram(condType: DType, rank: number, flat: boolean, tag: string): GpuProgram {
  // A float condition is true unless it is +0 or -0 (NaN counts as true, as `cond !== 0` does).
  const test = condType === 'int32' ? 'cond[p0] != 0u' : '(cond[p0] & 0x7fffffffu) != 0u';
  return {
    key: `ew_where_${wgslType(condType)}_${tag}`,
    wgsl: () => `
${uniformStruct('U', stridedFields(rank, 3, flat))}
${binding(0, 'cond', 'read', 'u32')}
${binding(1, 'a', 'read', 'u32')}
${binding(2, 'b', 'read', 'u32')}
${binding(3, 'dst', 'read_write', 'u32')}
@group(0) @binding(4) var<uniform> u: U;
${main1d()}
  if (idx >= u.n) { return; }
  ${stridedIndex(rank, 3, flat)}
  dst[u.outOff + idx] = select(b[p2], a[p1], ${test});
}`,
  };
}

export function where(ctx: GpuContext, cond: StridedView, a: StridedView, b: StridedView, outShape: readonly number[]): Storage {
  checkView(cond, outShape, 'where (cond)');
  checkView(a, outShape, 'where (a)');
  checkView(b, outShape, 'where (b)');
  const dtype = a.storage.dtype;
  if (dtype !== b.storage.dtype) throw new Error(`where: mixed dtypes ${dtype} and ${b.storage.dtype}`);
  const n = sizeOf(outShape);
  const out = ctx.alloc(n, dtype);
  if (n === 0) return out;
  forEachChunk(planViews(outShape, [cond, a, b]), (chunk, outOffset, count) => {
    const { rank, flat, tag } = variant(chunk);
    ctx.dispatch(whereProgram(cond.storage.dtype, rank, flat, tag), [
      { storage: cond.storage, access: 'read' },
      { storage: a.storage, access: 'read' },
      { storage: b.storage, access: 'read' },
      { storage: out, access: 'read_write' },
    ], grid(ctx, count), packUniforms(stridedValues(chunk, outOffset, count, flat)));
  });
  return out;
}
