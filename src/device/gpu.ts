/**
 * The one entry point that returns a WebGPU device: `navigator.gpu` in a browser, the `webgpu`
 * package (Dawn) in Node. The returned handle keeps the GPU, adapter and device objects reachable
 * for the life of the process: Dawn's Node bindings destroy the instance (and crash) when the
 * GPU or adapter object is garbage-collected.
 */

export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** Where the adapter came from: 'navigator.gpu', 'dawn', or 'dawn+swiftshader'. */
  source: string;
  isSoftware: boolean;
  /** Whether the WebGPU implementation injects its own bounds checks (always in browsers; Dawn in Node: see GetGpuOptions). */
  robustness: boolean;
  limits: Record<string, number>;
  features: string[];
}

export interface GpuHandle {
  gpu: GPU;
  adapter: GPUAdapter;
  device: GPUDevice;
  report: AdapterReport;
}

export interface GetGpuOptions {
  powerPreference?: GPUPowerPreference;
  /**
   * Dawn (Node) only: skip Dawn's bounds-checking code injection. Default: skipped, unless the environment sets
   * AWM_DAWN_ROBUSTNESS=on. Safe because every kernel checks its own bounds (src/shaders/common.ts; audited
   * kernel by kernel), and it measured about 20 % faster on SwiftShader. Browsers always keep their checks.
   */
  disableRobustness?: boolean;
}

/** Thrown when no WebGPU adapter can be found; the message says what to install. */
export class NoWebGpuError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoWebGpuError';
  }
}

// Everything handed out stays referenced here for the life of the process.
const keepAlive: unknown[] = [];
let cached: Promise<GpuHandle> | null = null;

/** Limits worth raising to what the adapter offers (kernels still split work to the defaults' shapes). */
const RAISED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxStorageBuffersPerShaderStage',
] as const;

const REPORTED_LIMITS = [
  ...RAISED_LIMITS,
  'maxComputeWorkgroupsPerDimension',
  'maxComputeWorkgroupSizeZ',
  'minUniformBufferOffsetAlignment',
  'minStorageBufferOffsetAlignment',
] as const;

export function isNode(): boolean {
  return typeof process !== 'undefined' && !!process.versions?.node && typeof (globalThis as { window?: unknown }).window === 'undefined';
}

/**
 * Returns the process-wide GPU handle, creating it on first use. Concurrent callers share one. A failed acquisition or
 * a lost device is forgotten, so the next call acquires a fresh device instead of handing out a dead one.
 */
export function getGPU(options: GetGpuOptions = {}): Promise<GpuHandle> {
  if (!cached) {
    const pending = acquire(options);
    cached = pending;
    const forget = () => {
      if (cached === pending) cached = null;
    };
    pending.then((handle) => handle.device.lost.then(forget), forget);
  }
  return cached;
}

async function acquire(options: GetGpuOptions): Promise<GpuHandle> {
  let gpu: GPU;
  let adapter: GPUAdapter | null;
  let source: string;
  let robustness = true;
  if (!isNode()) {
    const nav = (globalThis as { navigator?: Navigator }).navigator;
    if (!nav?.gpu) {
      throw new NoWebGpuError('This browser exposes no WebGPU (navigator.gpu is missing). Use a recent Chrome, Edge or Safari, or Firefox with WebGPU enabled, over https or localhost.');
    }
    gpu = nav.gpu;
    adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference });
    source = 'navigator.gpu';
    if (!adapter) throw new NoWebGpuError('navigator.gpu returned no adapter: WebGPU is disabled or the GPU is blocklisted in this browser.');
  } else {
    const { requestNodeAdapter } = await import('./node-gpu.js');
    ({ gpu, adapter, source, robustness } = await requestNodeAdapter(options, keepAlive));
  }
  keepAlive.push(gpu, adapter);

  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const device = await adapter.requestDevice({ requiredLimits });
  keepAlive.push(device);

  const info = adapter.info;
  const description = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ');
  const limits: Record<string, number> = {};
  for (const name of REPORTED_LIMITS) {
    const v = (device.limits as unknown as Record<string, number>)[name];
    if (typeof v === 'number') limits[name] = v;
  }
  const report: AdapterReport = {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    source,
    isSoftware: /swiftshader|llvmpipe|lavapipe|software|warp/i.test(description) || (info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true,
    robustness,
    limits,
    features: [...adapter.features].sort(),
  };
  return { gpu, adapter, device, report };
}

/** One line for logs: which adapter, from where, with its key limits. */
export function describeAdapter(r: AdapterReport): string {
  const mib = (b: number | undefined) => (b === undefined ? '?' : `${Math.round(b / 2 ** 20)} MiB`);
  return `${r.description || r.vendor || 'unknown adapter'} via ${r.source}${r.isSoftware ? ' (software)' : ''}; ` +
    `max storage binding ${mib(r.limits.maxStorageBufferBindingSize)}, max buffer ${mib(r.limits.maxBufferSize)}, ` +
    `max invocations/workgroup ${r.limits.maxComputeInvocationsPerWorkgroup}` +
    `${r.robustness ? '' : '; Dawn robustness off (the kernels check their own bounds)'}`;
}
