/**
 * The matmul and conv2d WGSL kernels (src/shaders/matmul.ts, conv2d.ts), in both forms (register
 * tiles and workgroup-memory tiles), against the float64 CPU reference on odd shapes: edge tiles
 * in every dimension, k tails, transposes, broadcast and padded batch strides; conv strides 1/2,
 * paddings 0/1/2, 1x1 and 3x3 kernels, odd channel counts, split-K and batch chunking.
 */
import { describe, expect, it } from 'vitest';
import type { Conv2dParams, MatmulParams } from '../../src/tensor/backend.js';
import type { GpuContext } from '../../src/backends/webgpu/context.js';
import { WebGpuBackend } from '../../src/backends/webgpu/backend.js';
import { matmul } from '../../src/shaders/matmul.js';
import { conv2d, conv2dBackwardData, conv2dBackwardWeight, im2colSplits } from '../../src/shaders/conv2d.js';
import { cpu64, expectClose, gpuBackend, randomArray } from '../helpers/backends.js';
import { checkConvPasses, readAndRelease, recordingContext } from '../helpers/conv-check.js';

interface Form {
  name: string;
  be: WebGpuBackend;
  /** Dispatch counts per program key through `ctx`, to check which kernels actually ran. */
  keys: Map<string, number>;
  ctx: GpuContext;
}

/** Counts dispatches per program key into `keys`. */
const counting = (keys: Map<string, number>) => (key: string) => keys.set(key, (keys.get(key) ?? 0) + 1);

// Winograd off, so 3x3 stride-1 cases exercise the im2col GEMMs (conv2d-winograd.test.ts covers that path).
const forms: Form[] = gpuBackend
  ? [false, true].map((shared) => {
    const be = new WebGpuBackend(gpuBackend!.handle, { preferWorkgroupMemory: shared, winograd: false });
    const keys = new Map<string, number>();
    return { name: shared ? 'workgroup-memory form' : 'register form', be, keys, ctx: recordingContext(be, counting(keys)) };
  })
  : [];


function matmulCase(m: number, n: number, k: number, transA: boolean, transB: boolean, batching: 'single' | 'broadcastA' | 'broadcastB' | 'gapped'): MatmulParams {
  const batch = batching === 'single' ? 1 : 3;
  const strideA = batching === 'broadcastA' ? 0 : m * k + (batching === 'gapped' ? 5 : 0);
  const strideB = batching === 'broadcastB' ? 0 : k * n + (batching === 'gapped' ? 3 : 0);
  return { batch, m, n, k, transA, transB, batchStrideA: strideA, batchStrideB: strideB };
}

const MATMUL_SHAPES: Array<[number, number, number]> = [
  [1, 1, 1], [3, 7, 5], [33, 65, 7], [65, 33, 67], [7, 1, 33], [1, 65, 3], [64, 16, 32], [17, 9, 0],
];

describe.skipIf(!gpuBackend)('matmul kernels vs CPU reference', () => {
  for (const form of forms) {
    it(`${form.name}: odd shapes, transposes, broadcast and gapped batches`, async () => {
      let seed = 1;
      for (const [m, n, k] of MATMUL_SHAPES) {
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            for (const batching of ['single', 'broadcastA', 'broadcastB', 'gapped'] as const) {
              const p = matmulCase(m, n, k, transA, transB, batching);
              const a = randomArray((p.batch - 1) * p.batchStrideA + m * k, seed++);
              const b = randomArray((p.batch - 1) * p.batchStrideB + k * n, seed++);
              const [ga, gb] = [form.be.upload(a, 'float32'), form.be.upload(b, 'float32')];
              const got = await readAndRelease(form.be, matmul(form.ctx, ga, gb, p));
              const want = await cpu64.read(cpu64.matmul(cpu64.upload(a, 'float32'), cpu64.upload(b, 'float32'), p));
              expectClose(got, want, { reduceLength: k, what: `matmul ${JSON.stringify(p)}` });
              form.be.release(ga);
              form.be.release(gb);
            }
          }
        }
      }
      const kind = form.be.runtime.gemmForms.matmul === 'shared' ? 'matmul-shared' : 'matmul-reg';
      expect([...form.keys.keys()].some((key) => key.startsWith(kind))).toBe(true);
    });
  }

  it('rejects operands too short for the batch strides', () => {
    const form = forms[0]!;
    const a = form.be.upload(new Float32Array(6), 'float32');
    const p: MatmulParams = { batch: 2, m: 2, n: 2, k: 3, transA: false, transB: false, batchStrideA: 6, batchStrideB: 0 };
    expect(() => matmul(form.ctx, a, a, p)).toThrow(/a has 6 elements, needs 12/);
    form.be.release(a);
  });
});

