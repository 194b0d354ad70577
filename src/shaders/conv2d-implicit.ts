/**
 * The convolutions as implicit GEMMs (im2col is never materialised), in both kernel forms.
 *
 * "im2col" GEMM (forward and backward-data), over a source that is already zero-padded so every
 * read is in bounds:
 *   O[b0 + b][m][oy][ox] = bias[m] + sum over (c, ky, kx) of A(m; c, ky, kx) * S[b][c][oy*sh + ky][ox*sw + kx]
 * with columns n = (b, oy, ox) and k = (c, ky, kx). Forward: A is the weight [cOut][cIn*kh*kw].
 * Backward-data: S is the dilated output gradient and A(ci; co, ky, kx) = w[co][ci][kh-1-ky][kw-1-kx]
 * (the flipped, transposed kernel, addressed in place).
 *
 * "dw" GEMM (backward-weight): rows co, columns n = (ci, ky, kx), k = (b, oy, ox), split into
 * `splits` k ranges that write partial slots P[slot0 + z][co][n], summed by a later pass:
 *   P[..][co][n] = sum over its k range of dy[b0 + b][co][oy][ox] * X[b][ci][oy*sh + ky][ox*sw + kx]
 */
import type { GpuProgram } from '../backends/webgpu/context.js';
import { uniformStruct } from './common.js';
import { registerGemmWgsl, type RegisterConfig } from './matmul-register.js';
import { sharedGemmWgsl } from './matmul-shared.js';

export const IM2COL_FIELDS: Array<[string, 'u32']> = [
  ['m', 'u32'], ['n', 'u32'], ['k', 'u32'], ['c', 'u32'],
  ['hs', 'u32'], ['ws', 'u32'], ['outH', 'u32'], ['outW', 'u32'],
  ['sh', 'u32'], ['sw', 'u32'], ['kh', 'u32'], ['kw', 'u32'],
  ['tilesN', 'u32'], ['tilesM', 'u32'], ['b0', 'u32'], ['one', 'u32'],
];

/** The split-K im2col pass: IM2COL_FIELDS plus the split count, the split's length (k steps in the shared form, input channels in the register form) and one slot's length. */
export const IM2COL_SPLIT_FIELDS: Array<[string, 'u32']> = [...IM2COL_FIELDS, ['splits', 'u32'], ['chunk', 'u32'], ['slotLen', 'u32']];

export const DW_FIELDS: Array<[string, 'u32']> = [
  ['m', 'u32'], ['n', 'u32'], ['k', 'u32'], ['cIn', 'u32'],
  ['hs', 'u32'], ['ws', 'u32'], ['outH', 'u32'], ['outW', 'u32'],
  ['sh', 'u32'], ['sw', 'u32'], ['kh', 'u32'], ['kw', 'u32'],
  ['tilesN', 'u32'], ['tilesM', 'u32'], ['b0', 'u32'], ['splits', 'u32'],
  ['chunk', 'u32'], ['slot0', 'u32'],
];

/**
 * Register form: the k loops below are specialised on the kernel size (im2col) or the output
 * width (dw), baked into the WGSL and the program key, so the k steps of one loop iteration have
 * compile-time offsets from that iteration's bases and the only per-k index work is one add per
 * operand load. The run-time walker this replaces (counters plus three selects per k step, 4 steps
 * per iteration) cost about 5-10 % more CPU time at the ResNet shapes (2 cores, machine shared).
 * The larger win is in loads, which dominate (every run-time-indexed load is a per-lane gather on
 * SwiftShader): at stride 1, neighbouring taps read overlapping source windows, so where the tiles
 * allow it (slideShape, dwSlides) each window is loaded once for all kw taps, cutting the gathers
 * per 3x3 kernel row by about 40 % (with the walker removal and a cheaper padding pass, about a
 * third less CPU time per pass at the ResNet shapes).
 *
 * Each loop iteration also copies every accumulator (SwiftShader merges loop-carried values with
 * masked copies), so iterations are long and loops are not nested where a flat loop with a
 * per-iteration select walker will do (a dw row of 32 as 4 blocks of 8 inside a row loop measured
 * slower than the flat walker, in a noisy comparison). Runs of up to MAX_RUN steps are unrolled outright (the
 * nine taps of a 3x3 kernel, a whole output row up to 16 wide); longer runs that cannot be cut
 * evenly loop over RUN_CHUNK-step blocks plus an unrolled tail. Program size, and compile time
 * (1-3 s per program), grows with the steps unrolled, hence the cap.
 */
