/**
 * 3x3, stride-1 convolution by Winograd's minimal filtering F(4x4, 3x3) (Lavin and Gray, "Fast
 * Algorithms for Convolutional Neural Networks", 2016): each 4x4 block of outputs comes from a 6x6
 * input tile, and per (input channel, output channel) pair the 144 multiply-adds of the direct form
 * become 36 element-wise products in a transformed domain, summed over input channels. The sums
 * are 36 independent GEMMs, (M x C) . (C x tiles), run by the engine's batched matmul; three cheap
 * passes around them transform the weights, the input tiles and the results:
 *   U[xi][m][c] = (G g G^T)[xi],  V[xi][c][t] = (B^T d B)[xi],  Y[m][t] = A^T (sum_c U V) A.
 * On SwiftShader the multiply-adds are the cost, so a quarter of them is about twice as fast overall
 * (bench/kernels.ts, whose '-winograd' rows time it beside the im2col GEMM). The transforms widen intermediate values by up to 100x
 * (A^T's 8s, B^T's 5s), so float32 results differ from the direct form by a few 1e-6 relative,
 * still far inside the kernels' tolerance (test/shaders/conv2d-winograd.test.ts).
 *
 * Backward-data at stride 1 is the same computation: dx is the stride-1 convolution of dy with the
 * flipped, transposed kernel and padding kh - 1 - pad, so `transposeFlip` selects that weight view
 * and padding becomes a signed offset of the tile grid (rows outside the image read 0).
 */
import type { Conv2dParams, Storage } from '../tensor/backend.js';
import type { GpuContext } from '../backends/webgpu/context.js';
import { grid, main1d, packUniforms, uniformStruct } from './common.js';
import { matmul } from './matmul.js';

/** Input tile side, output block side and kernel side of F(4x4, 3x3). */
export const WINO_TILE = 6;
export const WINO_OUT = 4;
const WINO_K = 3;
const POINTS = WINO_TILE * WINO_TILE;

/** The transform matrices for interpolation points 0, 1, -1, 2, -2 and infinity. */
export const WINOGRAD_BT: readonly (readonly number[])[] = [
  [4, 0, -5, 0, 1, 0],
  [0, -4, -4, 1, 1, 0],
  [0, 4, -4, -1, 1, 0],
  [0, -2, -1, 2, 1, 0],
  [0, 2, -1, -2, 1, 0],
  [0, 4, 0, -5, 0, 1],
];
export const WINOGRAD_G: readonly (readonly number[])[] = [
  [1 / 4, 0, 0],
  [-1 / 6, -1 / 6, -1 / 6],
  [-1 / 6, 1 / 6, -1 / 6],
  [1 / 24, 1 / 12, 1 / 6],
  [1 / 24, -1 / 12, 1 / 6],
  [0, 0, 1],
];
export const WINOGRAD_AT: readonly (readonly number[])[] = [
  [1, 1, 1, 1, 1, 0],
  [0, 1, -1, 2, -2, 0],
  [0, 1, 1, 4, 4, 0],
  [0, 1, -1, 8, -8, 1],
];

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** WGSL for sum_i coefs[i] * terms[i], skipping zeros and writing 1 and -1 as plain adds. */
function linear(coefs: readonly number[], terms: readonly string[]): string {
  const parts: string[] = [];
  coefs.forEach((c, i) => {
    if (c === 0) return;
    const mag = Math.abs(c);
    const term = mag === 1 ? terms[i]! : `${literal(mag)} * ${terms[i]}`;
    parts.push(parts.length === 0 ? (c < 0 ? `-(${term})` : term) : `${c < 0 ? '-' : '+'} ${term}`);
  });
  return parts.length === 0 ? '0.0' : parts.join(' ');
}

/** A float literal WGSL accepts, exact for the matrices' values (1/6, 1/12 and 1/24 as divisions). */
function literal(v: number): string {
  for (const d of [6, 12, 24]) {
    const num = v * d;
    if (Math.abs(num - Math.round(num)) < 1e-12 && !Number.isInteger(v * 4)) return `(${Math.round(num)}.0 / ${d}.0)`;
  }
  return Number.isInteger(v) ? `${v}.0` : `${v}`;
}

/**
 * WGSL statements for out = L . in . R^T, with `in` named `${src}${r}_${c}` (rows x cols) and `out`
 * declared as `${dst}${i}_${j}`; L and R are given row-wise (R^T's columns are R's rows).
 */
function sandwich(left: readonly (readonly number[])[], right: readonly (readonly number[])[], src: string, dst: string, rows: number, cols: number): string {
  const mid = `${dst}_t`;
  const lines: string[] = [];
  for (let i = 0; i < left.length; i++) {
    for (let c = 0; c < cols; c++) lines.push(`let ${mid}${i}_${c} = ${linear(left[i]!, range(rows).map((r) => `${src}${r}_${c}`))};`);
  }
  for (let i = 0; i < left.length; i++) {
    for (let j = 0; j < right.length; j++) lines.push(`let ${dst}${i}_${j} = ${linear(right[j]!, range(cols).map((c) => `${mid}${i}_${c}`))};`);
  }
  return lines.join('\n  ');
}

