/**
 * Fused batch normalisation over contiguous [n, c, hw]: per-channel statistics, the normalising
 * affine map and its backward, each a couple of dispatches instead of the dozens of elementwise and
 * reduction passes the composed op needed (which dominated training steps on CPU-emulated adapters).
 *
 * Reductions (statistics, backward sums) run in two barrier-free steps, since barriers cost
 * CPU-emulated adapters dearly (see reduce.ts):
 * - partials: one thread per (chunk, channel) walks a contiguous range of the channel's m = n*hw
 *   values (a few rows of hw values) with compensated (Kahan) sums. For the statistics it makes two
 *   passes over its chunk, the chunk's mean then its sum of squared deviations, so the variance never
 *   comes from E[x^2] - E[x]^2; the second pass reads the chunk from cache.
 * - finish: one thread per channel combines its chunks, again with compensated sums: the mean as
 *   sum(count_k * mean_k) / m, the squared deviations as sum(M2_k + count_k * (mean_k - mean)^2)
 *   (exact decomposition, no sequential merging error), and writes per-channel results.
 * The elementwise steps read per-channel coefficients that a one-thread-per-channel kernel prepares,
 * so each element costs a channel lookup and a multiply-add.
 */
import type { BatchNormEpilogue, BatchNormGrads, BatchNormParams, BatchNormRunningUpdate, BatchNormWant, Storage } from '../tensor/backend.js';
import type { GpuBinding, GpuContext, GpuProgram } from '../backends/webgpu/context.js';
import { grid, main1d, packUniforms, uniformStruct } from './common.js';
import { fill, FLOAT_HELPERS, releaseTemporary, reluGradWgsl } from './elementwise.js';

/** Partials kernel: aim for about this many threads (GPU / CPU-emulated), each summing >= MIN_CHUNK values. */
const TARGET_THREADS = 32768;
const TARGET_THREADS_SOFTWARE = 2048;
const MIN_CHUNK = 64;

interface ChunkPlan {
  m: number;
  chunks: number;
  chunkLen: number;
  /** chunks * c: partial slots, laid out [chunk][channel]. */
  total: number;
}

function planChunks(ctx: GpuContext, p: BatchNormParams): ChunkPlan {
  const m = p.n * p.hw;
  const target = ctx.preferWorkgroupMemory ? TARGET_THREADS : TARGET_THREADS_SOFTWARE;
  const want = Math.max(1, Math.min(Math.ceil(target / p.c), Math.floor(m / MIN_CHUNK)));
  const chunkLen = Math.ceil(m / want);
  const chunks = Math.ceil(m / chunkLen);
  return { m, chunks, chunkLen, total: chunks * p.c };
}

function check(p: BatchNormParams, x: Storage, what: string, perChannel: Record<string, Storage | null>): void {
  for (const k of ['n', 'c', 'hw'] as const) {
    if (!Number.isInteger(p[k]) || p[k] < 0) throw new Error(`${what}: ${k} must be a non-negative integer, got ${p[k]}`);
  }
  if (x.dtype !== 'float32') throw new Error(`${what}: expected float32 input, got ${x.dtype}`);
  if (x.length !== p.n * p.c * p.hw) throw new Error(`${what} x: expected ${p.n * p.c * p.hw} elements, got ${x.length}`);
  for (const [name, s] of Object.entries(perChannel)) {
    if (s && (s.length !== p.c || s.dtype !== 'float32')) throw new Error(`${what} ${name}: expected ${p.c} float32 elements, got ${s.length} ${s.dtype}`);
  }
}

const read = (storage: Storage): GpuBinding => ({ storage, access: 'read' });
const write = (storage: Storage): GpuBinding => ({ storage, access: 'read_write' });

/** WGSL binding declarations in order, for a list of [name, access]. */
function bindings(list: Array<[string, 'read' | 'read_write']>): string {
  return list.map(([name, access], i) => `@group(0) @binding(${i}) var<storage, ${access}> ${name}: array<f32>;`).join('\n')
    + `\n@group(0) @binding(${list.length}) var<uniform> u: U;`;
}

/** WGSL: compensated accumulation of `value` into acc{name} / comp{name}. */
function kahanAdd(name: string, value: string): string {
  return `{ let y${name} = (${value}) - comp${name}; let t${name} = acc${name} + y${name}; comp${name} = (t${name} - acc${name}) - y${name}; acc${name} = t${name}; }`;
}

const kahanVars = (...names: string[]): string => names.map((n) => `var acc${n} = 0.0; var comp${n} = 0.0;`).join(' ');