const MAX_RUN = 16;
const RUN_CHUNK = 8;
/** Kernels of under this many taps unroll several input channels per iteration (1x1: 8). */
const MIN_STEPS = 8;

type Step = (aK: string, bK: string) => string;

const plus = (base: string, k: number) => (k === 0 ? base : k > 0 ? `${base} + ${k}u` : `${base} - ${-k}u`);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * `count` steps i = 0..count-1 at A offset aBase + aSign * i and B offset bBase + bStride * i.
 * aBase / bBase are WGSL expressions; with a chunk loop, they are read once before it.
 */
function stepRun(count: number, aBase: string, bBase: string, aSign: 1 | -1, bStride: number, step: Step, tag: string): string {
  const block = (n: number, a: string, b: string) => range(n).map((i) => step(plus(a, aSign * i), plus(b, bStride * i))).join('\n');
  if (count <= MAX_RUN) return block(count, aBase, bBase);
  const full = Math.floor(count / RUN_CHUNK);
  const a = `aX${tag}`, b = `bX${tag}`;
  return `var ${a} = ${aBase};
var ${b} = ${bBase};
for (var q${tag} = 0u; q${tag} < ${full}u; q${tag} += 1u) {
${indent(block(RUN_CHUNK, a, b))}
  ${a} ${aSign > 0 ? '+' : '-'}= ${RUN_CHUNK}u;
  ${b} += ${RUN_CHUNK * bStride}u;
}
${block(count % RUN_CHUNK, a, b)}`;
}

const indent = (text: string) => text.split('\n').map((l) => (l ? `  ${l}` : l)).join('\n');

/**
 * im2col k loop: k = (c, ky, kx), one input channel (or several, for tiny kernels) per iteration.
 * Forward: aK = c * taps + t. Backward-data: aK = c * m * taps + taps - 1 - t (flipped kernel).
 * bK = c * hs * ws + ky * ws + kx.
 */
/**
 * Sliding-window tile shape for stride-1 columns: a thread's tn columns are R output rows of C
 * consecutive outputs each, all in one image, so along a kernel row the kw taps read overlapping
 * windows of the source row and C + kw - 1 loads per tile row serve all kw steps (18 instead of
 * 48 for a 16-wide tile and a 3x3 kernel). Needs tn = R * C, C dividing outW (or equal to it),
 * R dividing outH, so every tile is whole and keeps that shape. Null where it does not apply.
 */
export function slideShape(tn: number, kw: number, sw: number, outH: number, outW: number): { c: number; r: number } | null {
  if (kw < 2 || sw !== 1 || outW === 0 || outH === 0) return null;
  if (outW >= tn) return outW % tn === 0 ? { c: tn, r: 1 } : null;
  if (tn % outW !== 0 || outH % (tn / outW) !== 0) return null;
  return { c: outW, r: tn / outW };
}