/** WGSL: stores the 36 transformed values v{i}_{j} at O[point * plane + idx], one plane per point (U's and V's layout). */
function storePoints(plane: string): string {
  return [`let plane = ${plane};`, ...range(WINO_TILE).flatMap((i) => range(WINO_TILE).map((j) => `O[${i * WINO_TILE + j}u * plane + idx] = v${i}_${j};`))].join('\n  ');
}

/** WGSL: image `b` of tile `t` and the tile's first output row and column (ty0, tx0), from uniforms tilesY and tilesX. */
const TILE_ORIGIN = `let perImage = u.tilesY * u.tilesX;
  let b = t / perImage;
  let r = t % perImage;
  let ty0 = (r / u.tilesX) * ${WINO_OUT}u;
  let tx0 = (r % u.tilesX) * ${WINO_OUT}u;`;

const WEIGHT_FIELDS: Array<[string, 'u32']> = [['m', 'u32'], ['c', 'u32']];

/** U[xi][m][c] from w: forward reads w[m][c] (w is [M][C][3][3]); transposeFlip reads w[c][m] rotated by 180 degrees (w is [C][M][3][3]). */
function weightProgram(transposeFlip: boolean) {
  return {
    key: `wino-weight:${transposeFlip ? 'tf' : 'fwd'}`,
    wgsl: () => `${uniformStruct('U', WEIGHT_FIELDS)}
@group(0) @binding(0) var<storage, read> W: array<f32>;
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
@group(0) @binding(2) var<uniform> u: U;
${main1d()}
  if (idx >= u.m * u.c) { return; }
  let mi = idx / u.c;
  let ci = idx % u.c;
  let base = ${transposeFlip ? '(ci * u.m + mi) * 9u' : 'idx * 9u'};
  ${range(WINO_K).flatMap((ky) => range(WINO_K).map((kx) => {
    const at = transposeFlip ? (2 - ky) * 3 + (2 - kx) : ky * 3 + kx;
    return `let g${ky}_${kx} = W[base + ${at}u];`;
  })).join('\n  ')}
  ${sandwich(WINOGRAD_G, WINOGRAD_G, 'g', 'v', WINO_K, WINO_K)}
  ${storePoints('u.m * u.c')}
}`,
  };
}

const INPUT_FIELDS: Array<[string, 'u32' | 'i32']> = [
  ['c', 'u32'], ['h', 'i32'], ['w', 'i32'], ['tilesY', 'u32'],
  ['tilesX', 'u32'], ['padY', 'i32'], ['padX', 'i32'], ['tiles', 'u32'], ['b0', 'u32'],
];

/** V[xi][c][t] for the tiles t of images b0.. : the 6x6 window at (4 ty - padY, 4 tx - padX), zeros outside the image. */
function inputProgram() {
  return {
    key: 'wino-input',
    wgsl: () => `${uniformStruct('U', INPUT_FIELDS)}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
@group(0) @binding(2) var<uniform> u: U;
fn at(base: u32, y: i32, x: i32) -> f32 {
  if (y < 0 || y >= u.h || x < 0 || x >= u.w) { return 0.0; }
  return X[base + u32(y * u.w + x)];
}
${main1d()}
  if (idx >= u.c * u.tiles) { return; }
  let ci = idx / u.tiles;
  let t = idx % u.tiles;
  ${TILE_ORIGIN}
  let y0 = i32(ty0) - u.padY;
  let x0 = i32(tx0) - u.padX;
  let base = ((u.b0 + b) * u.c + ci) * u32(u.h * u.w);
  ${range(WINO_TILE).flatMap((y) => range(WINO_TILE).map((x) => `let d${y}_${x} = at(base, y0 + ${y}, x0 + ${x});`)).join('\n  ')}
  ${sandwich(WINOGRAD_BT, WINOGRAD_BT, 'd', 'v', WINO_TILE, WINO_TILE)}
  ${storePoints('u.c * u.tiles')}
}`,
  };
}

const OUTPUT_FIELDS: Array<[string, 'u32']> = [
  ['m', 'u32'], ['tiles', 'u32'], ['tilesY', 'u32'], ['tilesX', 'u32'],
  ['outH', 'u32'], ['outW', 'u32'], ['b0', 'u32'],
];

