/**
 * WGSL pooling, softmax/cross-entropy, gather/scatterAdd/oneHot and grid-sample kernels against the
 * CPU reference (float64, so the reference's own rounding stays out of the comparison), on odd shapes.
 */
import { describe, expect, it } from 'vitest';
import type { Backend, GridSampleParams, Pool2dParams, Storage } from '../../src/tensor/backend.js';
import { WebGpuBackend } from '../../src/backends/webgpu/backend.js';
import { cpu64, expectClose, gpuBackend, randomArray } from '../helpers/backends.js';

const gpu = gpuBackend!;

/** Runs `op` on the GPU and on the reference with the same host inputs; returns both results. */
async function both(
  inputs: Array<[ArrayLike<number>, 'float32' | 'int32']>,
  op: (b: Backend, s: Storage[]) => Storage,
  device: Backend = gpu,
): Promise<{ got: ArrayLike<number>; want: ArrayLike<number> }> {
  const run = async (b: Backend): Promise<ArrayLike<number>> => {
    const s = inputs.map(([data, dtype]) => b.upload(data, dtype));
    const out = op(b, s);
    const host = await b.read(out);
    for (const t of [...s, out]) b.release(t);
    return host;
  };
  return { got: await run(device), want: await run(cpu64) };
}

function outSize(size: number, k: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - k) / stride) + 1;
}

/** Integer ids, for labels and indices. */
function randomInts(n: number, seed: number, lo: number, hi: number): Int32Array {
  return Int32Array.from(randomArray(n, seed, lo, hi), Math.floor);
}

