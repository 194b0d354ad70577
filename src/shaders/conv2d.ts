/**
 * NCHW conv2d (groups 1, dilation 1) forward, backward-data and backward-weight as implicit GEMMs
 * (conv2d-implicit.ts) over a zero-padded copy of the input (conv2d-prep.ts):
 * - forward: rows = output channels, columns = (image, oy, ox), k = (ci, ky, kx);
 * - backward-data: at stride 1, a stride-1 convolution of the padded output gradient with the
 *   flipped, transposed kernel (read in place from w); strided, the same per output phase with the
 *   taps that reach it (conv2d-phases.ts), so no work is spent on a zero-dilated grid;
 * - backward-weight: rows = output channels, columns = (ci, ky, kx), k = (image, oy, ox); that
 *   reduction is long, so it is split over k into partial slots plus a summing pass when the
 *   output alone gives too few threads.
 * 3x3 stride-1 forward and backward-data go through Winograd F(4x4, 3x3) instead (conv2d-winograd.ts) where
 * the context enables it (software adapters by default) and the pass reduces over enough channels.
 * Padded copies are made a batch chunk at a time so each stays within maxStorageBufferBindingSize.
 * The register-form programs are specialised per geometry (kernel size, output width, stride-1
 * tile shapes; see conv2d-implicit.ts), so each new layer shape compiles a few programs once.
 */
import type { Conv2dParams, Storage } from '../tensor/backend.js';
import type { GemmFamily, GpuContext, GpuBinding, StridedBackwardData } from '../backends/webgpu/context.js';
import { grid1d } from '../backends/webgpu/context.js';
import { packUniforms } from './common.js';
import { DW_FIELDS, dwKUnit, dwProgram, dwTileColumns, IM2COL_FIELDS, IM2COL_SPLIT_FIELDS, im2colProgram, im2colSplitProgram, slideShape, type KernelForm } from './conv2d-implicit.js';
import { axisPhase, gatherPhaseKernel, scatterPhase } from './conv2d-phases.js';
import { spreadImages, sumSlices, sumSlicesInto } from './conv2d-prep.js';
import { winogradApplies, winogradConv, winogradSizes } from './conv2d-winograd.js';
import type { RegisterConfig } from './matmul-register.js';
import { SHARED_TILE } from './matmul-shared.js';

/** Tuned on SwiftShader (2 cores) with bench/kernels.ts. */
export const CONV_REGISTER_CONFIG: RegisterConfig = { tm: 8, tn: 16, ku: 4, workgroupSize: 16 };

/** Split-K aims for this many threads (register form) or workgroups (shared form) ... */
const SPLIT_TARGET = { register: 256, shared: 256 };
/** ... but never gives a split fewer k steps than this. */
const MIN_SPLIT_K = 256;

function formFor(ctx: GpuContext, family: GemmFamily, cfg?: RegisterConfig): KernelForm {
  return ctx.gemmForms[family] === 'shared' ? { kind: 'shared' } : { kind: 'register', cfg: cfg ?? CONV_REGISTER_CONFIG };
}

/** Throws unless the geometry is valid and every given storage is float32 of exactly its expected length (shared with conv2d-gemm.ts). */
export function checkParams(p: Conv2dParams, sizes: Record<string, [Storage | null, number]>): void {
  for (const [name, v] of Object.entries(p)) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`conv2d: ${name} must be a non-negative integer, got ${v}`);
  }
  if (p.strideH < 1 || p.strideW < 1) throw new Error(`conv2d: strides must be at least 1, got ${p.strideH}x${p.strideW}`);
  // Every window must lie inside the padded input, or the kernels would read past it.
  if (p.outH > 0 && (p.outH - 1) * p.strideH + p.kh > p.h + 2 * p.padH) throw new Error(`conv2d: outH ${p.outH} does not fit h ${p.h}, kh ${p.kh}, stride ${p.strideH}, padding ${p.padH}`);
  if (p.outW > 0 && (p.outW - 1) * p.strideW + p.kw > p.w + 2 * p.padW) throw new Error(`conv2d: outW ${p.outW} does not fit w ${p.w}, kw ${p.kw}, stride ${p.strideW}, padding ${p.padW}`);
  for (const [what, [s, expected]] of Object.entries(sizes)) {
    if (!s) continue;
    if (s.dtype !== 'float32') throw new Error(`conv2d: ${what} must be float32`);
    if (s.length !== expected) throw new Error(`conv2d: ${what} has ${s.length} elements, expected ${expected}`);
  }
}