function im2colLoop(flip: boolean, kh: number, kw: number, step: Step, tm: number, slide: { c: number; r: number } | null, channels?: { begin: string; end: string }): string {
  const taps = kh * kw;
  if (taps === 0) return '';
  if (channels && taps > MAX_RUN) throw new Error(`im2colLoop: a channel range needs a kernel of at most ${MAX_RUN} taps, got ${taps}`);
  const aStep = flip ? `u.m * ${taps}u` : `${taps}u`;
  const aTap = (t: number) => (flip ? taps - 1 - t : t);
  const cEnd = channels ? 'cEnd' : 'u.c';
  const pre = channels ? `let plane = u.hs * u.ws;
let aStep = ${aStep};
let cEnd = ${channels.end};
var ch = ${channels.begin};
var aC = ch * aStep;
var bC = ch * plane;` : `let plane = u.hs * u.ws;
let aStep = ${aStep};
var aC = 0u;
var bC = 0u;
var ch = 0u;`;
  if (taps <= MAX_RUN) {
    // The whole kernel window unrolled: offsets are constants from the channel's bases (plus ky * ws).
    const channel = (j: number) => {
      const aCh = j === 0 ? 'aC' : `aC${j}`;
      const bCh = j === 0 ? 'bC' : `bC${j}`;
      const lines = j === 0 ? [] : [`let ${aCh} = aC + ${j}u * aStep;`, `let ${bCh} = bC + ${j}u * plane;`];
      for (let ky = 0; ky < kh; ky++) {
        const bRow = ky === 0 ? bCh : `bR${j}_${ky}`;
        if (ky > 0) lines.push(`let ${bRow} = ${bCh} + ${ky}u * u.ws;`);
        if (!slide) {
          for (let kx = 0; kx < kw; kx++) lines.push(step(plus(aCh, aTap(ky * kw + kx)), plus(bRow, kx)));
          continue;
        }
        // Load each tile row's window once, then run the kw taps over it.
        const win = slide.c + kw - 1;
        const body: string[] = [];
        for (let r = 0; r < slide.r; r++) {
          body.push(`let bb${r} = ${bRow} + bCol${r * slide.c};`);
          for (let i = 0; i < win; i++) body.push(`let v${r}_${i} = B[${plus(`bb${r}`, i)}];`);
        }
        for (let kx = 0; kx < kw; kx++) {
          const aK = plus(aCh, aTap(ky * kw + kx));
          const tap = range(tm).map((m) => `let a${m} = A[aRow${m} + ${aK}];`);
          for (let m = 0; m < tm; m++) {
            for (let r = 0; r < slide.r; r++) {
              for (let c = 0; c < slide.c; c++) tap.push(`acc${m}_${r * slide.c + c} += a${m} * v${r}_${c + kx};`);
            }
          }
          body.push(`{\n${indent(tap.join('\n'))}\n}`);
        }
        lines.push(`{\n${indent(body.join('\n'))}\n}`);
      }
      return lines.join('\n');
    };
    const per = Math.max(1, Math.floor(MIN_STEPS / taps));
    const body = (n: number) => `${range(n).map(channel).join('\n')}
aC += ${n === 1 ? 'aStep' : `${n}u * aStep`};
bC += ${n === 1 ? 'plane' : `${n}u * plane`};`;
    const main = `for (; ch + ${per}u <= ${cEnd}; ch += ${per}u) {
${indent(body(per))}
}`;
    return per === 1 ? `${pre}
${main}` : `${pre}
${main}
for (; ch < ${cEnd}; ch += 1u) {
${indent(body(1))}
}`;
  }
  // Larger kernels: one flat loop over (c, ky) kernel rows, each row's kw taps unrolled (chunked
  // past MAX_RUN), with counters and selects once per row. A nested channel / row loop would cost
  // more: every loop level copies all accumulators on each of its iterations.
  const row = stepRun(kw, 'aR', 'bR', flip ? -1 : 1, 1, step, 'x');
  // Backward-data walks each channel's taps backwards: kw back per row, and at the channel's end
  // on to the next channel's last tap.
  const aMove = flip ? `select(aR - ${kw}u, aR + aStep + ${taps - kw}u, wrap)` : `aR + ${kw}u`;
  return `${pre}
var aR = ${flip ? `${taps - 1}u` : '0u'};
var bR = 0u;
var ky = 0u;
let bWrap = plane - ${kh - 1}u * u.ws;
for (var r = 0u; r < u.c * ${kh}u; r += 1u) {
${indent(row)}
  ky += 1u;
  let wrap = ky == ${kh}u;
  ky = select(ky, 0u, wrap);
  aR = ${aMove};
  bR += select(u.ws, bWrap, wrap);
}`;
}

/** Steps per iteration of the dw loop over an output row: outW, or a divisor of it (0: none fits). */
function dwSegment(outW: number): number {
  if (outW <= MAX_RUN) return outW;
  for (let d = MAX_RUN; d >= MAX_RUN / 2; d--) if (outW % d === 0) return d;
  return 0;
}