/**
 * WGSL: the start of thread `t`'s chunk (channel ch, values [start, end) of the channel's m), then
 * `walk(body)` loops over the chunk's input offsets `q`, row by row (no division per value).
 */
const CHUNK_PROLOGUE = `
  let t = idx;
  if (t >= u.total) { return; }
  let ch = t % u.c;
  let start = (t / u.c) * u.chunkLen;
  let end = min(start + u.chunkLen, u.m);
  let r0 = start % u.hw;
  let base0 = ((start / u.hw) * u.c + ch) * u.hw + r0;
  // From the end of one of the channel's rows to the start of its next one.
  let skip = (u.c - 1u) * u.hw;`;

function walk(body: string): string {
  return `{
    var j = start;
    var q0 = base0;
    var run = min(u.hw - r0, end - start);
    loop {
      if (j >= end) { break; }
      for (var i = 0u; i < run; i++) {
        let q = q0 + i;
        ${body}
      }
      j += run;
      q0 += run + skip;
      run = min(u.hw, end - j);
    }
  }`;
}

const CHUNK_FIELDS: Array<[string, 'u32']> = [['total', 'u32'], ['c', 'u32'], ['hw', 'u32'], ['m', 'u32'], ['chunkLen', 'u32']];

function chunkUniforms(p: BatchNormParams, plan: ChunkPlan): ArrayBuffer {
  return packUniforms([['u32', plan.total], ['u32', p.c], ['u32', p.hw], ['u32', plan.m], ['u32', plan.chunkLen]]);
}

/** WGSL: count_k, the number of values in chunk k (the last one may be short). */
const CHUNK_COUNT = 'let cnt = f32(min(u.chunkLen, u.m - k * u.chunkLen));';

// ---- statistics ---------------------------------------------------------------------------------

const statsPartialProgram: GpuProgram = {
  key: 'bn_stats_partial',
  wgsl: () => `
${uniformStruct('U', CHUNK_FIELDS)}
${bindings([['x', 'read'], ['part', 'read_write']])}
${main1d()}
${CHUNK_PROLOGUE}
  ${kahanVars('S')}
  ${walk(kahanAdd('S', 'x[q]'))}
  let cm = accS / f32(end - start);
  ${kahanVars('Q')}
  ${walk(`let d = x[q] - cm; ${kahanAdd('Q', 'd * d')}`)}
  part[t] = cm;
  part[u.total + t] = accQ;
}`,
};

function statsFinishProgram(running: boolean): GpuProgram {
  const list: Array<[string, 'read' | 'read_write']> = [['part', 'read'], ['mean', 'read_write'], ['vari', 'read_write']];
  if (running) list.push(['rmean', 'read_write'], ['rvar', 'read_write']);
  return {
    key: `bn_stats_finish${running ? '_running' : ''}`,
    wgsl: () => `
${uniformStruct('U', [['c', 'u32'], ['m', 'u32'], ['chunks', 'u32'], ['chunkLen', 'u32'], ['total', 'u32'], ['keep', 'f32'], ['momentum', 'f32'], ['unbias', 'f32']])}
${bindings(list)}
${main1d()}
  let ch = idx;
  if (ch >= u.c) { return; }
  ${kahanVars('S')}
  for (var k = 0u; k < u.chunks; k++) {
    ${CHUNK_COUNT}
    ${kahanAdd('S', 'cnt * part[k * u.c + ch]')}
  }
  let mu = accS / f32(u.m);
  ${kahanVars('Q')}
  for (var k = 0u; k < u.chunks; k++) {
    ${CHUNK_COUNT}
    let d = part[k * u.c + ch] - mu;
    ${kahanAdd('Q', 'part[u.total + k * u.c + ch] + cnt * d * d')}
  }
  let v = accQ / f32(u.m);
  mean[ch] = mu;
  vari[ch] = v;
  ${running ? `// PyTorch's rule, in the order of the composed ops this replaces: each product, then the sum.
  let rm = rmean[ch] * u.keep;
  let rv = rvar[ch] * u.keep;
  rmean[ch] = rm + mu * u.momentum;
  rvar[ch] = rv + v * u.unbias;` : ''}
}`,
  };
}

