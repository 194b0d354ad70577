/**
 * Backend selection: `webgpu` (WGSL kernels on the adapter getGPU finds), `cpu` (the reference,
 * also the fallback), or `auto` (WebGPU when an adapter exists, else the CPU with a notice).
 */
import type { Backend } from '../tensor/backend.js';
import { getGPU, NoWebGpuError, type GetGpuOptions } from '../device/gpu.js';
import { CpuBackend } from './cpu/index.js';
import { WebGpuBackend, type WebGpuBackendOptions } from './webgpu/backend.js';

export type BackendChoice = 'webgpu' | 'cpu' | 'auto';

export interface CreateBackendOptions extends GetGpuOptions, WebGpuBackendOptions {
  /** Called with a human-readable line when `auto` falls back to the CPU. */
  onFallback?: (message: string) => void;
}

export async function createWebGpuBackend(options: CreateBackendOptions = {}): Promise<WebGpuBackend> {
  return new WebGpuBackend(await getGPU(options), options);
}

export async function createBackend(choice: BackendChoice = 'auto', options: CreateBackendOptions = {}): Promise<Backend> {
  if (choice === 'cpu') return new CpuBackend({ precision: 'float32' });
  if (choice === 'webgpu') return createWebGpuBackend(options);
  try {
    return await createWebGpuBackend(options);
  } catch (e) {
    if (!(e instanceof NoWebGpuError)) throw e;
    (options.onFallback ?? ((m: string) => console.warn(m)))(`WebGPU unavailable, running on the CPU backend (slow). ${e.message}`);
    return new CpuBackend({ precision: 'float32' });
  }
}

export { CpuBackend, WebGpuBackend };
