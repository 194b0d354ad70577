/**
 * The training recipe `awm train` and `awm attack` share, so a backdoored model and its clean
 * counterpart get the same defaults: per-dataset epochs and augmentation, and the training flags.
 */
import type { FlagSpecs } from './args.js';
import type { DatasetName } from '../data/node.js';
import type { ImageDataset } from '../data/dataset.js';
import type { AugmentOptions } from '../data/augment.js';
import { ARCHS } from '../nn/spec.js';

export const AUGMENTS = ['none', 'crop', 'crop-flip'] as const;
export type Augment = (typeof AUGMENTS)[number];

/**
 * Per-dataset defaults. Flips stay off where a mirror image means something else (clothes are
 * symmetric enough but the reference models were trained without them; digits and signs change
 * meaning). The MNIST-like recipe is the one the shared PyTorch models used (4 epochs, no augmentation).
 */
export const DATASET_DEFAULTS: Readonly<Record<DatasetName, { epochs: number; augment: Augment }>> = {
  'fashion-mnist': { epochs: 4, augment: 'none' },
  mnist: { epochs: 4, augment: 'none' },
  cifar10: { epochs: 30, augment: 'crop-flip' },
  gtsrb: { epochs: 10, augment: 'crop' },
  folder: { epochs: 10, augment: 'none' },
};

/** The model and optimiser flags of a training run; `outHelp` describes the command's --out. */
export function trainingFlags(outHelp: string): FlagSpecs {
  return {
    arch: { type: 'string', choices: ARCHS, default: 'resnet18', help: 'model architecture' },
    width: { type: 'int', help: 'base channel width (default: 64 for the ResNets, 16 for small-cnn)' },
    epochs: { type: 'int', help: 'training epochs (default per dataset: 4 for (fashion-)mnist, 30 for cifar10, 10 otherwise)' },
    lr: { type: 'number', default: 0.05, help: 'peak SGD learning rate' },
    schedule: { type: 'string', choices: ['cosine', 'step', 'none'], default: 'cosine', help: 'learning-rate schedule over the epochs' },
    momentum: { type: 'number', default: 0.9, help: 'SGD momentum' },
    'weight-decay': { type: 'number', default: 5e-4, help: 'SGD weight decay' },
    'batch-size': { type: 'int', default: 128, help: 'images per step' },
    seed: { type: 'int', default: 0, help: 'seed for initialisation, shuffling and augmentation' },
    augment: { type: 'string', choices: AUGMENTS, help: 'augmentation: random crop (padding 4) with or without flips (default: crop-flip for cifar10, crop for gtsrb, none otherwise)' },
    'max-steps': { type: 'int', help: 'stop each epoch after this many steps (quick runs)' },
    out: { type: 'string', required: true, help: outHelp },
  };
}

/** Crop padding scales with the image: CIFAR's 4 at 32 pixels, 4 at 28, 1 at tiny test sizes. */
export function augmentOptions(augment: Augment, ds: ImageDataset): AugmentOptions | undefined {
  if (augment === 'none') return undefined;
  const cropPadding = Math.max(1, Math.round(Math.min(ds.h, ds.w) / 8));
  return { cropPadding, flipProbability: augment === 'crop-flip' ? 0.5 : 0 };
}