describe.skipIf(!gpuBackend)('WebGPU pool2d', () => {
  const configs: Array<{ kind: 'max' | 'avg'; k: number; s: number; pad: number; inc: boolean }> = [];
  for (const kind of ['max', 'avg'] as const) {
    for (const k of [2, 3]) for (const s of [1, 2]) for (const pad of [0, 1]) {
      for (const inc of kind === 'avg' ? [true, false] : [true]) configs.push({ kind, k, s, pad, inc });
    }
  }

  it.each(configs)('$kind k$k s$s pad$pad includePad $inc: forward and backward', async ({ kind, k, s, pad, inc }) => {
    const [n, c, h, w] = [2, 3, 7, 9];
    const p: Pool2dParams = {
      kind, n, c, h, w, kh: k, kw: k, strideH: s, strideW: s, padH: pad, padW: pad,
      outH: outSize(h, k, s, pad), outW: outSize(w, k, s, pad), countIncludePad: inc,
    };
    const x = randomArray(n * c * h * w, 11 + k * 7 + s * 3 + pad);
    const dy = randomArray(n * c * p.outH * p.outW, 5 + k);
    const fwd = await both([[x, 'float32']], (b, [xs]) => b.pool2d(xs!, p));
    expectClose(fwd.got, fwd.want, { reduceLength: k * k, what: 'pool2d' });
    const bwd = await both([[dy, 'float32'], [x, 'float32']], (b, [dys, xs]) => b.pool2dBackward(dys!, xs!, p));
    expectClose(bwd.got, bwd.want, { reduceLength: k * k, what: 'pool2dBackward' });
  });

  // Unequal kernel, stride and padding per axis catch any height/width mix-up; 1-row and long planes too.
  it.each([
    { kind: 'max', n: 1, c: 1, h: 33, w: 65, kh: 3, kw: 2, strideH: 2, strideW: 1, padH: 1, padW: 0, countIncludePad: true },
    { kind: 'avg', n: 1, c: 1, h: 33, w: 65, kh: 2, kw: 3, strideH: 1, strideW: 2, padH: 0, padW: 1, countIncludePad: false },
    { kind: 'avg', n: 3, c: 1, h: 1, w: 7, kh: 3, kw: 3, strideH: 1, strideW: 2, padH: 1, padW: 1, countIncludePad: true },
    { kind: 'max', n: 3, c: 1, h: 1, w: 7, kh: 1, kw: 3, strideH: 1, strideW: 2, padH: 0, padW: 1, countIncludePad: true },
  ] as const)('$kind $n x $c x $h x $w, kernel $kh x $kw, stride $strideH x $strideW, pad $padH x $padW', async (cfg) => {
    const p: Pool2dParams = { ...cfg, outH: outSize(cfg.h, cfg.kh, cfg.strideH, cfg.padH), outW: outSize(cfg.w, cfg.kw, cfg.strideW, cfg.padW) };
    const x = randomArray(p.n * p.c * p.h * p.w, p.h + p.kw);
    const dy = randomArray(p.n * p.c * p.outH * p.outW, p.w);
    const fwd = await both([[x, 'float32']], (b, [xs]) => b.pool2d(xs!, p));
    expectClose(fwd.got, fwd.want, { reduceLength: p.kh * p.kw, what: 'pool2d' });
    const bwd = await both([[dy, 'float32'], [x, 'float32']], (b, [dys, xs]) => b.pool2dBackward(dys!, xs!, p));
    expectClose(bwd.got, bwd.want, { reduceLength: p.kh * p.kw, what: 'pool2dBackward' });
  });

  it('a stride far above the plane (one window per axis) matches the CPU; parameters above 2^28 are refused', async () => {
    for (const kind of ['max', 'avg'] as const) {
      const p: Pool2dParams = { kind, n: 1, c: 2, h: 3, w: 5, kh: 1, kw: 2, strideH: 2 ** 27, strideW: 2 ** 26, padH: 0, padW: 0, outH: 1, outW: 1, countIncludePad: true };
      const x = randomArray(30, 9);
      const dy = randomArray(2, 10);
      const bwd = await both([[dy, 'float32'], [x, 'float32']], (b, [dys, xs]) => b.pool2dBackward(dys!, xs!, p));
      expectClose(bwd.got, bwd.want, { reduceLength: 2, what: `${kind} pool backward, huge stride` });
      const huge = { ...p, strideH: 2 ** 31 - 1 };
      const xs = gpu.upload(x, 'float32');
      expect(() => gpu.pool2d(xs, huge)).toThrow(/strideH must be an integer in \[0, 2\^28\], got 2147483647/);
      gpu.release(xs);
    }
  });

  it('max pool sends each window gradient to the first of tied maxima', async () => {
    const [n, c, h, w] = [1, 2, 5, 7];
    const p: Pool2dParams = {
      kind: 'max', n, c, h, w, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1,
      outH: 5, outW: 7, countIncludePad: true,
    };
    // Three distinct values only, so most windows hold several equal maxima.
    const x = Float32Array.from(randomArray(n * c * h * w, 3, 0, 3), Math.floor);
    const dy = randomArray(n * c * h * w, 4);
    const bwd = await both([[dy, 'float32'], [x, 'float32']], (b, [dys, xs]) => b.pool2dBackward(dys!, xs!, p));
    expectClose(bwd.got, bwd.want, { reduceLength: 9, what: 'tied max backward' });
  });
});