export function batchNormStats(ctx: GpuContext, x: Storage, p: BatchNormParams, running?: BatchNormRunningUpdate): { mean: Storage; var: Storage } {
  check(p, x, 'batchNormStats', { 'running mean': running?.mean ?? null, 'running var': running?.var ?? null });
  const plan = planChunks(ctx, p);
  if (p.c === 0 || plan.m === 0) {
    // No values: 0/0, as the CPU reference gives; running statistics are left alone.
    return { mean: fill(ctx, p.c, NaN, 'float32'), var: fill(ctx, p.c, NaN, 'float32') };
  }
  const part = ctx.alloc(2 * plan.total, 'float32');
  ctx.dispatch(statsPartialProgram, [read(x), write(part)], grid(ctx, plan.total), chunkUniforms(p, plan));
  const mean = ctx.alloc(p.c, 'float32');
  const variance = ctx.alloc(p.c, 'float32');
  const momentum = running?.momentum ?? 0;
  ctx.dispatch(statsFinishProgram(!!running), [
    read(part), write(mean), write(variance), ...(running ? [write(running.mean), write(running.var)] : []),
  ], grid(ctx, p.c), packUniforms([
    ['u32', p.c], ['u32', plan.m], ['u32', plan.chunks], ['u32', plan.chunkLen], ['u32', plan.total],
    ['f32', 1 - momentum], ['f32', momentum], ['f32', (momentum * plan.m) / (plan.m - 1)],
  ]));
  releaseTemporary(ctx, part);
  return { mean, var: variance };
}

// ---- forward ----------------------------------------------------------------------------------

/** WGSL: invstd of channel ch from vari[ch] (NaN for a negative var + eps, as 1 / Math.sqrt gives). */
const INVSTD = 'let ve = vari[ch] + u.eps; let istd = select(1.0 / sqrt(ve), nanF32(), ve < 0.0);';

/** coef [3c] = mean, scale = weight * invstd, shift = bias per channel. */
function forwardPrepProgram(hasWeight: boolean, hasBias: boolean): GpuProgram {
  const list: Array<[string, 'read' | 'read_write']> = [['mean', 'read'], ['vari', 'read']];
  if (hasWeight) list.push(['weight', 'read']);
  if (hasBias) list.push(['bias', 'read']);
  list.push(['coef', 'read_write']);
  return {
    key: `bn_fwd_prep_w${+hasWeight}_b${+hasBias}`,
    wgsl: () => `
${FLOAT_HELPERS}
${uniformStruct('U', [['c', 'u32'], ['eps', 'f32']])}
${bindings(list)}
${main1d()}
  let ch = idx;
  if (ch >= u.c) { return; }
  ${INVSTD}
  coef[ch] = mean[ch];
  coef[u.c + ch] = ${hasWeight ? 'weight[ch] * istd' : 'istd'};
  coef[2u * u.c + ch] = ${hasBias ? 'bias[ch]' : '0.0'};
}`,
  };
}

/** y = (x - mean) * scale + shift per element, then the epilogue: + residual, ReLU (as the relu op's WGSL). */
function forwardApplyProgram(residual: boolean, relu: boolean): GpuProgram {
  const list: Array<[string, 'read' | 'read_write']> = [['x', 'read'], ['coef', 'read']];
  if (residual) list.push(['res', 'read']);
  list.push(['y', 'read_write']);
  return {
    key: `bn_fwd_apply_r${+residual}_a${+relu}`,
    wgsl: () => `
${uniformStruct('U', [['total', 'u32'], ['c', 'u32'], ['hw', 'u32']])}
${bindings(list)}
${main1d()}
  if (idx >= u.total) { return; }
  let ch = (idx / u.hw) % u.c;
  let v = (x[idx] - coef[ch]) * coef[u.c + ch] + coef[2u * u.c + ch]${residual ? ' + res[idx]' : ''};
  y[idx] = ${relu ? 'select(0.0, v, v > 0.0)' : 'v'};
}`,
  };
}

export function batchNormForward(
  ctx: GpuContext, x: Storage, mean: Storage, variance: Storage, weight: Storage | null, bias: Storage | null, p: BatchNormParams,
  epilogue: BatchNormEpilogue = {},
): Storage {
  check(p, x, 'batchNormForward', { mean, var: variance, weight, bias });
  const residual = epilogue.residual ?? null;
  if (residual && (residual.length !== x.length || residual.dtype !== 'float32')) {
    throw new Error(`batchNormForward residual: expected ${x.length} float32 elements, got ${residual.length} ${residual.dtype}`);
  }
  const y = ctx.alloc(x.length, 'float32');
  if (x.length === 0) return y;
  const coef = ctx.alloc(3 * p.c, 'float32');
  ctx.dispatch(forwardPrepProgram(!!weight, !!bias), [
    read(mean), read(variance), ...(weight ? [read(weight)] : []), ...(bias ? [read(bias)] : []), write(coef),
  ], grid(ctx, p.c), packUniforms([['u32', p.c], ['f32', p.eps]]));
  ctx.dispatch(forwardApplyProgram(!!residual, !!epilogue.relu), [read(x), read(coef), ...(residual ? [read(residual)] : []), write(y)],
    grid(ctx, x.length), packUniforms([['u32', x.length], ['u32', p.c], ['u32', p.hw]]));
  releaseTemporary(ctx, coef);
  return y;
}