/**
 * dw k loop over [kRange) of problem z, k = (b, oy, ox); the host keeps k ranges on whole output
 * rows (whole images when an image has at most MAX_RUN outputs, which then unrolls entirely).
 * aK = (b0 + b) * m * plane + oy * outW + ox; bK = (b * cIn * hs + oy * sh) * ws + ox * sw.
 * Otherwise one flat loop over row segments of `dwSegment` steps moves its bases with selects once
 * per segment (a nested row / column loop costs more: see im2colLoop).
 */
/**
 * dw with stride-1 columns and tiles of whole kernel rows (tn a multiple of kw, `groups` of them):
 * column (ci, ky, kx) at step ox reads the source at the group's base + ox + kx, so one window of
 * len + kw - 1 loads per group serves all kw columns over `len` steps (18 instead of 48 loads for
 * kw = 3 and 16 steps). Group bases are clamped to the last whole group, so a partial edge tile
 * never reads past the image (its extra columns are not stored).
 */
interface DwSlide { kw: number; groups: number; tm: number }

function dwSlideRun(len: number, aBase: string, bBase: string, sl: DwSlide): string {
  const win = len + sl.kw - 1;
  const lines: string[] = [];
  for (let g = 0; g < sl.groups; g++) {
    lines.push(`let bb${g} = ${bBase} + gCol${g};`);
    for (let i = 0; i < win; i++) lines.push(`let v${g}_${i} = B[${plus(`bb${g}`, i)}];`);
  }
  for (let i = 0; i < len; i++) {
    const upd = range(sl.tm).map((m) => `let a${m} = A[aRow${m} + ${plus(aBase, i)}];`);
    for (let m = 0; m < sl.tm; m++) {
      for (let g = 0; g < sl.groups; g++) {
        for (let kx = 0; kx < sl.kw; kx++) upd.push(`acc${m}_${g * sl.kw + kx} += a${m} * v${g}_${i + kx};`);
      }
    }
    lines.push(`{\n${indent(upd.join('\n'))}\n}`);
  }
  return `{\n${indent(lines.join('\n'))}\n}`;
}

function dwLoop(outH: number, outW: number, sw: number, kRange: string, step: Step, slide: DwSlide | null): string {
  const plane = outH * outW;
  if (plane === 0) return '';
  const groupBases = slide ? range(slide.groups).map((g) => `let gCol${g} = bColOf(min(j0 + ${g * slide.kw}u, u.n - ${slide.kw}u));`) : [];
  const pre = [`let kr = ${kRange};
let bImage = u.cIn * u.hs * u.ws;
let bRowStep = u.sh * u.ws;`, ...groupBases].join('\n');
  const run = (len: number, aBase: string, bBase: string, tag: string) => (slide && len <= MAX_RUN
    ? dwSlideRun(len, aBase, bBase, slide)
    : stepRun(len, aBase, bBase, 1, sw, step, tag));
  if (plane <= MAX_RUN) {
    const image = range(outH).map((oy) => {
      const bRow = oy === 0 ? 'bI' : `bR${oy}`;
      const head = oy === 0 ? '' : `let ${bRow} = bI + ${oy}u * bRowStep;\n`;
      return head + run(outW, plus('aI', oy * outW), bRow, `${oy}`);
    }).join('\n');
    return `${pre}
let aImage = u.m * ${plane}u;
let img0 = kr.x / ${plane}u;
let img1 = kr.y / ${plane}u;
var aI = (u.b0 + img0) * aImage;
var bI = img0 * bImage;
for (var img = img0; img < img1; img += 1u) {
${indent(image)}
  aI += aImage;
  bI += bImage;
}`;
  }
  // Rows: the height stays a uniform, so one program serves every image height.
  const seg = dwSegment(outW);
  const segs = seg === 0 ? 1 : outW / seg;
  const len = seg === 0 ? outW : seg;
  // Base moves after a segment: within a row, to the next row, to the next image (u32 wrap-around
  // is fine: only the sums are used as indices).
  const counters = segs === 1
    ? `oy += 1u;
  let endImage = oy == u.outH;
  oy = select(oy, 0u, endImage);
  aR += ${len}u + select(0u, aImageJump, endImage);
  bR += ${len * sw}u + select(bRowJump, bImageJump, endImage);`
    : `sx += 1u;
  let endRow = sx == ${segs}u;
  sx = select(sx, 0u, endRow);
  oy += select(0u, 1u, endRow);
  let endImage = oy == u.outH;
  oy = select(oy, 0u, endImage);
  aR += ${len}u + select(0u, aImageJump, endImage);
  bR += ${len * sw}u + select(0u, select(bRowJump, bImageJump, endImage), endRow);`;
  return `${pre}
let planeO = u.outH * ${outW}u;
let aImage = u.m * planeO;
let bRowJump = bRowStep - ${outW * sw}u;
let bImageJump = bRowJump + bImage - u.outH * bRowStep;
let aImageJump = aImage - planeO;
let r0 = kr.x / ${outW}u;
let r1 = kr.y / ${outW}u;
let b = r0 / u.outH;
var oy = r0 % u.outH;
${segs === 1 ? '' : 'var sx = 0u;\n'}var aR = (u.b0 + b) * aImage + oy * ${outW}u;
var bR = b * bImage + oy * bRowStep;
for (var s = r0 * ${segs}u; s < r1 * ${segs}u; s += 1u) {
${indent(run(len, 'aR', 'bR', 'x'))}
  ${counters}
}`;
}