/**
 * Winograd (conv2d-winograd.ts) where the context allows it, the conv is 3x3 stride 1, the pass reduces over at
 * least WINOGRAD_MIN_CHANNELS channels and its transformed operands fit one binding.
 */
function useWinograd(ctx: GpuContext, p: Conv2dParams, c: number, m: number, outH: number, outW: number): boolean {
  if (!ctx.winograd || !winogradApplies(p) || c < WINOGRAD_MIN_CHANNELS || m === 0 || p.n === 0) return false;
  return winogradSizes(ctx, { c, m, outH, outW }) !== null;
}

/**
 * Below this many reduction channels the transforms cost more than the multiply-adds they save. Measured on
 * SwiftShader (scratch timing at batch 32, 28x28, 16 output channels): the first layer's forward over 1 and 3
 * channels took 3.5 and 7.7 ms direct against 6.9 and 9.5 ms Winograd; at 8 channels 7.4 against 7.6 ms.
 */
export const WINOGRAD_MIN_CHANNELS = 8;

/** Images per padded chunk so that `floatsPerImage * images` fits one storage binding. */
function imagesPerChunk(ctx: GpuContext, floatsPerImage: number, n: number): number {
  if (floatsPerImage === 0) return Math.max(1, n);
  const fit = Math.floor(ctx.limits.maxStorageBufferBindingSize / 4 / floatsPerImage);
  if (fit < 1) throw new Error(`conv2d: one padded image (${floatsPerImage} floats) exceeds maxStorageBufferBindingSize`);
  return Math.min(Math.max(1, n), fit);
}

function workgroupsFor(ctx: GpuContext, form: KernelForm, m: number, n: number, problems: number): { tilesN: number; tilesM: number; workgroups: [number, number, number] } {
  const tm = form.kind === 'shared' ? SHARED_TILE.bm : form.cfg.tm;
  const tn = form.kind === 'shared' ? SHARED_TILE.bn : form.cfg.tn;
  const tilesN = Math.ceil(n / tn);
  const tilesM = Math.ceil(m / tm);
  const count = tilesN * tilesM * problems;
  const groups = form.kind === 'shared' ? count : Math.ceil(count / form.cfg.workgroupSize);
  return { tilesN, tilesM, workgroups: grid1d(groups, ctx.limits.maxComputeWorkgroupsPerDimension) };
}

interface Im2colPass {
  a: Storage; src: Storage; out: Storage; bias: Storage | null;
  m: number; c: number; images: number; hs: number; ws: number;
  outH: number; outW: number; sh: number; sw: number; kh: number; kw: number;
  flip: boolean; b0: number;
}

/**
 * How many ways to split an im2col GEMM's reduction of `units` (k steps, or input channels of `unitSteps` k steps
 * each): enough for `target` workgroups or threads when the output tiles alone give fewer, never under MIN_SPLIT_K
 * k steps a split, and all slots within one binding. Deep layers need it on GPUs: on the H100, 256x8x8 and 512x4x4
 * at batch 32 gave the register form 2,048-4,096 threads and ran at 0.14-0.7x TensorFlow.js.
 */
export function im2colSplits(tiles: number, units: number, unitSteps: number, target: number, slotFloats: number, maxBindingBytes: number): number {
  const maxSlots = Math.max(1, Math.floor(maxBindingBytes / 4 / Math.max(1, slotFloats)));
  const longest = Math.floor(units / Math.ceil(MIN_SPLIT_K / unitSteps));
  return Math.max(1, Math.min(Math.ceil(target / Math.max(1, tiles)), longest, maxSlots));
}