// ---- backward ---------------------------------------------------------------------------------

/** WGSL statements defining `g`: dy[q], through the ReLU epilogue's backward when gated (the reluGrad op's expression). */
const gatedDy = (gated: boolean, q: string) => (gated ? `let gd = dy[${q}]; let gy = gate[${q}]; let g = ${reluGradWgsl('gd', 'gy')};` : `let g = dy[${q}];`);

/** Per-chunk sums of dy and dy * (x - mean[c]), laid out [2][chunk][channel]; dy gated by the ReLU output when `gated`. */
function backwardPartialProgram(gated: boolean): GpuProgram {
  const list: Array<[string, 'read' | 'read_write']> = [['dy', 'read'], ['x', 'read'], ['mean', 'read']];
  if (gated) list.push(['gate', 'read']);
  list.push(['part', 'read_write']);
  return {
    key: `bn_bwd_partial_g${+gated}`,
    wgsl: () => `${gated ? FLOAT_HELPERS : ''}
${uniformStruct('U', CHUNK_FIELDS)}
${bindings(list)}
${main1d()}
${CHUNK_PROLOGUE}
  let mu = mean[ch];
  ${kahanVars('D', 'P')}
  ${walk(`${gatedDy(gated, 'q')} ${kahanAdd('D', 'g')} ${kahanAdd('P', 'g * (x[q] - mu)')}`)}
  part[t] = accD;
  part[u.total + t] = accP;
}`,
  };
}

/**
 * One thread per channel: with `sums`, combines the partials into dbias = sum(dy) and
 * dweight = invstd * sum(dy * (x - mean)); always writes the dx coefficients coef [4c] so that
 * dx = k1 * dy + k2 * (x - mean) + k3:
 *   k1 = weight * invstd, and in training k2 = -k1 * invstd * dweight / m, k3 = -k1 * dbias / m.
 */
function backwardFinishProgram(sums: boolean, hasWeight: boolean): GpuProgram {
  const list: Array<[string, 'read' | 'read_write']> = [];
  if (sums) list.push(['part', 'read']);
  list.push(['mean', 'read'], ['vari', 'read']);
  if (hasWeight) list.push(['weight', 'read']);
  list.push(['coef', 'read_write']);
  if (sums) list.push(['dweight', 'read_write'], ['dbias', 'read_write']);
  return {
    key: `bn_bwd_finish_s${+sums}_w${+hasWeight}`,
    wgsl: () => `
${FLOAT_HELPERS}
${uniformStruct('U', [['c', 'u32'], ['chunks', 'u32'], ['total', 'u32'], ['training', 'u32'], ['eps', 'f32'], ['invM', 'f32']])}
${bindings(list)}
${main1d()}
  let ch = idx;
  if (ch >= u.c) { return; }
  ${INVSTD}
  let k1 = ${hasWeight ? 'weight[ch] * istd' : 'istd'};
  var k2 = 0.0;
  var k3 = 0.0;
  ${sums ? `${kahanVars('D', 'P')}
  for (var k = 0u; k < u.chunks; k++) {
    ${kahanAdd('D', 'part[k * u.c + ch]')}
    ${kahanAdd('P', 'part[u.total + k * u.c + ch]')}
  }
  let dw = accP * istd;
  dweight[ch] = dw;
  dbias[ch] = accD;
  if (u.training != 0u) {
    k2 = -k1 * istd * dw * u.invM;
    k3 = -k1 * accD * u.invM;
  }` : ''}
  coef[ch] = k1;
  coef[u.c + ch] = k2;
  coef[2u * u.c + ch] = k3;
  coef[3u * u.c + ch] = mean[ch];
}`,
  };
}

/**
 * dx from the coefficients (eval mode's dx = k1 * dy does not read x, as the CPU reference), and/or
 * with a gate the gated dy itself (the residual's gradient), from one read of dy and the gate.
 */