describe.skipIf(!gpuBackend)('WebGPU softmax and cross-entropy', () => {
  // Long rows take a workgroup each only where workgroup memory is preferred; test both layouts.
  const layouts = gpuBackend
    ? { workgroup: new WebGpuBackend(gpuBackend.handle, { preferWorkgroupMemory: true }), thread: new WebGpuBackend(gpuBackend.handle, { preferWorkgroupMemory: false }) }
    : null;
  const cases: Array<{ rows: number; cols: number; layout: 'workgroup' | 'thread' }> = [];
  for (const layout of ['workgroup', 'thread'] as const) {
    for (const rows of [1, 7]) for (const cols of [1, 3, 10, 257, 1000]) cases.push({ rows, cols, layout });
  }

  it.each(cases)('$rows x $cols, $layout per row', async ({ rows, cols, layout }) => {
    const device = layouts![layout];
    // A wide range checks the max shift: exp(30) alone would lose the small terms in float32.
    const x = randomArray(rows * cols, rows * 31 + cols, -30, 30);
    for (const log of [false, true]) {
      const r = await both([[x, 'float32']], (b, [xs]) => b.softmax(xs!, rows, cols, log), device);
      expectClose(r.got, r.want, { reduceLength: cols, atol: log ? 1e-5 : 1e-6, what: log ? 'logSoftmax' : 'softmax' });
    }
    // Rows 0 and 1 get out-of-range labels when there are several rows, which must give NaN.
    const labels = randomInts(rows, cols, 0, cols);
    if (rows > 1) labels[0] = cols;
    if (rows > 2) labels[1] = -1;
    const g = randomArray(rows, 9, 0.5, 2);
    const ce = await both([[x, 'float32'], [labels, 'int32']], (b, [xs, ls]) => b.crossEntropy(xs!, ls!, rows, cols), device);
    expectClose(ce.got, ce.want, { reduceLength: cols, what: 'crossEntropy' });
    if (rows > 1) expect(Number.isNaN(ce.got[0]!)).toBe(true);
    const bwd = await both([[x, 'float32'], [labels, 'int32'], [g, 'float32']],
      (b, [xs, ls, gs]) => b.crossEntropyBackward(xs!, ls!, gs!, rows, cols), device);
    expectClose(bwd.got, bwd.want, { reduceLength: cols, atol: 1e-6, what: 'crossEntropyBackward' });
    if (rows > 1) expect(Array.from(bwd.got).slice(0, cols).every(Number.isNaN)).toBe(true);
  });

  it('more rows than one dispatch dimension holds, a workgroup per row', async () => {
    // About 8 s on SwiftShader, where workgroup barriers are slow; it is the only check of the 2-D row grid.
    const rows = 65_537;
    const cols = 64;
    const x = randomArray(rows * cols, 77, -5, 5);
    const r = await both([[x, 'float32']], (b, [xs]) => b.softmax(xs!, rows, cols, true), layouts!.workgroup);
    expectClose(r.got, r.want, { reduceLength: cols, what: 'logSoftmax' });
  });
});