export type KernelForm = { kind: 'register'; cfg: RegisterConfig } | { kind: 'shared' };

function formKey(form: KernelForm): string {
  return form.kind === 'shared' ? 'shared' : `reg${form.cfg.tm}x${form.cfg.tn}:ku${form.cfg.ku}:wg${form.cfg.workgroupSize}`;
}

/** Where an im2col GEMM writes: the bindings from 2 on, storeC / storeAt, and how problems and k ranges map onto it. */
interface Im2colTarget {
  key: string;
  fields: Array<[string, 'u32']>;
  /** WGSL: the output bindings, the uniform binding, fn storeC, fn storeAt and the helpers cCol uses. */
  output: string;
  problems: string;
  /** The shared form's kRange(z) body. */
  sharedKRange: string;
  /** The register form's channel range for problem z (default: every channel). */
  channels?: { begin: string; end: string };
  cCol(n: string): string;
}

/** The im2col GEMM in either form, writing through `target`; the register form is specialised on kh x kw (and the slide). */
function im2colGemm(form: KernelForm, flip: boolean, kh: number, kw: number, slide: { c: number; r: number } | null, target: Im2colTarget): GpuProgram {
  const tiles = form.kind === 'register' && slide && kh * kw <= MAX_RUN && slide.r * slide.c === form.cfg.tn ? slide : null;
  const spec = form.kind === 'register' ? `:k${kh}x${kw}${tiles ? `:slide${tiles.r}x${tiles.c}` : ''}` : '';
  const key = `${target.key.replace('{form}', formKey(form))}${spec}`;
  const declarations = `${uniformStruct('U', target.fields)}
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
${target.output}
/** Offset of column n = (b, oy, ox) in the source: its top-left tap. */
fn bColOf(n: u32) -> u32 {
  let plane = u.outH * u.outW;
  let b = n / plane;
  let q = n % plane;
  return (b * u.c * u.hs + (q / u.outW) * u.sh) * u.ws + (q % u.outW) * u.sw;
}`;
  if (form.kind === 'shared') {
    return {
      key,
      wgsl: () => sharedGemmWgsl({
        declarations: `${declarations}
${im2colSharedLoads(flip)}
fn kRange(z: u32) -> vec2<u32> { return ${target.sharedKRange}; }`,
        problems: target.problems,
        aContiguous: 'k',
        bContiguous: 'n',
      }),
    };
  }
  return {
    key,
    wgsl: () => registerGemmWgsl({
      declarations,
      m: 'u.m',
      n: 'u.n',
      problems: target.problems,
      aRow: (m) => (flip ? `${m} * ${kh * kw}u` : `${m} * u.k`),
      bCol: (n) => `bColOf(${n})`,
      kLoop: (step, cfg) => im2colLoop(flip, kh, kw, step, cfg.tm, tiles, target.channels),
      cRow: (m) => `${m} * u.outH * u.outW`,
      cCol: target.cCol,
    }, form.cfg),
  };
}

