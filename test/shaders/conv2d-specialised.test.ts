/**
 * The register-form conv2d kernels are specialised per geometry (src/shaders/conv2d-implicit.ts):
 * - forward / backward-data on the kernel size: whole window unrolled up to 16 taps, a loop over
 *   kernel rows beyond (chunked past 16 columns), several input channels per iteration for small
 *   kernels, sliding source windows for stride-1 tiles of whole output rows;
 * - backward-weight on the output size and column stride: whole image unrolled up to 16 outputs,
 *   whole rows up to 16 wide, row segments of a divisor of the width, chunked rows for awkward
 *   widths, tiles of whole kernel rows sharing source windows at stride 1, split-K ranges kept on
 *   whole rows.
 * Each path against the float64 CPU reference, in both kernel forms, on odd channel counts and shapes.
 */
import { describe, expect, it } from 'vitest';
import type { Conv2dParams } from '../../src/tensor/backend.js';
import { WebGpuBackend } from '../../src/backends/webgpu/backend.js';
import { gpuBackend } from '../helpers/backends.js';
import { checkConvPasses, recordingContext } from '../helpers/conv-check.js';

function conv(n: number, cIn: number, h: number, w: number, cOut: number, kh: number, kw: number, stride: number, pad: number): Conv2dParams {
  return {
    n, cIn, h, w, cOut, kh, kw, strideH: stride, strideW: stride, padH: pad, padW: pad,
    outH: Math.floor((h + 2 * pad - kh) / stride) + 1, outW: Math.floor((w + 2 * pad - kw) / stride) + 1,
  };
}

/** [params, program-key fragments the register form must use for it]. */
const CASES: Array<[Conv2dParams, string[]]> = [
  [conv(2, 11, 6, 7, 3, 1, 1, 1, 0), ['k1x1', 'ow7:sw1']], // 1x1: 8 channels per iteration plus a remainder
  [conv(2, 7, 9, 9, 5, 1, 1, 2, 0), ['k1x1', 'ow5:sw2']], // strided 1x1 (ResNet shortcut)
  [conv(1, 5, 5, 8, 4, 1, 2, 1, 0), ['k1x2']], // 4 channels per iteration plus a remainder
  [conv(2, 3, 9, 9, 5, 3, 3, 1, 1), ['k3x3', 'ow9:sw1']], // row-unit backward-weight
  [conv(1, 3, 8, 7, 2, 5, 5, 1, 2), ['k5x5', 'ow7:sw1:slide5']], // 25 taps: loop over kernel rows
  // Stride-1 tiles of whole output rows: one source window load per tile row and kernel row.
  [conv(1, 3, 4, 32, 2, 3, 3, 1, 1), ['k3x3:slide1x16']],
  [conv(2, 5, 8, 8, 3, 3, 3, 1, 1), ['k3x3:slide2x8']],
  [conv(2, 3, 4, 4, 5, 3, 3, 1, 1), ['k3x3:slide4x4', 'o4x4:sw1:slide3']],
  [conv(1, 3, 9, 17, 2, 2, 2, 1, 0), ['k2x2:slide1x16', 'ow16:sw1:slide2']], // two channels per iteration
  [conv(2, 3, 8, 8, 5, 3, 3, 2, 1), ['dx:bias0:k2x2:slide4x4', 'dx:bias0:k1x2', 'conv-phase-scatter:copy']], // backward-data of a strided conv, per phase
  [conv(1, 2, 6, 8, 3, 3, 3, 1, 0), ['k3x3']], // 6x6 output: no whole-row tiles
  [conv(1, 2, 11, 13, 3, 7, 7, 2, 3), ['k7x7', 'ow7:sw2']], // ResNet stem geometry
  [conv(1, 2, 3, 19, 3, 1, 17, 1, 0), ['k1x17', 'o3x3:sw1']], // kernel rows chunked past 16 taps
  [conv(1, 3, 4, 32, 2, 3, 3, 1, 1), ['ow32:sw1:slide3']], // rows of 2 segments of 16
  [conv(1, 2, 5, 20, 3, 3, 3, 1, 1), ['ow20:sw1']], // rows of 2 segments of 10
  [conv(1, 2, 3, 35, 3, 3, 3, 2, 1), ['ow18:sw2']], // 18 wide: segments of 9, strided
  [conv(1, 2, 3, 17, 3, 3, 3, 1, 1), ['ow17:sw1']], // prime width: chunked rows
  // A long reduction over few outputs: split-K, with splits starting mid-image on whole rows.
  [conv(3, 3, 20, 20, 2, 3, 3, 1, 1), ['ow20:sw1']],
  [conv(40, 3, 8, 8, 2, 3, 3, 2, 1), ['o4x4:sw2']], // image-unit backward-weight, split-K
];



describe.skipIf(!gpuBackend)('conv2d specialised register kernels vs CPU reference', () => {
  for (const shared of [false, true]) {
    it(`${shared ? 'workgroup-memory' : 'register'} form: kernel sizes 1-17, strides 1-2, output widths 3-32`, async () => {
      const be = new WebGpuBackend(gpuBackend!.handle, { preferWorkgroupMemory: shared, stridedBackwardData: 'phases', winograd: false });
      let seed = 500;
      for (const [p, fragments] of CASES) {
        const keys = new Set<string>();
        const ctx = recordingContext(be, (k) => keys.add(k));
        seed += 10;
        await checkConvPasses(be, ctx, p, seed);
        if (!shared) {
          for (const f of fragments) expect([...keys].some((k) => k.includes(f)), `${f} in ${[...keys].join(', ')}`).toBe(true);
        }
        if (p.n >= 3) expect(keys.has('conv-sum-slices'), `split-K for ${JSON.stringify(p)}`).toBe(true);
      }
    }, 600_000);
  }
});