function conv(n: number, cIn: number, h: number, w: number, cOut: number, k: number, stride: number, pad: number): Conv2dParams {
  return {
    n, cIn, h, w, cOut, kh: k, kw: k, strideH: stride, strideW: stride, padH: pad, padW: pad,
    outH: Math.floor((h + 2 * pad - k) / stride) + 1, outW: Math.floor((w + 2 * pad - k) / stride) + 1,
  };
}

const CONV_CASES: Conv2dParams[] = [
  conv(1, 1, 7, 7, 3, 3, 1, 1),
  conv(2, 3, 9, 7, 5, 3, 2, 1),
  conv(3, 5, 8, 8, 17, 1, 2, 0),
  conv(2, 17, 5, 6, 7, 3, 1, 0),
  conv(2, 5, 7, 7, 3, 3, 2, 0),
  conv(1, 2, 4, 5, 3, 1, 1, 2), // padding beyond the kernel: border outputs see only padding
  conv(2, 4, 6, 6, 65, 3, 1, 1), // more output channels than one tile
  conv(1, 1, 1, 1, 1, 1, 1, 0),
  conv(2, 3, 3, 3, 5, 3, 2, 1),
  conv(4, 3, 16, 16, 2, 3, 1, 1), // a long backward-weight reduction: split-K with a summing pass
  { ...conv(2, 3, 7, 9, 5, 3, 1, 1), kw: 1, padW: 0, outW: 9 }, // non-square kernel and padding
];

const checkConv = (form: Form, p: Conv2dParams, ctx: GpuContext, seed: number): Promise<void> => checkConvPasses(form.be, ctx, p, seed);

describe('im2colSplits (split-K of the im2col GEMM)', () => {
  it('splits only when the tiles fall short of the target, keeps 256 k steps a split, and fits one binding', () => {
    // Shared form: units are k steps, the target 256 workgroups of 64 x 64.
    expect(im2colSplits(256, 10_000, 1, 256, 1000, 2 ** 27)).toBe(1);
    expect(im2colSplits(128, 2304, 1, 256, 1000, 2 ** 27)).toBe(2); // 256x8x8 at batch 32: 4 x 32 tiles
    expect(im2colSplits(64, 4608, 1, 256, 1000, 2 ** 27)).toBe(4); // 512x4x4 at batch 32: 8 x 8 tiles
    expect(im2colSplits(1, 600, 1, 256, 1000, 2 ** 27)).toBe(2);
    expect(im2colSplits(1, 255, 1, 256, 1000, 2 ** 27)).toBe(1);
    expect(im2colSplits(1, 100_000, 1, 256, 1000, 12_000)).toBe(3); // 3 slots of 4,000 bytes fill the binding
    // Register form on a GPU: units are input channels of 9 steps (3x3), the target 16,384 threads of 8 x 16 outputs.
    expect(im2colSplits(4096, 256, 9, 16384, 1000, 2 ** 27)).toBe(4); // 256x8x8: 32 x 128 tiles
    expect(im2colSplits(2048, 512, 9, 16384, 1000, 2 ** 27)).toBe(8); // 512x4x4: 64 x 32 tiles
    expect(im2colSplits(16384, 64, 9, 16384, 1000, 2 ** 27)).toBe(1); // 64x32x32
    expect(im2colSplits(1, 57, 9, 16384, 1000, 2 ** 27)).toBe(1); // 29 channels (261 steps) is the shortest split
    expect(im2colSplits(1, 58, 9, 16384, 1000, 2 ** 27)).toBe(2);
  });
});

