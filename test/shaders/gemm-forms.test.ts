/**
 * The per-adapter, per-family choice between register-tiled and workgroup-memory GEMM kernels
 * (defaultGemmForms, WebGpuBackendOptions.gemmForms): the defaults, and that a mixed choice routes
 * each conv pass to its own form and still matches the float64 reference.
 */
import { describe, expect, it } from 'vitest';
import type { Conv2dParams } from '../../src/tensor/backend.js';
import { defaultGemmForms, defaultStridedBackwardData } from '../../src/backends/webgpu/context.js';
import { WebGpuBackend } from '../../src/backends/webgpu/backend.js';
import { gpuBackend } from '../helpers/backends.js';
import { checkConvPasses, recordingContext } from '../helpers/conv-check.js';

describe('defaultGemmForms', () => {
  it('uses register tiles everywhere on software adapters', () => {
    expect(Object.values(defaultGemmForms(true))).toEqual(['register', 'register', 'register', 'register']);
  });
  it('uses workgroup memory for conv backward-weight only on hardware adapters (measured on an H100)', () => {
    expect(defaultGemmForms(false)).toEqual({ matmul: 'register', convForward: 'register', convBackwardData: 'register', convBackwardWeight: 'shared' });
  });
});

describe('defaultStridedBackwardData', () => {
  it('computes strided backward-data per phase on software adapters and over the dilated grid on hardware (measured on an H100)', () => {
    expect(defaultStridedBackwardData(true)).toBe('phases');
    expect(defaultStridedBackwardData(false)).toBe('dilated');
  });
  it.skipIf(!gpuBackend)('is what a backend gets unless told otherwise', () => {
    const be = gpuBackend!;
    expect(be.runtime.stridedBackwardData).toBe(defaultStridedBackwardData(be.runtime.isSoftwareAdapter));
  });
});

describe.skipIf(!gpuBackend)('mixed GEMM forms on one backend', () => {
  it('routes each conv pass to the form chosen for its family', async () => {
    const be = new WebGpuBackend(gpuBackend!.handle, { winograd: false, gemmForms: { convForward: 'shared', convBackwardData: 'register', convBackwardWeight: 'shared' } });
    expect(be.runtime.gemmForms.convForward).toBe('shared');
    const keys = new Set<string>();
    const ctx = recordingContext(be, (k) => keys.add(k));
    const p: Conv2dParams = { n: 3, cIn: 5, cOut: 7, h: 9, w: 11, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, outH: 9, outW: 11 };
    await checkConvPasses(be, ctx, p, 900);
    const im2col = [...keys].filter((k) => k.startsWith('conv-im2col'));
    // Forward (shared) and backward-data (register) both run as im2col programs; backward-weight as conv-dw.
    expect(im2col.some((k) => k.includes(':shared'))).toBe(true);
    expect(im2col.some((k) => k.includes(':reg'))).toBe(true);
    expect([...keys].filter((k) => k.startsWith('conv-dw')).every((k) => k.includes(':shared'))).toBe(true);
    expect([...keys].some((k) => k.startsWith('conv-dw'))).toBe(true);
  });
});