/**
 * Threads the register-form im2col GEMM aims for on a hardware adapter (an H100 runs 132 x 2,048 at once); software
 * adapters run a few CPU threads, which the output tiles always fill, so they never split (SPLIT_TARGET.register
 * is for backward-weight, whose tiles can be very few).
 */
const REGISTER_IM2COL_TARGET_HW = 16384;

/** The split plan of one im2col pass: 1 split means the plain program. */
function im2colSplitPlan(ctx: GpuContext, form: KernelForm, tiles: number, c: number, taps: number, slotFloats: number): { splits: number; chunk: number } {
  const maxBinding = ctx.limits.maxStorageBufferBindingSize;
  if (!ctx.splitIm2col) return { splits: 1, chunk: form.kind === 'shared' ? c * taps : c };
  if (form.kind === 'shared') {
    const k = c * taps;
    const wanted = im2colSplits(tiles, k, 1, SPLIT_TARGET.shared, slotFloats, maxBinding);
    if (wanted <= 1) return { splits: 1, chunk: k };
    // Whole 16-deep tile steps per split, so no split starts mid-tile; the last split takes what is left.
    const chunk = Math.ceil(k / wanted / SHARED_TILE.bk) * SHARED_TILE.bk;
    return { splits: Math.ceil(k / chunk), chunk };
  }
  // The register loop unrolls whole kernel windows per channel; kernels above MAX_RUN taps loop by rows instead.
  if (ctx.isSoftwareAdapter || taps > 16) return { splits: 1, chunk: c };
  const wanted = im2colSplits(tiles, c, taps, REGISTER_IM2COL_TARGET_HW, slotFloats, maxBinding);
  const chunk = Math.ceil(c / wanted);
  return { splits: Math.ceil(c / chunk), chunk };
}

function im2colPass(ctx: GpuContext, form: KernelForm, q: Im2colPass): void {
  const taps = q.kh * q.kw;
  const n = q.images * q.outH * q.outW;
  const k = q.c * taps;
  if (n === 0 || q.m === 0) return;
  const { tilesN, tilesM, workgroups } = workgroupsFor(ctx, form, q.m, n, 1);
  const values: Record<string, number> = {
    m: q.m, n, k, c: q.c, hs: q.hs, ws: q.ws, outH: q.outH, outW: q.outW, sh: q.sh, sw: q.sw,
    kh: q.kh, kw: q.kw, tilesN, tilesM, b0: q.b0, one: 1,
  };
  const slide = form.kind === 'register' ? slideShape(form.cfg.tn, q.kw, q.sw, q.outH, q.outW) : null;
  const tiles = tilesN * tilesM;
  const { splits, chunk } = im2colSplitPlan(ctx, form, tiles, q.c, taps, q.m * n);
  if (splits > 1) {
    const slotLen = q.m * n;
    const partials = ctx.alloc(splits * slotLen, 'float32');
    const split: Record<string, number> = { ...values, splits, chunk, slotLen };
    ctx.dispatch(im2colSplitProgram(form, q.flip, q.kh, q.kw, slide), [{ storage: q.a, access: 'read' }, { storage: q.src, access: 'read' }, { storage: partials, access: 'read_write' }],
      workgroupsFor(ctx, form, q.m, n, splits).workgroups, packUniforms(IM2COL_SPLIT_FIELDS.map(([f, t]) => [t, split[f]!])));
    sumSlicesInto(ctx, partials, q.out, { length: slotLen, slices: splits, offset: q.b0 * q.m * q.outH * q.outW, plane: q.outH * q.outW, m: q.m, bias: q.bias });
    ctx.release(partials);
    return;
  }
  const bindings: GpuBinding[] = [
    { storage: q.a, access: 'read' },
    { storage: q.src, access: 'read' },
    { storage: q.out, access: 'read_write' },
  ];
  if (q.bias) bindings.push({ storage: q.bias, access: 'read' });
  ctx.dispatch(im2colProgram(form, q.flip, q.bias !== null, q.kh, q.kw, slide), bindings, workgroups, packUniforms(IM2COL_FIELDS.map(([f, t]) => [t, values[f]!])));
}