/**
 * Forward (flip = false, optional bias) or backward-data (flip = true) convolution GEMM. The
 * register form is specialised on the kernel size kh x kw; the shared form reads it from uniforms.
 */
export function im2colProgram(form: KernelForm, flip: boolean, bias: boolean, kh: number, kw: number, slide: { c: number; r: number } | null = null): GpuProgram {
  const plus = bias ? ' + Bias[m]' : '';
  return im2colGemm(form, flip, kh, kw, slide, {
    key: `conv-im2col:{form}:${flip ? 'dx' : 'fwd'}:bias${+bias}`,
    fields: IM2COL_FIELDS,
    output: `@group(0) @binding(2) var<storage, read_write> O: array<f32>;
${bias ? '@group(0) @binding(3) var<storage, read> Bias: array<f32>;' : ''}
@group(0) @binding(${bias ? 4 : 3}) var<uniform> u: U;
fn storeC(z: u32, m: u32, n: u32, v: f32) {
  let plane = u.outH * u.outW;
  O[((u.b0 + n / plane) * u.m + m) * plane + n % plane] = v${plus};
}
fn storeAt(i: u32, m: u32, v: f32) { O[i] = v${plus}; }
/** Offset of output column n = (b, oy, ox) in O (row m adds m * plane). */
fn cColOf(n: u32) -> u32 {
  let plane = u.outH * u.outW;
  return (u.b0 + n / plane) * u.m * plane + n % plane;
}`,
    problems: 'u.one',
    sharedKRange: 'vec2<u32>(0u, u.k)',
    cCol: (n) => `cColOf(${n})`,
  });
}

/** The shared form's operand loads for the im2col GEMM: A is the weight (flipped and transposed for backward-data), B the padded source. */
function im2colSharedLoads(flip: boolean): string {
  const aIndex = flip ? '((k / taps) * u.m + m) * taps + taps - 1u - k % taps' : 'm * u.k + k';
  return `fn loadA(z: u32, m: u32, k: u32) -> f32 {
  let taps = u.kh * u.kw;
  return A[${aIndex}];
}
fn loadB(z: u32, k: u32, n: u32) -> f32 {
  let taps = u.kh * u.kw;
  let t = k % taps;
  return B[bColOf(n) + ((k / taps) * u.hs + t / u.kw) * u.ws + t % u.kw];
}`;
}

/**
 * The im2col GEMM with its reduction split `u.splits` ways (conv2d.ts im2colSplitPlan): split z sums its share of
 * k (`chunk` k steps in the shared form, `chunk` input channels in the register form, so each split runs whole
 * kernel windows) and writes its partial outputs, in the output's own [image][m][oy][ox] layout for this pass's
 * images, to slot z of P; a summing pass (conv2d-prep.ts sumSlicesInto) adds the slots and the bias into the real
 * output. Deep layers (few outputs, long reductions) otherwise leave most of a GPU idle.
 */
export function im2colSplitProgram(form: KernelForm, flip: boolean, kh: number, kw: number, slide: { c: number; r: number } | null = null): GpuProgram {
  return im2colGemm(form, flip, kh, kw, slide, {
    key: `conv-im2col-split:{form}:${flip ? 'dx' : 'fwd'}`,
    fields: IM2COL_SPLIT_FIELDS,
    output: `@group(0) @binding(2) var<storage, read_write> P: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
/** Offset of column n = (b, oy, ox) within a slot (row m adds m * plane). */
fn slotColOf(n: u32) -> u32 {
  let plane = u.outH * u.outW;
  return (n / plane) * u.m * plane + n % plane;
}
fn storeC(z: u32, m: u32, n: u32, v: f32) { P[z * u.slotLen + slotColOf(n) + m * u.outH * u.outW] = v; }
fn storeAt(i: u32, m: u32, v: f32) { P[i] = v; }`,
    problems: 'u.splits',
    sharedKRange: 'vec2<u32>(z * u.chunk, min(u.k, z * u.chunk + u.chunk))',
    channels: { begin: 'z * u.chunk', end: 'min(u.c, z * u.chunk + u.chunk)' },
    cCol: (n) => `z * u.slotLen + slotColOf(${n})`,
  });
}

