/**
 * Backends for tests. WebGPU tests run when an adapter exists; with AWM_REQUIRE_WEBGPU=1 (CI) a
 * missing adapter fails the run instead of skipping, so CI cannot go green without the GPU path.
 */
import { CpuBackend } from '../../src/backends/cpu/index.js';
import { createWebGpuBackend } from '../../src/backends/index.js';
import type { WebGpuBackend } from '../../src/backends/webgpu/backend.js';

let gpu: Promise<WebGpuBackend | null> | null = null;
let warned = false;

export const requireWebGpu = process.env.AWM_REQUIRE_WEBGPU === '1';

export function webgpuBackend(): Promise<WebGpuBackend | null> {
  gpu ??= createWebGpuBackend().catch((e: Error) => {
    if (requireWebGpu) throw new Error(`AWM_REQUIRE_WEBGPU=1 but no WebGPU backend: ${e.message}`);
    if (!warned) {
      warned = true;
      console.warn(`\n*** WebGPU tests SKIPPED: ${e.message}\n`);
    }
    return null;
  });
  return gpu;
}

/** Top-level-await friendly: the WebGPU backend or null. */
export const gpuBackend = await webgpuBackend();
export const cpu32 = new CpuBackend({ precision: 'float32' });
export const cpu64 = new CpuBackend({ precision: 'float64' });

/** Deterministic test data in [lo, hi). */
export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    out[i] = lo + ((s >>> 8) / 16777216) * (hi - lo);
  }
  return out;
}

/**
 * Max |a-b| / (atol + rtol*|b|) must stay <= 1. `reduceLength` scales the tolerance for float32
 * accumulation error (sqrt growth with a floor), per the kernel test rule.
 */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, opts: { rtol?: number; atol?: number; reduceLength?: number; what?: string } = {}): void {
  const scale = Math.sqrt(Math.max(1, opts.reduceLength ?? 1));
  const rtol = (opts.rtol ?? 1e-5) * scale;
  const atol = (opts.atol ?? 1e-5) * scale;
  if (actual.length !== expected.length) throw new Error(`${opts.what ?? 'result'}: length ${actual.length} != expected ${expected.length}`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    const err = Math.abs(a - e) / (atol + rtol * Math.abs(e));
    if (!(err <= worst)) {
      worst = Number.isNaN(err) ? Infinity : err;
      at = i;
    }
  }
  if (worst > 1) {
    throw new Error(`${opts.what ?? 'result'} differs at [${at}]: got ${actual[at]}, expected ${expected[at]} (rtol ${rtol.toExponential(2)}, atol ${atol.toExponential(2)})`);
  }
}
