/**
 * Strided backward-data by output phase (src/shaders/conv2d-phases.ts): the per-axis plan against a
 * brute-force enumeration of which (output, tap) pairs reach each input position, then the WebGPU pass
 * against the float64 CPU reference on geometries with empty phases, strides above the kernel size,
 * padding beyond kernel - 1 and different strides per axis.
 */
import { describe, expect, it } from 'vitest';
import type { Conv2dParams } from '../../src/tensor/backend.js';
import { axisPhase } from '../../src/shaders/conv2d-phases.js';
import { WebGpuBackend } from '../../src/backends/webgpu/backend.js';
import { gpuBackend } from '../helpers/backends.js';
import { checkConvPasses, readAndRelease, recordingContext } from '../helpers/conv-check.js';
import { conv2dBackwardData } from '../../src/shaders/conv2d.js';
import { expectClose, randomArray } from '../helpers/backends.js';

/** Pairs "oy:ky" with oy*s + ky - pad = i, from the definition. */
function bruteForce(i: number, k: number, s: number, pad: number, outSize: number): string[] {
  const pairs: string[] = [];
  for (let oy = 0; oy < outSize; oy++) for (let ky = 0; ky < k; ky++) if (oy * s + ky - pad === i) pairs.push(`${oy}:${ky}`);
  return pairs.sort();
}

/** The same pairs as the phase GEMM reads them: source position j + u holds dy[j + u - off], tap u is w[k0 + s*(T-1-u)]. */
function fromPhase(i: number, size: number, k: number, s: number, pad: number, outSize: number): string[] {
  const r = i % s;
  const j = (i - r) / s;
  const ph = axisPhase(size, k, s, pad, r);
  expect(j).toBeLessThan(ph.count);
  const pairs: string[] = [];
  for (let u = 0; u < ph.taps; u++) {
    const oy = j + u - ph.off;
    if (oy >= 0 && oy < outSize) pairs.push(`${oy}:${ph.k0 + s * (ph.taps - 1 - u)}`);
  }
  return pairs.sort();
}

describe('backward-data phase plan', () => {
  it('reaches exactly the (output, tap) pairs of the definition, for every input position', () => {
    let checked = 0;
    for (let size = 1; size <= 9; size++) {
      for (let k = 1; k <= 7; k++) {
        for (let s = 1; s <= 4; s++) {
          for (let pad = 0; pad <= k; pad++) {
            const outSize = Math.floor((size + 2 * pad - k) / s) + 1;
            if (outSize < 1) continue;
            let covered = 0;
            for (let r = 0; r < s; r++) covered += axisPhase(size, k, s, pad, r).count;
            expect(covered).toBe(size);
            for (let i = 0; i < size; i++) {
              expect(fromPhase(i, size, k, s, pad, outSize), `size ${size} k ${k} s ${s} pad ${pad} i ${i}`).toEqual(bruteForce(i, k, s, pad, outSize));
              checked++;
            }
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(5000);
  });

  it('gives no taps to phases the kernel cannot reach (1x1 stride 2, kernel 2 stride 3)', () => {
    expect(axisPhase(8, 1, 2, 0, 1).taps).toBe(0);
    expect(axisPhase(9, 2, 3, 0, 2).taps).toBe(0);
    expect(axisPhase(8, 3, 2, 1, 0)).toEqual({ k0: 1, taps: 1, count: 4, off: 0 });
    expect(axisPhase(8, 3, 2, 1, 1)).toEqual({ k0: 0, taps: 2, count: 4, off: 0 });
  });
});

function params(n: number, cIn: number, h: number, w: number, cOut: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number): Conv2dParams {
  return {
    n, cIn, h, w, cOut, kh, kw, strideH: sh, strideW: sw, padH: ph, padW: pw,
    outH: Math.floor((h + 2 * ph - kh) / sh) + 1, outW: Math.floor((w + 2 * pw - kw) / sw) + 1,
  };
}

const CASES: Conv2dParams[] = [
  params(2, 3, 7, 9, 5, 3, 3, 2, 2, 1, 1), // odd sizes: phases of unequal length
  params(3, 5, 9, 9, 7, 1, 1, 2, 2, 0, 0), // ResNet shortcut: three of four phases get zeros
  params(2, 3, 10, 11, 4, 2, 2, 3, 3, 0, 0), // stride above the kernel: empty phases
  params(1, 4, 11, 13, 3, 7, 7, 3, 2, 3, 3), // large kernel, different strides per axis
  params(2, 3, 8, 9, 2, 3, 3, 2, 2, 2, 2), // padding beyond kernel - 1: negative source offsets
  params(2, 6, 7, 8, 3, 3, 5, 1, 2, 0, 2), // stride 1 along one axis only
  params(1, 33, 5, 5, 65, 3, 3, 2, 2, 1, 1), // channel counts around the tile sizes
];

describe.skipIf(!gpuBackend)('strided backward-data by phase (WebGPU) vs CPU reference', () => {
  for (const shared of [false, true]) {
    it(`${shared ? 'workgroup-memory' : 'register'} form`, async () => {
      const be = new WebGpuBackend(gpuBackend!.handle, { preferWorkgroupMemory: shared, stridedBackwardData: 'phases' });
      let seed = 900;
      for (const p of CASES) {
        const keys = new Set<string>();
        await checkConvPasses(be, recordingContext(be, (k) => keys.add(k)), p, (seed += 10));
        // The zero-dilated grid of the plain form is never built.
        expect([...keys].some((k) => k.startsWith('conv-spread:strided')), JSON.stringify(p)).toBe(false);
        expect(keys.has('conv-phase-scatter:copy'), JSON.stringify(p)).toBe(true);
      }
    }, 600_000);
  }

  it('routes by the backend option, and the dilated-grid version agrees', async () => {
    const dilatedBe = new WebGpuBackend(gpuBackend!.handle, { stridedBackwardData: 'dilated' });
    const keys = new Set<string>();
    await checkConvPasses(dilatedBe, recordingContext(dilatedBe, (k) => keys.add(k)), CASES[0]!, 990);
    expect(keys.has('conv-spread:strided')).toBe(true);
    expect(keys.has('conv-phase-scatter:copy')).toBe(false);
    const be = gpuBackend!;
    for (const p of CASES.slice(0, 3)) {
      const dy = be.upload(randomArray(p.n * p.cOut * p.outH * p.outW, 7), 'float32');
      const w = be.upload(randomArray(p.cOut * p.cIn * p.kh * p.kw, 8), 'float32');
      const phases = await readAndRelease(be, conv2dBackwardData(be.runtime, dy, w, p, undefined, 'phases'));
      const dilated = await readAndRelease(be, conv2dBackwardData(be.runtime, dy, w, p, undefined, 'dilated'));
      expectClose(phases, dilated, { reduceLength: p.cOut * p.kh * p.kw, what: JSON.stringify(p) });
      be.release(dy);
      be.release(w);
    }
  });
});