/** Where a source image's pixels go in the plane an im2col pass reads (SpreadArgs without the plane and batch fields). */
type Placement = { h: number; w: number; offY: number; offX: number; sh: number; sw: number };

/**
 * Runs one im2col pass over `n` images of `src`: straight from `src` when `placement` is null (the
 * source already is the plane the pass reads), else over copies spread into q.hs x q.ws planes, a batch
 * chunk at a time so each copy fits one storage binding.
 */
function im2colOverImages(ctx: GpuContext, form: KernelForm, q: Omit<Im2colPass, 'src' | 'images' | 'b0'>, src: Storage, n: number, placement: Placement | null): void {
  if (!placement) {
    im2colPass(ctx, form, { ...q, src, images: n, b0: 0 });
    return;
  }
  const chunk = imagesPerChunk(ctx, q.c * q.hs * q.ws, n);
  for (let b0 = 0; b0 < n; b0 += chunk) {
    const images = Math.min(chunk, n - b0);
    const copy = spreadImages(ctx, src, { ...placement, images, c: q.c, hs: q.hs, ws: q.ws, b0 });
    im2colPass(ctx, form, { ...q, src: copy, images, b0 });
    ctx.release(copy);
  }
}

export function conv2d(ctx: GpuContext, x: Storage, w: Storage, bias: Storage | null, p: Conv2dParams, cfg?: RegisterConfig): Storage {
  checkParams(p, { x: [x, p.n * p.cIn * p.h * p.w], weight: [w, p.cOut * p.cIn * p.kh * p.kw], bias: [bias, p.cOut] });
  const out = ctx.alloc(p.n * p.cOut * p.outH * p.outW, 'float32');
  if (out.length === 0) return out;
  if (useWinograd(ctx, p, p.cIn, p.cOut, p.outH, p.outW)) {
    winogradConv(ctx, { src: x, n: p.n, c: p.cIn, h: p.h, w: p.w, weight: w, transposeFlip: false, m: p.cOut, outH: p.outH, outW: p.outW, padY: p.padH, padX: p.padW, bias }, out);
    return out;
  }
  const form = formFor(ctx, 'convForward', cfg);
  const base = { a: w, out, bias, m: p.cOut, c: p.cIn, outH: p.outH, outW: p.outW, sh: p.strideH, sw: p.strideW, kh: p.kh, kw: p.kw, flip: false };
  if ((p.padH === 0 && p.padW === 0) || p.cIn === 0) {
    im2colOverImages(ctx, form, { ...base, hs: p.h, ws: p.w }, x, p.n, null);
    return out;
  }
  const padded = { ...base, hs: p.h + 2 * p.padH, ws: p.w + 2 * p.padW };
  im2colOverImages(ctx, form, padded, x, p.n, { h: p.h, w: p.w, offY: p.padH, offX: p.padW, sh: 1, sw: 1 });
  return out;
}