describe.skipIf(!gpuBackend)('conv2d kernels vs CPU reference', () => {
  for (const form of forms) {
    it(`${form.name}: forward, backward-data and backward-weight on odd shapes`, async () => {
      let seed = 100;
      for (const p of CONV_CASES) await checkConv(form, p, form.ctx, (seed += 10));
      const tag = form.be.runtime.preferWorkgroupMemory ? ':shared' : ':reg';
      for (const kernel of ['conv-im2col', 'conv-dw']) {
        expect([...form.keys.keys()].some((key) => key.startsWith(kernel) && key.includes(tag))).toBe(true);
      }
      expect(form.keys.has('conv-sum-slices')).toBe(true);
    });

    it(`${form.name}: long reductions over few outputs split k for forward and backward-data (as on a hardware adapter)`, async () => {
      const keys = new Map<string, number>();
      // The register form splits only on hardware adapters: pretend to be one.
      const ctx: GpuContext = { ...recordingContext(form.be, counting(keys)), isSoftwareAdapter: false };
      // k = 61 * 9 = 549 (forward) and 67 * 9 = 603 (backward-data) over one output tile: two splits each.
      await checkConv(form, conv(2, 61, 5, 3, 67, 3, 1, 1), ctx, 77);
      // Batch chunks too: each chunk's summing pass writes at its own offset.
      // A padded image is 61 x 6 x 5 floats (7,320 bytes): a 13,200-byte limit makes chunks of one image and still holds
      // backward-weight's three partial slots of 2 x 549 floats.
      await checkConv(form, conv(3, 61, 4, 3, 2, 3, 1, 1), { ...recordingContext(form.be, counting(keys), 13_200), isSoftwareAdapter: false }, 78);
      // A 1x1 kernel unrolls 8 channels per iteration: a split of 258 channels ends mid-block.
      await checkConv(form, conv(1, 515, 3, 3, 7, 1, 1, 0), ctx, 79);
      const tag = form.be.runtime.preferWorkgroupMemory ? 'shared' : 'reg';
      for (const pass of ['fwd', 'dx']) {
        expect([...keys.keys()].some((key) => key.startsWith(`conv-im2col-split:${tag}`) && key.includes(`:${pass}`)), pass).toBe(true);
      }
      expect(keys.get('conv-sum-slices:bias') ?? 0).toBeGreaterThan(0);
      // Backward-data alone (no backward-weight sharing the key): its split is summed, without a bias.
      const dxKeys = new Map<string, number>();
      const p = conv(2, 61, 5, 3, 67, 3, 1, 1);
      const dy = form.be.upload(randomArray(p.n * p.cOut * p.outH * p.outW, 80), 'float32');
      const w = form.be.upload(randomArray(p.cOut * p.cIn * 9, 81), 'float32');
      const dx = conv2dBackwardData({ ...recordingContext(form.be, counting(dxKeys)), isSoftwareAdapter: false }, dy, w, p);
      for (const s of [dy, w, dx]) form.be.release(s);
      expect(dxKeys.get('conv-sum-slices') ?? 0).toBeGreaterThan(0);
    });

    it(`${form.name}: batch chunks when padded copies exceed the binding limit`, async () => {
      const keys = new Map<string, number>();
      // One padded image of 2x7x7 floats is 392 bytes: a 1000-byte limit forces chunks of 2 images
      // (3 chunks for forward and backward-weight), and backward-data's 3x7x7 spread images go
      // one at a time (5 chunks).
      const small = recordingContext(form.be, counting(keys), 1000);
      await checkConv(form, conv(5, 2, 5, 5, 3, 3, 1, 1), small, 7);
      expect(keys.get('conv-spread:pad')).toBe(3 + 5 + 3);
      expect([...keys].filter(([key]) => key.startsWith('conv-im2col')).reduce((t, [, v]) => t + v, 0)).toBe(8);
      expect(keys.get('conv-sum-slices')).toBe(1);
      await checkConv(form, conv(3, 2, 6, 5, 1, 3, 2, 1), small, 8);
    });
  }

  it('rejects inconsistent geometry and wrong sizes', () => {
    const form = forms[0]!;
    const p = conv(1, 2, 5, 5, 3, 3, 1, 0);
    const x = form.be.upload(new Float32Array(50), 'float32');
    const w = form.be.upload(new Float32Array(54), 'float32');
    expect(() => conv2d(form.ctx, x, w, null, { ...p, outH: 4 })).toThrow(/outH 4 does not fit/);
    expect(() => conv2d(form.ctx, w, w, null, p)).toThrow(/x has 54 elements, expected 50/);
    expect(() => conv2dBackwardWeight(form.ctx, x, x, p)).toThrow(/dy has 50 elements, expected 27/);
    form.be.release(x);
    form.be.release(w);
  });
});
