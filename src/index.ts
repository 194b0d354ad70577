/**
 * webgpu-awm: a WebGPU tensor and autograd engine (with a CPU reference backend) for ResNet-18 and
 * Adversarial Weight Masking. Layers import only downward:
 * tensor -> autograd -> shaders/backends/ops -> optim -> nn -> data, attacks -> awm -> cli, web.
 * Every module reachable from here is browser-safe; the emitted declarations name WebGPU's types (GPUDevice, ...),
 * so they carry the reference below to the package that declares them.
 */
/// <reference types="@webgpu/types" preserve="true" />
export type * from './tensor/backend.js';
export { Tensor, type GradNode } from './tensor/tensor.js';
export { tidy, keep, beginScope, endScope } from './tensor/scope.js';
export * from './tensor/shape.js';
export { backward, noGrad, noGradAsync, requireGrad, detach, isGradEnabled } from './autograd/engine.js';
export * as ops from './ops/index.js';
export * from './optim/index.js';
export { getGPU, describeAdapter, NoWebGpuError, type GpuHandle, type AdapterReport, type GetGpuOptions } from './device/gpu.js';
export { createBackend, createWebGpuBackend, CpuBackend, WebGpuBackend, type BackendChoice } from './backends/index.js';
export * as nn from './nn/index.js';
export * as data from './data/index.js';
export * as attacks from './attacks/index.js';
export * as io from './io/index.js';
export { trainClassifier, evaluateClassifier, predictClasses, type TrainOptions, type EpochStats } from './train/train.js';
export { augmentBatch, type AugmentOptions } from './data/augment.js';
export { runAwm, type AwmResult, type AwmRoundStats, type AwmHooks, type AwmVariant } from './awm/awm.js';
export { AWM_DEFAULTS, AWM_ONE_SHOT, scaleTau, stepsPerPhase, type AwmOptions } from './awm/options.js';
export { awmDefense, resolveAwmOptions } from './awm/awm-defense.js';
export { awmPlusDefense, resolveAwmPlusOptions } from './awm/awm-plus.js';
export { fineTuneDefense } from './awm/finetune.js';
export { anpDefense } from './awm/anp.js';
export { purifyModel, evaluateModel, maskStatistics, type PurifyOptions, type PurifyReport } from './awm/purify.js';
export { cleanSetFromDataset, augmentOneShot, validateCleanSet, type CleanSet } from './awm/clean-set.js';
export { reportMarkdown } from './awm/report.js';
export { awmWalkthrough, explainAwmRound, type ExplainedRound, type WalkthroughResult, type WalkthroughOptions } from './awm/walkthrough.js';
export { formatWalkthrough, formatExplainedRound, walkthroughAgrees, explainedRoundAgrees } from './awm/walkthrough-text.js';
export type { Defense, DefenseContext, DefenseMethod, DefenseOutcome } from './awm/defense.js';
