/**
 * Node-only part of the GPU entry point: loads Dawn's bindings from the `webgpu` package and, when
 * no hardware Vulkan adapter answers, points Dawn at a software Vulkan driver (SwiftShader, as
 * Debian's chromium package ships it) and tries again.
 */
import type { GetGpuOptions } from './gpu.js';
import { NoWebGpuError } from './gpu.js';
import { installPollThrottle } from './poll-throttle.js';

/** Software Vulkan ICDs we know how to find, most preferred first. */
export const SOFTWARE_ICDS = [
  '/usr/lib/chromium/vk_swiftshader_icd.json',
  '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
  '/opt/google/chrome/vk_swiftshader_icd.json',
];

// Reached through process.getBuiltinModule rather than an import so that browser bundles of the
// library, which include this file behind a dynamic import, carry no reference to Node built-ins.
function existsSync(path: string): boolean {
  const fs = (process as unknown as { getBuiltinModule(id: string): typeof import('node:fs') }).getBuiltinModule('node:fs');
  return fs.existsSync(path);
}

function listJson(dir: string): string[] {
  const fs = (process as unknown as { getBuiltinModule(id: string): typeof import('node:fs') }).getBuiltinModule('node:fs');
  try {
    return fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => `${dir}/${f}`);
  } catch {
    return [];
  }
}

/**
 * The Vulkan driver manifests the system loader would find (its Linux search folders: XDG_CONFIG_DIRS, /etc,
 * XDG_DATA_HOME, XDG_DATA_DIRS, each under vulkan/icd.d). With none, probing the system drivers can only fail, and
 * the loader prints "Found no drivers" warnings on stderr while doing so; so the probe is skipped.
 */
export function systemVulkanManifests(env: Record<string, string | undefined>, list: (dir: string) => string[] = listJson): string[] {
  const home = env.HOME ?? '';
  const roots = [
    ...(env.XDG_CONFIG_DIRS || '/etc/xdg').split(':'),
    '/etc',
    env.XDG_DATA_HOME || (home ? `${home}/.local/share` : ''),
    ...(env.XDG_DATA_DIRS || '/usr/local/share:/usr/share').split(':'),
  ].filter(Boolean);
  return [...new Set(roots)].flatMap((root) => list(`${root}/vulkan/icd.d`));
}

const VULKAN_LOADERS = [
  '/usr/lib/x86_64-linux-gnu/libvulkan.so.1',
  '/usr/lib/aarch64-linux-gnu/libvulkan.so.1',
  '/usr/lib64/libvulkan.so.1',
  '/usr/lib/libvulkan.so.1',
];

interface DawnModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

async function loadDawn(): Promise<DawnModule> {
  try {
    // A variable specifier keeps bundlers from pulling the native module into browser builds.
    const name = 'webgpu';
    return (await import(/* @vite-ignore */ name)) as DawnModule;
  } catch (e) {
    throw new NoWebGpuError(`The 'webgpu' package (Dawn's Node bindings) could not be loaded: ${(e as Error).message}. Run 'npm install' (it is an optional dependency of webgpu-awm).`);
  }
}

/**
 * Whether Dawn keeps its robustness transform: the option when given, else AWM_DAWN_ROBUSTNESS=on|off, else off
 * (our kernels bound-check themselves; see GetGpuOptions.disableRobustness).
 */
export function dawnRobustness(options: GetGpuOptions, env: Record<string, string | undefined>): boolean {
  if (options.disableRobustness !== undefined) return !options.disableRobustness;
  const v = env.AWM_DAWN_ROBUSTNESS?.trim().toLowerCase();
  if (v === undefined || v === '') return false;
  if (v === 'on' || v === '1' || v === 'true') return true;
  if (v === 'off' || v === '0' || v === 'false') return false;
  throw new Error(`AWM_DAWN_ROBUSTNESS must be on or off, got '${env.AWM_DAWN_ROBUSTNESS}'`);
}

function dawnFlags(robustness: boolean): string[] {
  return robustness ? [] : ['enable-dawn-features=disable_robustness'];
}

export async function requestNodeAdapter(options: GetGpuOptions, keepAlive: unknown[]): Promise<{ gpu: GPU; adapter: GPUAdapter; source: string; robustness: boolean }> {
  const dawn = await loadDawn();
  // Dawn's classes (GPUBufferUsage, GPUShaderStage, ...) are what WebGPU code expects as globals.
  for (const [k, v] of Object.entries(dawn.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  installPollThrottle();

  const robustness = dawnRobustness(options, process.env);
  const userChoseDriver = !!(process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES);
  // Dawn may also reach drivers other than Vulkan's on other systems; on Linux its only backend is Vulkan.
  const probeSystem = userChoseDriver || process.platform !== 'linux' || systemVulkanManifests(process.env).length > 0;
  if (probeSystem) {
    const gpu = dawn.create(dawnFlags(robustness));
    keepAlive.push(gpu);
    const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference });
    if (adapter) return { gpu, adapter, source: 'dawn', robustness };
  }

  const icd = SOFTWARE_ICDS.find((p) => existsSync(p));
  const loader = VULKAN_LOADERS.find((p) => existsSync(p));
  if (!userChoseDriver && icd && loader) {
    // The Vulkan loader reads this when the next instance is created.
    process.env.VK_ICD_FILENAMES = icd;
    const gpu2 = dawn.create(dawnFlags(robustness));
    keepAlive.push(gpu2);
    const adapter2 = await gpu2.requestAdapter({ powerPreference: options.powerPreference });
    if (adapter2) return { gpu: gpu2, adapter: adapter2, source: 'dawn+swiftshader', robustness };
  }
  const missing: string[] = [];
  if (!loader) missing.push('the Vulkan loader (Debian/Ubuntu: apt-get install libvulkan1)');
  if (!icd) missing.push(`a software Vulkan driver (Debian/Ubuntu: apt-get install chromium, which ships ${SOFTWARE_ICDS[0]})`);
  const tried = userChoseDriver ? `the Vulkan driver named by VK_ICD_FILENAMES/VK_DRIVER_FILES (${process.env.VK_ICD_FILENAMES ?? process.env.VK_DRIVER_FILES})` : 'the system Vulkan drivers' + (icd && loader ? ` and SwiftShader (${icd})` : '');
  throw new NoWebGpuError(
    `No WebGPU adapter: Dawn found none using ${tried}.` +
      (missing.length ? ` Missing: ${missing.join('; ')}.` : ' Check that a Vulkan driver is installed and working (vulkaninfo).') +
      // Seen on an NVIDIA machine: the system manifest named a library that failed to load, the driver's own worked.
      (userChoseDriver ? '' : ' If a GPU driver is installed but not found, name its ICD manifest in VK_DRIVER_FILES (e.g. /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json; the NVIDIA driver also needs libglvnd).'),
  );
}
