/**
 * The adapter report for bench/device/gpu-check.sh: which adapter Dawn picks, its limits, and which
 * kernel forms the engine chooses for it. Bundled with esbuild (`--external:webgpu`) before it travels.
 */
import { describeAdapter, getGPU } from '../../src/device/gpu.js';
import { WebGpuBackend } from '../../src/backends/webgpu/backend.js';

const handle = await getGPU();
const backend = new WebGpuBackend(handle);
console.log(describeAdapter(handle.report));
console.log(JSON.stringify({ report: handle.report, preferWorkgroupMemory: backend.runtime.preferWorkgroupMemory, gemmForms: backend.runtime.gemmForms, stridedBackwardData: backend.runtime.stridedBackwardData }, null, 1));
process.exit(0);