export function conv2dBackwardData(ctx: GpuContext, dy: Storage, w: Storage, p: Conv2dParams, cfg?: RegisterConfig, strided: StridedBackwardData = ctx.stridedBackwardData): Storage {
  checkParams(p, { dy: [dy, p.n * p.cOut * p.outH * p.outW], weight: [w, p.cOut * p.cIn * p.kh * p.kw] });
  const out = ctx.alloc(p.n * p.cIn * p.h * p.w, 'float32');
  if (out.length === 0) return out;
  if (useWinograd(ctx, p, p.cOut, p.cIn, p.h, p.w)) {
    // dx is the stride-1 convolution of dy with the flipped, transposed kernel and padding kh - 1 - pad.
    winogradConv(ctx, { src: dy, n: p.n, c: p.cOut, h: p.outH, w: p.outW, weight: w, transposeFlip: true, m: p.cIn, outH: p.h, outW: p.w, padY: p.kh - 1 - p.padH, padX: p.kw - 1 - p.padW, bias: null }, out);
    return out;
  }
  const form = formFor(ctx, 'convBackwardData', cfg);
  if ((p.strideH > 1 || p.strideW > 1) && p.cOut > 0 && strided === 'phases') {
    backwardDataByPhase(ctx, form, dy, w, p, out);
    return out;
  }
  // dx[iy] = sum over ky' of D[iy + ky'] * w[kh-1-ky'] where D holds dy[oy] at oy*stride + kh-1-pad.
  const hd = p.h + p.kh - 1;
  const wd = p.w + p.kw - 1;
  const offY = p.kh - 1 - p.padH;
  const offX = p.kw - 1 - p.padW;
  const base = { a: w, out, bias: null, m: p.cIn, c: p.cOut, outH: p.h, outW: p.w, sh: 1, sw: 1, kh: p.kh, kw: p.kw, flip: true, hs: hd, ws: wd };
  const spreadFree = p.strideH === 1 && p.strideW === 1 && offY === 0 && offX === 0 && hd === p.outH && wd === p.outW;
  const direct = spreadFree || p.cOut === 0 || p.kh === 0 || p.kw === 0;
  im2colOverImages(ctx, form, base, dy, p.n, direct ? null : { h: p.outH, w: p.outW, offY, offX, sh: p.strideH, sw: p.strideW });
  return out;
}

/**
 * Strided backward-data as stride-1 GEMMs, one per output phase (conv2d-phases.ts): each phase
 * convolves the (shifted, padded) output gradient with the kernel taps that reach it and writes
 * its outputs interleaved into dx; phases no tap reaches get zeros.
 */
function backwardDataByPhase(ctx: GpuContext, form: KernelForm, dy: Storage, w: Storage, p: Conv2dParams, out: Storage): void {
  const planes = p.n * p.cIn;
  for (let ry = 0; ry < p.strideH; ry++) {
    for (let rx = 0; rx < p.strideW; rx++) {
      const py = axisPhase(p.h, p.kh, p.strideH, p.padH, ry);
      const px = axisPhase(p.w, p.kw, p.strideW, p.padW, rx);
      if (py.count === 0 || px.count === 0) continue;
      const where = { planes, h: p.h, w: p.w, sh: p.strideH, sw: p.strideW, ry, rx, countY: py.count, countX: px.count };
      if (py.taps === 0 || px.taps === 0) {
        scatterPhase(ctx, null, out, where);
        continue;
      }
      const wp = gatherPhaseKernel(ctx, w, p.cOut * p.cIn, p.kh, p.kw, p.strideH, p.strideW, py, px);
      const phase = ctx.alloc(planes * py.count * px.count, 'float32');
      const hs = py.count + py.taps - 1;
      const ws = px.count + px.taps - 1;
      const base = { a: wp, out: phase, bias: null, m: p.cIn, c: p.cOut, outH: py.count, outW: px.count, sh: 1, sw: 1, kh: py.taps, kw: px.taps, flip: true, hs, ws };
      const direct = py.off === 0 && px.off === 0 && hs === p.outH && ws === p.outW;
      im2colOverImages(ctx, form, base, dy, p.n, direct ? null : { h: p.outH, w: p.outW, offY: py.off, offX: px.off, sh: 1, sw: 1 });
      ctx.release(wp);
      scatterPhase(ctx, phase, out, where);
      ctx.release(phase);
    }
  }
}

