/** Modules and models (browser-safe; file I/O for Node lives in model-file.node.ts). */
export { Module } from './module.js';
export { Conv2d, type Conv2dConfig } from './conv.js';
export { BatchNorm2d, type BatchNormConfig } from './batchnorm.js';
export { Linear } from './linear.js';
export { Sequential } from './sequential.js';
export { ReLU, Identity, MaxPool2d, AvgPool2d, GlobalAvgPool2d, Flatten, Normalize, type NormalizeSpec } from './layers.js';
export { Classifier } from './classifier.js';
export { ResNet18, BasicBlock } from './resnet.js';
export { PreActResNet18, PreActBlock } from './preact-resnet.js';
export { SmallCNN, SMALL_CNN_HIDDEN } from './small-cnn.js';
export { ARCHS, DEFAULT_WIDTH, isArch, type Arch, type ModelSpec } from './spec.js';
export { createModel, completeSpec, type ModelSpecInput } from './models.js';
export { resolveInit, type InitOptions, type ParamInit } from './init.js';
export { inferModelSpec, candidateArchs, ArchitectureError, type ShapeMap } from './infer.js';
export { convLayers, attachMasks, foldMasks, clearMasks, type MaskOptions } from './masks.js';
export {
  StateDictError,
  type HostTensor,
  type StateDict,
  type StateDictLike,
  type StateSlot,
  type LoadOptions,
  type LoadReport,
  type ShapeMismatch,
} from './state-dict.js';
export { loadModelFile, saveModel, specToMetadata, specFromMetadata, type LoadModelOptions, type LoadedModel } from './model-file.js';