describe.skipIf(!gpuBackend)('WebGPU gather, scatterAdd, oneHot', () => {
  it.each([
    { outer: 3, nIn: 5, inner: 7, nIdx: 4 },
    { outer: 7, nIn: 10, inner: 1, nIdx: 1 },
    { outer: 1, nIn: 3, inner: 33, nIdx: 9 },
  ])('outer $outer nIn $nIn inner $inner nIdx $nIdx', async ({ outer, nIn, inner, nIdx }) => {
    const x = randomArray(outer * nIn * inner, nIn + inner);
    const index = randomInts(outer * nIdx * inner, nIdx + 3, 0, nIn);
    const g = randomArray(outer * nIdx * inner, inner);
    const gat = await both([[x, 'float32'], [index, 'int32']], (b, [xs, is]) => b.gather(xs!, is!, outer, nIn, inner, nIdx));
    // A gather only moves values, so it must be exact.
    expect(Array.from(gat.got)).toEqual(Array.from(gat.want));
    const sc = await both([[g, 'float32'], [index, 'int32']], (b, [gs, is]) => b.scatterAdd(gs!, is!, outer, nIn, inner, nIdx));
    expectClose(sc.got, sc.want, { reduceLength: nIdx, what: 'scatterAdd' });
  });

  it('oneHot', async () => {
    const labels = randomInts(7, 2, 0, 10);
    const r = await both([[labels, 'int32']], (b, [ls]) => b.oneHot(ls!, 7, 10));
    expect(Array.from(r.got)).toEqual(Array.from(r.want));
  });

  it('out-of-range indices: gather gives NaN, scatterAdd drops them, oneHot gives a zero row', async () => {
    // The CPU reference throws on these; the GPU cannot, so it must at least not read out of bounds.
    const x = gpu.upload([1, 2, 3], 'float32');
    const index = gpu.upload([2, 3, -1], 'int32');
    const gat = gpu.gather(x, index, 1, 3, 1, 3);
    expect(Array.from(await gpu.read(gat))).toEqual([3, NaN, NaN]);
    const sc = gpu.scatterAdd(x, index, 1, 3, 1, 3);
    expect(Array.from(await gpu.read(sc))).toEqual([0, 0, 1]);
    const oh = gpu.oneHot(index, 3, 3);
    expect(Array.from(await gpu.read(oh))).toEqual([0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for (const s of [x, index, gat, sc, oh]) gpu.release(s);
  });
});

describe.skipIf(!gpuBackend)('WebGPU gridSample', () => {
  const variants: Array<{ alignCorners: boolean; padding: 'zeros' | 'border' }> = [];
  for (const alignCorners of [true, false]) for (const padding of ['zeros', 'border'] as const) variants.push({ alignCorners, padding });

  const cases: Array<{ alignCorners: boolean; padding: 'zeros' | 'border'; n: number; c: number; h: number; w: number; outH: number; outW: number }> = [];
  for (const v of variants) {
    cases.push({ ...v, n: 2, c: 3, h: 5, w: 7, outH: 4, outW: 9 });
    // A one-pixel-high input: with align_corners its height scale is 0.
    cases.push({ ...v, n: 1, c: 2, h: 1, w: 33, outH: 3, outW: 7 });
  }

  it.each(cases)('align $alignCorners padding $padding, $n x $c x $h x $w -> $outH x $outW: forward and both gradients', async (p: GridSampleParams) => {
    const x = randomArray(p.n * p.c * p.h * p.w, 21);
    // Reaches past [-1, 1] so zero padding and border clamping both come into play.
    const grid = randomArray(p.n * p.outH * p.outW * 2, 22, -1.4, 1.4);
    // Exactly on the edges, where border padding's clamp must already give the grid no gradient.
    grid.set([-1, 1, 1, -1, -1, 0.25, 0.5, 1]);
    const dy = randomArray(p.n * p.c * p.outH * p.outW, 23);
    const fwd = await both([[x, 'float32'], [grid, 'float32']], (b, [xs, gs]) => b.gridSample(xs!, gs!, p));
    expectClose(fwd.got, fwd.want, { reduceLength: 4, what: 'gridSample' });
    for (const part of ['dx', 'dgrid'] as const) {
      const r = await both([[dy, 'float32'], [x, 'float32'], [grid, 'float32']],
        (b, [dys, xs, gs]) => {
          const out = b.gridSampleBackward(dys!, xs!, gs!, p);
          b.release(part === 'dx' ? out.dgrid : out.dx);
          return out[part];
        });
      // dx gathers up to 4 taps from each of the outputs; dgrid sums 4 taps over the channels.
      expectClose(r.got, r.want, { reduceLength: part === 'dx' ? 4 * p.outH * p.outW : 4 * p.c, what: `gridSample ${part}` });
    }
  });

  it('an identity grid with align_corners reproduces the input', async () => {
    const p: GridSampleParams = { n: 1, c: 3, h: 5, w: 7, outH: 5, outW: 7, alignCorners: true, padding: 'zeros' };
    const x = randomArray(p.n * p.c * p.h * p.w, 31);
    const grid = new Float32Array(p.outH * p.outW * 2);
    for (let y = 0; y < p.outH; y++) {
      for (let xi = 0; xi < p.outW; xi++) {
        grid[(y * p.outW + xi) * 2] = -1 + (2 * xi) / (p.w - 1);
        grid[(y * p.outW + xi) * 2 + 1] = -1 + (2 * y) / (p.h - 1);
      }
    }
    const gs = gpu.upload(grid, 'float32');
    const xs = gpu.upload(x, 'float32');
    const out = gpu.gridSample(xs, gs, p);
    expectClose(await gpu.read(out), x, { rtol: 1e-6, atol: 1e-6, what: 'identity gridSample' });
    for (const s of [gs, xs, out]) gpu.release(s);
  });
});
