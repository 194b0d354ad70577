/**
 * webgpu-awm: a WebGPU tensor and autograd engine (with a CPU reference backend) for ResNet-18 and
 * Adversarial Weight Masking. Layers import only downward:
 * tensor -> autograd -> shaders/backends/ops -> optim -> nn -> data, attacks -> awm -> cli, web.
 */
export type * from './tensor/backend.js';
export { Tensor, type GradNode } from './tensor/tensor.js';
export { tidy, keep, beginScope, endScope } from './tensor/scope.js';
export * from './tensor/shape.js';
export { backward, noGrad, noGradAsync, requireGrad, detach, isGradEnabled } from './autograd/engine.js';
export * as ops from './ops/index.js';
export * from './optim/index.js';
export { getGPU, describeAdapter, NoWebGpuError, type GpuHandle, type AdapterReport, type GetGpuOptions } from './device/gpu.js';
export { createBackend, createWebGpuBackend, CpuBackend, WebGpuBackend, type BackendChoice } from './backends/index.js';
