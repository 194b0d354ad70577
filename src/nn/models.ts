/** Building a model from its spec. */
import type { Backend } from '../tensor/backend.js';
import type { Classifier } from './classifier.js';
import { ResNet18 } from './resnet.js';
import { PreActResNet18 } from './preact-resnet.js';
import { SmallCNN } from './small-cnn.js';
import { resolveInit, type InitOptions } from './init.js';
import { DEFAULT_WIDTH, type Arch, type ModelSpec } from './spec.js';

/** A spec where width and class count may be left to their defaults (width per arch, 10 classes, 3 channels). */
export type ModelSpecInput = Pick<ModelSpec, 'arch'> & Partial<Omit<ModelSpec, 'arch'>>;

export function completeSpec(spec: ModelSpecInput): ModelSpec {
  const arch: Arch = spec.arch;
  return {
    ...spec,
    arch,
    inChannels: spec.inChannels ?? 3,
    numClasses: spec.numClasses ?? 10,
    width: spec.width ?? DEFAULT_WIDTH[arch],
    ...(arch === 'small-cnn' ? { inputSize: spec.inputSize ?? 32 } : {}),
  };
}

/** A freshly initialised model (PyTorch's default init, seeded), or zeros with `skipInit`. */
export function createModel(backend: Backend, spec: ModelSpecInput, opts: InitOptions = {}): Classifier {
  const full = completeSpec(spec);
  const init = resolveInit(backend, opts);
  switch (full.arch) {
    case 'resnet18':
      return new ResNet18(backend, full, init);
    case 'preact-resnet18':
      return new PreActResNet18(backend, full, init);
    case 'small-cnn':
      return new SmallCNN(backend, full, init);
  }
}