function backwardDataProgram(training: boolean, gated: boolean, wantDx: boolean, wantGated: boolean): GpuProgram {
  const list: Array<[string, 'read' | 'read_write']> = [['dy', 'read']];
  if (wantDx && training) list.push(['x', 'read']);
  if (gated) list.push(['gate', 'read']);
  list.push(['coef', 'read']);
  if (wantDx) list.push(['dx', 'read_write']);
  if (wantGated) list.push(['dg', 'read_write']);
  return {
    key: `bn_bwd_data_t${+training}_g${+gated}_x${+wantDx}_d${+wantGated}`,
    wgsl: () => `${gated ? FLOAT_HELPERS : ''}
${uniformStruct('U', [['total', 'u32'], ['c', 'u32'], ['hw', 'u32']])}
${bindings(list)}
${main1d()}
  if (idx >= u.total) { return; }
  let ch = (idx / u.hw) % u.c;
  ${gatedDy(gated, 'idx')}
  ${wantDx ? `dx[idx] = ${training
    ? 'coef[ch] * g + coef[u.c + ch] * (x[idx] - coef[3u * u.c + ch]) + coef[2u * u.c + ch]'
    : 'coef[ch] * g'};` : ''}
  ${wantGated ? 'dg[idx] = g;' : ''}
}`,
  };
}

export function batchNormBackward(
  ctx: GpuContext, dy: Storage, x: Storage, mean: Storage, variance: Storage, weight: Storage | null, p: BatchNormParams,
  want: BatchNormWant, gate: Storage | null = null,
): BatchNormGrads {
  check(p, x, 'batchNormBackward', { mean, var: variance, weight });
  if (dy.length !== x.length || dy.dtype !== 'float32') throw new Error(`batchNormBackward dy: expected ${x.length} float32 elements, got ${dy.length} ${dy.dtype}`);
  if (gate && (gate.length !== x.length || gate.dtype !== 'float32')) throw new Error(`batchNormBackward gate: expected ${x.length} float32 elements, got ${gate.length} ${gate.dtype}`);
  if (want.dgated && !gate) throw new Error('batchNormBackward: dgated needs a gate');
  const gated = gate !== null;
  const wantGated = !!want.dgated;
  const plan = planChunks(ctx, p);
  const sums = want.dweight || want.dbias || (want.dx && want.training);
  if (p.c === 0 || plan.m === 0) {
    // No values: empty sums are zero and dx is empty.
    return {
      dx: want.dx ? ctx.alloc(x.length, 'float32') : null,
      dweight: want.dweight ? fill(ctx, p.c, 0, 'float32') : null,
      dbias: want.dbias ? fill(ctx, p.c, 0, 'float32') : null,
      dgated: wantGated ? ctx.alloc(x.length, 'float32') : null,
    };
  }
  const dweight = sums ? ctx.alloc(p.c, 'float32') : null;
  const dbias = sums ? ctx.alloc(p.c, 'float32') : null;
  const dx = want.dx ? ctx.alloc(x.length, 'float32') : null;
  const dg = wantGated ? ctx.alloc(x.length, 'float32') : null;
  if (!sums && !dx && !dg) return { dx: null, dweight: null, dbias: null, dgated: null };
  let part: Storage | null = null;
  if (sums) {
    part = ctx.alloc(2 * plan.total, 'float32');
    ctx.dispatch(backwardPartialProgram(gated), [read(dy), read(x), read(mean), ...(gate ? [read(gate)] : []), write(part)],
      grid(ctx, plan.total), chunkUniforms(p, plan));
  }
  const coef = ctx.alloc(4 * p.c, 'float32');
  ctx.dispatch(backwardFinishProgram(sums, !!weight), [
    ...(part ? [read(part)] : []), read(mean), read(variance), ...(weight ? [read(weight)] : []), write(coef),
    ...(sums ? [write(dweight!), write(dbias!)] : []),
  ], grid(ctx, p.c), packUniforms([
    ['u32', p.c], ['u32', plan.chunks], ['u32', plan.total], ['u32', want.training ? 1 : 0], ['f32', p.eps], ['f32', 1 / plan.m],
  ]));
  if (part) releaseTemporary(ctx, part);
  if (dx || dg) {
    const training = want.training;
    ctx.dispatch(backwardDataProgram(training, gated, !!dx, !!dg), [
      read(dy), ...(dx && training ? [read(x)] : []), ...(gate ? [read(gate)] : []), read(coef), ...(dx ? [write(dx)] : []), ...(dg ? [write(dg)] : []),
    ], grid(ctx, x.length), packUniforms([['u32', x.length], ['u32', p.c], ['u32', p.hw]]));
  }
  releaseTemporary(ctx, coef);
  // Sums computed only for dx (training) are scratch.
  let outW = dweight;
  let outB = dbias;
  if (outW && !want.dweight) { releaseTemporary(ctx, outW); outW = null; }
  if (outB && !want.dbias) { releaseTemporary(ctx, outB); outB = null; }
  return { dx, dweight: outW, dbias: outB, dgated: dg };
}
