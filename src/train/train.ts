/**
 * Supervised training and evaluation of a classifier on an ImageDataset: seeded shuffling, device-side
 * augmentation, SGD with a cosine or step schedule, one command-buffer submit per step, and running
 * loss/accuracy sums kept on the device and read once per epoch (a read per step would stall the GPU).
 */
import type { Backend } from '../tensor/backend.js';
import { keep, tidy } from '../tensor/scope.js';
import { backward, noGrad } from '../autograd/engine.js';
import * as ops from '../ops/index.js';
import { SGD, cosineLR, stepLR } from '../optim/index.js';
import type { Module } from '../nn/module.js';
import { batches, type ImageDataset } from '../data/dataset.js';
import { Rng } from '../data/rng.js';
import { augmentBatch, isAugmenting, type AugmentOptions } from '../data/augment.js';
import { labelsToTensor } from '../data/tensorize.js';

export interface EpochStats {
  epoch: number;
  epochs: number;
  loss: number;
  trainAccuracy: number;
  testAccuracy?: number;
  imagesPerSecond: number;
  msPerStep: number;
  lr: number;
  seconds: number;
}

/** Rewrites a host batch in place before upload (per-batch poisoning such as WaNet's). */
export type BatchTransform = (images: Float32Array, labels: Int32Array, rng: Rng) => void;

export interface TrainOptions {
  epochs: number;
  lr: number;
  batchSize: number;
  momentum?: number;
  weightDecay?: number;
  schedule?: 'cosine' | 'step' | 'none';
  seed: number;
  augment?: AugmentOptions;
  transform?: BatchTransform;
  /** Evaluated after every epoch when given. */
  testSet?: ImageDataset;
  /** Stop after this many steps per epoch (tests, quick runs). */
  maxStepsPerEpoch?: number;
  onEpoch?: (stats: EpochStats) => void | Promise<void>;
}

export function toFloatImages(u8: Uint8Array): Float32Array {
  const f = new Float32Array(u8.length);
  for (let i = 0; i < u8.length; i++) f[i] = u8[i]! / 255;
  return f;
}

export async function trainClassifier(model: Module, backend: Backend, ds: ImageDataset, opts: TrainOptions): Promise<EpochStats[]> {
  if (ds.n < 1) throw new Error('train: the training set is empty');
  const schedule = opts.schedule === 'step' ? stepLR(opts.lr, Math.max(1, Math.ceil(opts.epochs / 3)), 0.1)
    : opts.schedule === 'none' ? () => opts.lr : cosineLR(opts.lr, opts.epochs);
  const params = model.parameters().filter((p) => p.requiresGrad);
  const opt = new SGD(params, { lr: opts.lr, momentum: opts.momentum ?? 0.9, weightDecay: opts.weightDecay ?? 5e-4 });
  const rng = new Rng(opts.seed);
  const history: EpochStats[] = [];
  try {
    for (let epoch = 0; epoch < opts.epochs; epoch++) {
      opt.lr = schedule(epoch);
      model.train();
      const t0 = performance.now();
      let lossSum = keep(ops.zeros(backend, []));
      let correctSum = keep(ops.zeros(backend, []));
      let seen = 0;
      let steps = 0;
      for (const batch of batches(ds, opts.batchSize, { shuffle: true, seed: rng.next(), dropLast: ds.n >= opts.batchSize })) {
        const n = batch.labels.length;
        const images = toFloatImages(batch.images);
        if (opts.transform) opts.transform(images, batch.labels, rng);
        const next = tidy(() => {
          let x = ops.tensor(backend, images, [n, ds.c, ds.h, ds.w]);
          if (isAugmenting(opts.augment)) x = noGrad(() => augmentBatch(x, rng, opts.augment!));
          const y = labelsToTensor(backend, batch.labels);
          opt.zeroGrad();
          const logits = model.forward(x);
          const loss = ops.crossEntropy(logits, y);
          backward(loss);
          opt.step();
          return noGrad(() => ({
            loss: ops.add(lossSum, ops.mul(loss, n)),
            correct: ops.add(correctSum, ops.sum(ops.eq(ops.argmax(logits, 1), y))),
          }));
        });
        lossSum.dispose();
        correctSum.dispose();
        lossSum = keep(next.loss);
        correctSum = keep(next.correct);
        backend.flush();
        seen += n;
        if (++steps === opts.maxStepsPerEpoch) break;
      }
      const loss = (await lossSum.item()) / seen;
      const trainAccuracy = (await correctSum.item()) / seen;
      lossSum.dispose();
      correctSum.dispose();
      if (!Number.isFinite(loss)) throw new Error(`train: the loss became ${loss} in epoch ${epoch + 1}; lower --lr`);
      const seconds = (performance.now() - t0) / 1000;
      const stats: EpochStats = {
        epoch: epoch + 1, epochs: opts.epochs, loss, trainAccuracy, imagesPerSecond: seen / seconds,
        msPerStep: (seconds * 1000) / steps, lr: opt.lr, seconds,
      };
      if (opts.testSet) stats.testAccuracy = (await evaluateClassifier(model, backend, opts.testSet, { batchSize: Math.max(opts.batchSize, 256) })).accuracy;
      history.push(stats);
      await opts.onEpoch?.(stats);
    }
  } finally {
    opt.dispose();
    opt.zeroGrad();
  }
  return history;
}

/** Runs the model in eval mode over float images [n, c, h, w] in [0, 1]; returns the argmax class per image. */
export async function predictClasses(model: Module, backend: Backend, images: Float32Array, shape: readonly [number, number, number, number], batchSize = 256): Promise<Int32Array> {
  const [n, c, h, w] = shape;
  const per = c * h * w;
  if (images.length !== n * per) throw new Error(`predict: ${images.length} values do not fill [${shape.join(', ')}]`);
  const wasTraining = model.training;
  model.eval();
  const out = new Int32Array(n);
  const pending: Array<Promise<void>> = [];
  try {
    for (let start = 0; start < n; start += batchSize) {
      const count = Math.min(batchSize, n - start);
      const pred = tidy(() => noGrad(() => {
        const x = ops.tensor(backend, images.subarray(start * per, (start + count) * per), [count, c, h, w]);
        return ops.argmax(model.forward(x), 1);
      }));
      backend.flush();
      const at = start;
      pending.push(pred.data().then((d) => {
        out.set(d as Int32Array, at);
        pred.dispose();
      }));
    }
    await Promise.all(pending);
  } finally {
    model.train(wasTraining);
  }
  return out;
}

export interface EvalResult {
  accuracy: number;
  predictions: Int32Array;
}

export async function evaluateClassifier(model: Module, backend: Backend, ds: ImageDataset, opts: { batchSize?: number } = {}): Promise<EvalResult> {
  const predictions = await predictClasses(model, backend, toFloatImages(ds.images), [ds.n, ds.c, ds.h, ds.w], opts.batchSize ?? 256);
  return { accuracy: accuracyOf(predictions, ds.labels), predictions };
}

/** The share of predictions equal to their labels (0 for none). */
export function accuracyOf(predictions: Int32Array, labels: Int32Array): number {
  if (predictions.length !== labels.length) throw new Error(`accuracy: ${predictions.length} predictions for ${labels.length} labels`);
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] === labels[i]) correct++;
  return correct / Math.max(1, labels.length);
}

