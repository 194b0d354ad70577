/**
 * Training a backdoored classifier end to end, shared by `awm attack` and the attack benchmark so both
 * measure the same thing: the training set is poisoned once (or, for WaNet, every batch as it is drawn;
 * for CLB, after PGD against a clean model), a fresh model is trained on it, and the clean test set gives
 * clean accuracy, ASR and robust accuracy in one pass.
 */
import type { ImageDataset } from '../data/dataset.js';
import type { Backend } from '../tensor/backend.js';
import type { Classifier } from '../nn/classifier.js';
import { createModel, type ModelSpecInput } from '../nn/models.js';
import { predictClasses, trainClassifier, type BatchTransform, type EpochStats, type TrainOptions } from '../train/train.js';
import { validateAttackForData } from './data-check.js';
import { evaluateBackdoor, type BackdoorMetrics } from './metrics.js';
import { parseAttackSpec } from './parse.js';
import { poisonDataset } from './poison.js';
import { poisonCleanLabel } from './clean-label.js';
import { wanetPoisoner } from './wanet-batch.js';
import type { AttackSpec } from './types.js';

export type TrainingPhase = 'clean' | 'poisoned';

export interface BackdoorTrainingOptions {
  backend: Backend;
  /** Clean training split; it is not modified. */
  train: ImageDataset;
  /** Clean test split: triggers are applied to it at evaluation time. */
  test: ImageDataset;
  attack: AttackSpec;
  /** The model to train from scratch; initialised with `training.seed`. */
  model: ModelSpecInput;
  /** How both the backdoored and (for CLB) the clean model are trained. */
  training: Omit<TrainOptions, 'transform' | 'onEpoch'>;
  /** Draws the poisoned images. Default: training.seed. */
  poisonSeed?: number;
  /** PGD (CLB) attacks this model; without it a clean model is trained first and disposed afterwards. */
  cleanModel?: Classifier;
  /** Epochs of that clean model. Default: training.epochs. */
  cleanEpochs?: number;
  evalBatchSize?: number;
  onEpoch?: (stats: EpochStats, phase: TrainingPhase) => void | Promise<void>;
  /** Progress messages between the long steps. */
  onProgress?: (message: string) => void;
}

/** How the training set was poisoned: a fixed set of images, or a share of every batch (WaNet). */
export type PoisoningSummary =
  | { mode: 'dataset'; images: number; fraction: number; perBackdoor: number[] }
  | { mode: 'per-batch'; backdoorPerBatch: number; crossPerBatch: number; batchSize: number };

export interface StageSeconds {
  cleanModel?: number;
  poison: number;
  train: number;
  evaluate: number;
  total: number;
}

export interface BackdoorTrainingResult {
  /** The trained model; the caller disposes it. */
  model: Classifier;
  metrics: BackdoorMetrics;
  history: EpochStats[];
  /** CLB's clean model's epochs, when one was trained here. */
  cleanHistory?: EpochStats[];
  poisoning: PoisoningSummary;
  seconds: StageSeconds;
}