/**
 * Backward-weight partial GEMM (see the file comment). The register form is specialised on the
 * output size and the column stride, and its k ranges must start and end on whole output rows
 * (whole images when outH * outW <= MAX_RUN; see dwKUnit).
 */
export function dwProgram(form: KernelForm, outH: number, outW: number, sw: number, kw: number): GpuProgram {
  const slide = form.kind === 'register' && dwSlides(form.cfg.tn, kw, sw) ? { kw, groups: form.cfg.tn / kw, tm: form.cfg.tm } : null;
  // The height matters to the register loop only when whole images are unrolled.
  const geometry = outH * outW <= MAX_RUN ? `o${outH}x${outW}` : `ow${outW}`;
  const key = `conv-dw:${formKey(form)}${form.kind === 'register' ? `:${geometry}:sw${sw}${slide ? `:slide${kw}` : ''}` : ''}`;
  const declarations = `${uniformStruct('U', DW_FIELDS)}
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> P: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
/** Offset of column n = (ci, ky, kx) in the padded input: the tap relative to a window's corner. */
fn bColOf(n: u32) -> u32 {
  let taps = u.kh * u.kw;
  let t = n % taps;
  return ((n / taps) * u.hs + t / u.kw) * u.ws + t % u.kw;
}
fn storeC(z: u32, m: u32, n: u32, v: f32) { P[((u.slot0 + z) * u.m + m) * u.n + n] = v; }`;
  const kRange = 'vec2<u32>(z * u.chunk, min(u.k, z * u.chunk + u.chunk))';
  if (form.kind === 'shared') {
    return {
      key,
      wgsl: () => sharedGemmWgsl({
        declarations: `${declarations}
fn loadA(z: u32, m: u32, k: u32) -> f32 {
  let plane = u.outH * u.outW;
  return A[((u.b0 + k / plane) * u.m + m) * plane + k % plane];
}
fn loadB(z: u32, k: u32, n: u32) -> f32 {
  let plane = u.outH * u.outW;
  let q = k % plane;
  return B[bColOf(n) + ((k / plane) * u.cIn * u.hs + (q / u.outW) * u.sh) * u.ws + (q % u.outW) * u.sw];
}
fn kRange(z: u32) -> vec2<u32> { return ${kRange}; }`,
        problems: 'u.splits',
        aContiguous: 'k',
        bContiguous: 'k',
      }),
    };
  }
  return {
    key,
    wgsl: () => registerGemmWgsl({
      declarations,
      m: 'u.m',
      n: 'u.n',
      problems: 'u.splits',
      aRow: (m) => (outH * outW <= MAX_RUN ? `${m} * ${outH * outW}u` : `${m} * u.outH * ${outW}u`),
      bCol: (n) => `bColOf(${n})`,
      kLoop: (step) => dwLoop(outH, outW, sw, kRange, step, slide),
    }, form.cfg),
  };
}

/** The k granularity the register dw kernel needs its ranges aligned to (see dwLoop). */
export function dwKUnit(outH: number, outW: number): number {
  return Math.max(1, outH * outW <= MAX_RUN ? outH * outW : outW);
}

/** Whether dw tiles of `tn` columns can use source windows (see dwSlideRun). */
export function dwSlides(tn: number, kw: number, sw: number): boolean {
  return sw === 1 && kw >= 2 && tn % kw === 0 && tn / kw >= 2;
}

/** Columns per dw tile: whole kernel rows where that allows source windows, else `tn`. */
export function dwTileColumns(tn: number, kw: number, sw: number): number {
  const whole = Math.floor(tn / kw) * kw;
  return dwSlides(whole, kw, sw) ? whole : tn;
}