/** out[b0 + b][m][4 ty + i][4 tx + j] = (A^T P A)[i][j] (+ bias[m]) for the products P[xi][m][t], cropped to the output. */
function outputProgram(bias: boolean) {
  return {
    key: `wino-output:${bias ? 'bias' : 'plain'}`,
    wgsl: () => `${uniformStruct('U', OUTPUT_FIELDS)}
@group(0) @binding(0) var<storage, read> P: array<f32>;
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
${bias ? '@group(0) @binding(2) var<storage, read> B: array<f32>;' : ''}
@group(0) @binding(${bias ? 3 : 2}) var<uniform> u: U;
${main1d()}
  if (idx >= u.m * u.tiles) { return; }
  let mi = idx / u.tiles;
  let t = idx % u.tiles;
  ${TILE_ORIGIN}
  let plane = u.m * u.tiles;
  ${range(WINO_TILE).flatMap((i) => range(WINO_TILE).map((j) => `let p${i}_${j} = P[${i * WINO_TILE + j}u * plane + idx];`)).join('\n  ')}
  ${sandwich(WINOGRAD_AT, WINOGRAD_AT, 'p', 'y', WINO_TILE, WINO_TILE)}
  let add = ${bias ? 'B[mi]' : '0.0'};
  let base = ((u.b0 + b) * u.m + mi) * u.outH * u.outW;
  ${range(WINO_OUT).flatMap((i) => range(WINO_OUT).map((j) => `if (ty0 + ${i}u < u.outH && tx0 + ${j}u < u.outW) { O[base + (ty0 + ${i}u) * u.outW + tx0 + ${j}u] = y${i}_${j} + add; }`)).join('\n  ')}
}`,
  };
}

/** The 3x3 stride-1 convolutions this path computes (dilation 1, groups 1 are the engine's only kind). */
export function winogradApplies(p: Conv2dParams): boolean {
  return p.kh === WINO_K && p.kw === WINO_K && p.strideH === 1 && p.strideW === 1;
}

export interface WinogradPass {
  /** NCHW source (x, or dy for backward-data): n images of c channels, h x w. */
  src: Storage; n: number; c: number; h: number; w: number;
  /** Weights [M][C][3][3], or [C][M][3][3] read flipped with transposeFlip. */
  weight: Storage; transposeFlip: boolean;
  /** Output channels, size and padding (signed: where output (0, 0)'s window starts, negated). */
  m: number; outH: number; outW: number; padY: number; padX: number;
  bias: Storage | null;
}

/**
 * Images per chunk so that one chunk's transformed tiles (V) and products fit one binding; null when even one image's,
 * or the transformed weights U, cannot.
 */
export function winogradSizes(ctx: GpuContext, q: Pick<WinogradPass, 'c' | 'm' | 'outH' | 'outW'>): { imagesPerChunk: number } | null {
  const maxFloats = Math.floor(ctx.limits.maxStorageBufferBindingSize / 4);
  const perImage = POINTS * Math.ceil(q.outH / WINO_OUT) * Math.ceil(q.outW / WINO_OUT) * Math.max(q.c, q.m);
  if (POINTS * q.m * q.c > maxFloats || perImage > maxFloats || perImage === 0) return null;
  return { imagesPerChunk: Math.floor(maxFloats / perImage) };
}

/** Runs the convolution into `out` ([n][m][outH][outW]); the caller checked winogradSizes. */
export function winogradConv(ctx: GpuContext, q: WinogradPass, out: Storage): void {
  const sizes = winogradSizes(ctx, q);
  if (!sizes) throw new Error('conv2d (Winograd): the transformed operands exceed maxStorageBufferBindingSize');
  const tilesY = Math.ceil(q.outH / WINO_OUT);
  const tilesX = Math.ceil(q.outW / WINO_OUT);
  const u = ctx.alloc(POINTS * q.m * q.c, 'float32');
  ctx.dispatch(weightProgram(q.transposeFlip), [{ storage: q.weight, access: 'read' }, { storage: u, access: 'read_write' }],
    grid(ctx, q.m * q.c), packUniforms([['u32', q.m], ['u32', q.c]]));
  for (let b0 = 0; b0 < q.n; b0 += sizes.imagesPerChunk) {
    const images = Math.min(sizes.imagesPerChunk, q.n - b0);
    const tiles = images * tilesY * tilesX;
    const v = ctx.alloc(POINTS * q.c * tiles, 'float32');
    const inputValues: Record<string, number> = { c: q.c, h: q.h, w: q.w, tilesY, tilesX, padY: q.padY, padX: q.padX, tiles, b0 };
    ctx.dispatch(inputProgram(), [{ storage: q.src, access: 'read' }, { storage: v, access: 'read_write' }],
      grid(ctx, q.c * tiles), packUniforms(INPUT_FIELDS.map(([f, t]) => [t, inputValues[f]!])));
    const products = matmul(ctx, u, v, { batch: POINTS, m: q.m, n: tiles, k: q.c, transA: false, transB: false, batchStrideA: q.m * q.c, batchStrideB: q.c * tiles });
    ctx.release(v);
    const outValues: Record<string, number> = { m: q.m, tiles, tilesY, tilesX, outH: q.outH, outW: q.outW, b0 };
    const bindings = [{ storage: products, access: 'read' as const }, { storage: out, access: 'read_write' as const }];
    if (q.bias) bindings.push({ storage: q.bias, access: 'read' });
    ctx.dispatch(outputProgram(q.bias !== null), bindings, grid(ctx, q.m * tiles), packUniforms(OUTPUT_FIELDS.map(([f, t]) => [t, outValues[f]!])));
    ctx.release(products);
  }
  ctx.release(u);
}