export async function trainBackdoored(options: BackdoorTrainingOptions): Promise<BackdoorTrainingResult> {
  const started = performance.now();
  const attack = parseAttackSpec(options.attack);
  const { train, test } = options;
  validateAttackForData(attack, train);
  validateAttackForData(attack, test);
  const seconds: StageSeconds = { poison: 0, train: 0, evaluate: 0, total: 0 };

  let cleanHistory: EpochStats[] | undefined;
  let cleanModel = options.cleanModel;
  const needsCleanModel = attack.backdoors.some((b) => b.pgd !== undefined);
  if (needsCleanModel && !cleanModel) {
    const t0 = performance.now();
    options.onProgress?.('training the clean model that clean-label PGD attacks');
    cleanModel = createModel(options.backend, options.model, { seed: options.training.seed });
    cleanHistory = await trainClassifier(cleanModel, options.backend, train, {
      ...options.training,
      epochs: options.cleanEpochs ?? options.training.epochs,
      onEpoch: (s) => options.onEpoch?.(s, 'clean'),
    });
    seconds.cleanModel = (performance.now() - t0) / 1000;
  }

  let t0 = performance.now();
  let prepared: Prepared;
  try {
    prepared = await prepare(options, attack, needsCleanModel ? cleanModel : undefined);
  } finally {
    if (cleanModel && cleanModel !== options.cleanModel) cleanModel.dispose();
  }
  seconds.poison = (performance.now() - t0) / 1000;

  t0 = performance.now();
  const model = createModel(options.backend, options.model, { seed: options.training.seed });
  try {
    const history = await trainClassifier(model, options.backend, prepared.dataset, {
      ...options.training,
      ...(prepared.transform ? { transform: prepared.transform } : {}),
      onEpoch: (s) => options.onEpoch?.(s, 'poisoned'),
    });
    seconds.train = (performance.now() - t0) / 1000;

    t0 = performance.now();
    options.onProgress?.('measuring clean accuracy and attack success on the test set');
    const batchSize = options.evalBatchSize ?? 256;
    const shape = (n: number) => [n, test.c, test.h, test.w] as const;
    const metrics = await evaluateBackdoor((images, n) => predictClasses(model, options.backend, images, shape(n), batchSize), test, attack, { batchSize });
    seconds.evaluate = (performance.now() - t0) / 1000;
    seconds.total = (performance.now() - started) / 1000;
    return { model, metrics, history, ...(cleanHistory ? { cleanHistory } : {}), poisoning: prepared.poisoning, seconds };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

interface Prepared {
  dataset: ImageDataset;
  transform?: BatchTransform;
  poisoning: PoisoningSummary;
}

/** The training set to train on, and the per-batch hook when the attack poisons batches. */
async function prepare(options: BackdoorTrainingOptions, attack: AttackSpec, cleanModel: Classifier | undefined): Promise<Prepared> {
  const { train, backend } = options;
  const seed = options.poisonSeed ?? options.training.seed;
  const first = attack.backdoors[0]!;
  if (first.trigger.type === 'warp') {
    // parseAttackSpec refuses a warp trigger beside other backdoors, so this is the only one.
    const poisoner = wanetPoisoner(first, train, train.numClasses);
    const transform: BatchTransform = (images, labels, rng) => {
      const out = poisoner.poisonBatch(images, labels, rng.next());
      images.set(out.images);
      labels.set(out.labels);
    };
    const batchSize = Math.min(options.training.batchSize, train.n);
    const backdoorPerBatch = Math.floor(batchSize * first.poison.rate);
    const crossPerBatch = Math.min(Math.floor(backdoorPerBatch * first.trigger.crossRatio), batchSize - backdoorPerBatch);
    return { dataset: train, transform, poisoning: { mode: 'per-batch', backdoorPerBatch, crossPerBatch, batchSize } };
  }
  options.onProgress?.(cleanModel ? 'PGD-perturbing the clean-label images, then adding the trigger' : 'poisoning the training set');
  const result = cleanModel
    ? await withFrozen(cleanModel, () => poisonCleanLabel(train, attack, seed, {
      backend,
      classifier: (x) => cleanModel.forward(x),
    }))
    : poisonDataset(train, attack, seed);
  return {
    dataset: result.dataset,
    poisoning: { mode: 'dataset', images: result.poisoned.length, fraction: result.poisoned.length / train.n, perBackdoor: result.perBackdoor.map((s) => s.length) },
  };
}

/**
 * PGD needs the model's input gradient only: eval mode keeps BatchNorm's running statistics still, and
 * frozen weights collect no .grad. Both are restored afterwards, since the model may be the caller's.
 */
async function withFrozen<T>(model: Classifier, run: () => Promise<T>): Promise<T> {
  const wasTraining = model.training;
  const params = model.parameters();
  const requires = params.map((p) => p.requiresGrad);
  model.eval();
  model.setRequiresGrad(false);
  try {
    return await run();
  } finally {
    params.forEach((p, i) => {
      p.requiresGrad = requires[i]!;
    });
    model.train(wasTraining);
  }
}
