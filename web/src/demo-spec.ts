/** What the built-in demo is made of; shared by the asset generator (Node) and the page. */
import type { ModelSpec } from '../../src/nn/spec.js';

export const DEMO_MODEL_SPEC: ModelSpec = { arch: 'small-cnn', inChannels: 1, numClasses: 10, width: 16, inputSize: 28 };
export const DEMO_CLEAN_PER_CLASS = 2;
export const DEMO_EVAL_PER_CLASS = 20;

/** Tensor names in demo-assets/images.safetensors. */
export const DEMO_IMAGE_KEYS = {
  cleanImages: 'clean.images',
  cleanLabels: 'clean.labels',
  evalImages: 'eval.images',
  evalLabels: 'eval.labels',
} as const;

export const DEMO_FILES = { model: 'demo-assets/model.safetensors', images: 'demo-assets/images.safetensors' } as const;