export function conv2dBackwardWeight(ctx: GpuContext, x: Storage, dy: Storage, p: Conv2dParams, cfg?: RegisterConfig): Storage {
  checkParams(p, { x: [x, p.n * p.cIn * p.h * p.w], dy: [dy, p.n * p.cOut * p.outH * p.outW] });
  const m = p.cOut;
  const n = p.cIn * p.kh * p.kw;
  if (m * n === 0) return ctx.alloc(0, 'float32');
  const base = formFor(ctx, 'convBackwardWeight', cfg);
  // Register tiles of whole kernel rows (15 columns for 3x3) let stride-1 columns share loads.
  const form: KernelForm = base.kind === 'register'
    ? { kind: 'register', cfg: { ...base.cfg, tn: dwTileColumns(base.cfg.tn, p.kw, p.strideW) } }
    : base;
  const plane = p.outH * p.outW;
  const padded = p.padH > 0 || p.padW > 0;
  const hs = padded ? p.h + 2 * p.padH : p.h;
  const ws = padded ? p.w + 2 * p.padW : p.w;
  // Unpadded, x itself is the source: one chunk, so source image b is image b of dy too.
  const chunk = padded ? imagesPerChunk(ctx, p.cIn * hs * ws, p.n) : Math.max(1, p.n);

  // Split the reduction until tiles x splits reaches the target (threads for the register form,
  // workgroups for the shared one), keeping splits long and the partials within one binding.
  const totalK = p.n * plane;
  const { tilesN, tilesM } = workgroupsFor(ctx, form, m, n, 1);
  const target = form.kind === 'shared' ? SPLIT_TARGET.shared : SPLIT_TARGET.register;
  const maxSlots = Math.max(1, Math.floor(ctx.limits.maxStorageBufferBindingSize / 4 / (m * n)));
  const wanted = Math.max(1, Math.min(Math.ceil(target / (tilesN * tilesM)), Math.floor(totalK / MIN_SPLIT_K), maxSlots));
  // The register kernel walks whole output rows (or images), so splits are whole units.
  const unit = form.kind === 'register' ? dwKUnit(p.outH, p.outW) : 1;
  const kPerSplit = Math.max(unit, Math.ceil(totalK / wanted / unit) * unit);
  // Each batch chunk covers its own k range with whole splits; the slots add up across chunks.
  const chunks: Array<{ b0: number; images: number; splits: number; slot0: number }> = [];
  let slots = 0;
  for (let b0 = 0; b0 < Math.max(1, p.n); b0 += chunk) {
    const images = Math.min(chunk, p.n - b0);
    const splits = Math.max(1, Math.ceil((images * plane) / kPerSplit));
    chunks.push({ b0, images, splits, slot0: slots });
    slots += splits;
  }
  if (slots > maxSlots) throw new Error(`conv2d backward-weight: ${slots} partial results of ${m * n} floats exceed maxStorageBufferBindingSize`);
  const partials = ctx.alloc(slots * m * n, 'float32');

  for (const c of chunks) {
    const src = padded && c.images > 0
      ? spreadImages(ctx, x, { images: c.images, c: p.cIn, h: p.h, w: p.w, hs, ws, offY: p.padH, offX: p.padW, sh: 1, sw: 1, b0: c.b0 })
      : x;
    const grid = workgroupsFor(ctx, form, m, n, c.splits);
    const values: Record<string, number> = {
      m, n, k: c.images * plane, cIn: p.cIn, hs, ws, outH: p.outH, outW: p.outW, sh: p.strideH, sw: p.strideW,
      kh: p.kh, kw: p.kw, tilesN: grid.tilesN, tilesM: grid.tilesM, b0: c.b0, splits: c.splits, chunk: kPerSplit, slot0: c.slot0,
    };
    const bindings: GpuBinding[] = [
      { storage: dy, access: 'read' },
      { storage: src, access: 'read' },
      { storage: partials, access: 'read_write' },
    ];
    ctx.dispatch(dwProgram(form, p.outH, p.outW, p.strideW, p.kw), bindings, grid.workgroups, packUniforms(DW_FIELDS.map(([f, t]) => [t, values[f]!])));
    if (src !== x) ctx.release(src);
  }
  if (slots === 1) return partials;
  const summed = sumSlices(ctx, partials, m * n, slots);
  ctx.release(partials);
  return summed;
}
