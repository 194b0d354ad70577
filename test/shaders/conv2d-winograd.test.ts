/**
 * Winograd F(4x4, 3x3) conv forward and backward-data (src/shaders/conv2d-winograd.ts): the transform
 * matrices against the definition in float64, then the WebGPU passes against the float64 CPU reference on
 * odd shapes (partial edge tiles, paddings 0-3, one output channel, 1x1 images, both GEMM forms), batch
 * chunking under a small binding limit, and the routing rule (which convolutions take this path).
 */
import { describe, expect, it } from 'vitest';
import type { Conv2dParams } from '../../src/tensor/backend.js';
import { WebGpuBackend } from '../../src/backends/webgpu/backend.js';
import { conv2d, conv2dBackwardData, WINOGRAD_MIN_CHANNELS } from '../../src/shaders/conv2d.js';
import { WINOGRAD_AT, WINOGRAD_BT, WINOGRAD_G, winogradApplies } from '../../src/shaders/conv2d-winograd.js';
import { gpuBackend, randomArray } from '../helpers/backends.js';
import { checkConvPasses, recordingContext } from '../helpers/conv-check.js';

function conv(n: number, cIn: number, h: number, w: number, cOut: number, pad: number, stride = 1): Conv2dParams {
  return {
    n, cIn, h, w, cOut, kh: 3, kw: 3, strideH: stride, strideW: stride, padH: pad, padW: pad,
    outH: Math.floor((h + 2 * pad - 3) / stride) + 1, outW: Math.floor((w + 2 * pad - 3) / stride) + 1,
  };
}

const apply = (m: readonly (readonly number[])[], v: readonly number[]) => m.map((row) => row.reduce((s, c, i) => s + c * v[i]!, 0));

describe('Winograd F(4x4, 3x3) transforms', () => {
  it('A^T [(G g) * (B^T d)] is the 1-D correlation of a 6-sample window with a 3-tap filter (float64)', () => {
    const g = randomArray(3, 1);
    for (let trial = 0; trial < 20; trial++) {
      const d = randomArray(6, 10 + trial);
      const gg = apply(WINOGRAD_G, Array.from(g));
      const bd = apply(WINOGRAD_BT, Array.from(d));
      const y = apply(WINOGRAD_AT, gg.map((v, i) => v * bd[i]!));
      for (let i = 0; i < 4; i++) expect(y[i]).toBeCloseTo(d[i]! * g[0]! + d[i + 1]! * g[1]! + d[i + 2]! * g[2]!, 12);
    }
  });

  it('applies to 3x3 stride-1 convolutions only', () => {
    expect(winogradApplies(conv(1, 8, 5, 5, 8, 1))).toBe(true);
    expect(winogradApplies(conv(1, 8, 5, 5, 8, 1, 2))).toBe(false);
    expect(winogradApplies({ ...conv(1, 8, 5, 5, 8, 1), kw: 1, padW: 0, outW: 5 })).toBe(false);
  });
});

const CASES: Conv2dParams[] = [
  conv(2, 9, 9, 11, 7, 1), // partial edge tiles on both axes (backward-data reduces over 7: direct)
  conv(3, 8, 4, 4, 8, 1), // exactly one tile per image
  conv(2, 17, 13, 6, 33, 0), // no padding; backward-data pads by 2
  conv(2, 8, 7, 5, 9, 2), // padding 2; backward-data pads by 0
  conv(1, 12, 5, 6, 10, 3), // padding beyond the kernel: backward-data reads the tile grid shifted into dy
  conv(1, 65, 3, 3, 8, 1), // a long reduction over a small image; backward-data has 8 channels to reduce
  conv(2, 8, 1, 1, 8, 1), // 1x1 images: only padding around each pixel
  conv(1, 8, 6, 7, 1, 1), // one output channel (backward-data reduces over 1: direct)
];

describe.skipIf(!gpuBackend)('Winograd conv2d vs CPU reference', () => {
  for (const shared of [false, true]) {
    const name = shared ? 'workgroup-memory GEMM' : 'register GEMM';
    it(`${name}: forward and backward-data on odd shapes (backward-weight unchanged)`, async () => {
      const be = new WebGpuBackend(gpuBackend!.handle, { preferWorkgroupMemory: shared, winograd: true });
      const keys = new Map<string, number>();
      const ctx = recordingContext(be, (k) => keys.set(k, (keys.get(k) ?? 0) + 1));
      let seed = 300;
      for (const p of CASES) await checkConvPasses(be, ctx, p, (seed += 10));
      for (const key of ['wino-weight:fwd', 'wino-weight:tf', 'wino-input', 'wino-output:bias', 'wino-output:plain']) expect(keys.get(key) ?? 0, key).toBeGreaterThan(0);
      // Forward of all 8 cases, backward-data of the 6 with at least 8 output channels to reduce over.
      expect(keys.get('wino-input')).toBe(14);
    });
  }

  it('splits the batch into chunks whose transformed tiles fit one binding', async () => {
    const be = new WebGpuBackend(gpuBackend!.handle, { winograd: true });
    const keys = new Map<string, number>();
    // One image's tiles take 36 x 2 x 2 x 9 floats = 5,184 bytes: a 12,000-byte limit gives chunks of 2 images.
    const ctx = recordingContext(be, (k) => keys.set(k, (keys.get(k) ?? 0) + 1), 12_000);
    await checkConvPasses(be, ctx, conv(5, 9, 7, 6, 8, 1), 41);
    expect(keys.get('wino-input')).toBe(3 + 3);
    expect(keys.get('wino-weight:fwd')).toBe(1);
  });

  it('routes only 3x3 stride-1 passes with enough channels to reduce, when enabled and when the weights fit', () => {
    const run = (options: { winograd: boolean }, p: Conv2dParams, maxBinding?: number) => {
      const be = new WebGpuBackend(gpuBackend!.handle, options);
      const keys: string[] = [];
      const ctx = recordingContext(be, (k) => keys.push(k), maxBinding);
      const x = be.upload(randomArray(p.n * p.cIn * p.h * p.w, 1), 'float32');
      const w = be.upload(randomArray(p.cOut * p.cIn * 9, 2), 'float32');
      const dy = be.upload(randomArray(p.n * p.cOut * p.outH * p.outW, 3), 'float32');
      for (const s of [conv2d(ctx, x, w, null, p), conv2dBackwardData(ctx, dy, w, p), x, w, dy]) be.release(s);
      return { fwd: keys.filter((k) => k === 'wino-weight:fwd').length, dx: keys.filter((k) => k === 'wino-weight:tf').length };
    };
    const c = WINOGRAD_MIN_CHANNELS;
    expect(run({ winograd: true }, conv(2, c, 6, 6, c, 1))).toEqual({ fwd: 1, dx: 1 });
    expect(run({ winograd: true }, conv(2, c - 1, 6, 6, c, 1))).toEqual({ fwd: 0, dx: 1 });
    expect(run({ winograd: true }, conv(2, c, 6, 6, c - 1, 1))).toEqual({ fwd: 1, dx: 0 });
    expect(run({ winograd: true }, conv(2, c, 9, 9, c, 1, 2))).toEqual({ fwd: 0, dx: 0 });
    expect(run({ winograd: false }, conv(2, c, 6, 6, c, 1))).toEqual({ fwd: 0, dx: 0 });
    // The transformed weights (36 x 8 x 8 floats, 9,216 bytes) do not fit an 8,192-byte binding: direct.
    expect(run({ winograd: true }, conv(1, c, 2, 2, c, 1), 8192)).toEqual({ fwd: 0, dx: 0 });
  });
});
