/**
 * The training recipe `awm train` and `awm attack` share, so a backdoored model and its clean
 * counterpart get the same defaults: per-dataset epochs and augmentation, and the training flags.
 */
import type { FlagSpecs } from './args.js';
import { forceFlag } from './outputs.js';
import type { DatasetName } from '../data/node.js';
import type { ImageDataset } from '../data/dataset.js';
import type { AugmentOptions } from '../data/augment.js';
import { ARCHS, DEFAULT_WIDTH, type Arch, type ModelSpec } from '../nn/spec.js';
import type { EpochStats } from '../train/train.js';

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
    ...forceFlag,
  };
}

/** Crop padding scales with the image: CIFAR's 4 at 32 pixels, 4 at 28, 1 at tiny test sizes. */
export function augmentOptions(augment: Augment, ds: ImageDataset): AugmentOptions | undefined {
  if (augment === 'none') return undefined;
  const cropPadding = Math.max(1, Math.round(Math.min(ds.h, ds.w) / 8));
  return { cropPadding, flipProbability: augment === 'crop-flip' ? 0.5 : 0 };
}

/** The recipe fields both commands record; `width` undefined means the architecture's default. */
export interface RecipePlan {
  arch: Arch;
  width?: number;
  epochs: number;
  lr: number;
  batchSize: number;
  seed: number;
  augment: Augment;
  maxSteps?: number;
}

/** The model a recipe trains on a dataset: channels, classes and (small-cnn) input size from the data. */
export function recipeModelSpec(plan: Pick<RecipePlan, 'arch' | 'width'>, ds: ImageDataset): ModelSpec {
  if (plan.arch === 'small-cnn' && ds.h !== ds.w) throw new Error(`small-cnn needs square images, the dataset's are ${ds.h}x${ds.w}`);
  return {
    arch: plan.arch,
    inChannels: ds.c,
    numClasses: ds.numClasses,
    width: plan.width ?? DEFAULT_WIDTH[plan.arch],
    ...(plan.arch === 'small-cnn' ? { inputSize: ds.h } : {}),
  };
}

/**
 * Everything PyTorch's state dict cannot hold about how the model came to be (strings, as safetensors
 * metadata requires): the keys both commands write; each adds its own.
 */
export function recipeMetadata(trainedBy: string, dataset: DatasetName, plan: RecipePlan, train: ImageDataset, last: EpochStats): Record<string, string> {
  return {
    trained_by: trainedBy,
    dataset,
    image_shape: `${train.c}x${train.h}x${train.w}`,
    ...(train.classNames ? { class_names: JSON.stringify(train.classNames) } : {}),
    epochs: String(plan.epochs),
    epochs_completed: String(last.epoch),
    seed: String(plan.seed),
    lr: String(plan.lr),
    batch_size: String(plan.batchSize),
    augment: plan.augment,
    ...(plan.maxSteps !== undefined ? { max_steps: String(plan.maxSteps) } : {}),
    train_loss: last.loss.toFixed(6),
    train_accuracy: last.trainAccuracy.toFixed(6),
  };
}
