/**
 * Fine-tuning, the simplest baseline (docs/algorithms.md, "Fine-tuning"): train every weight on
 * the clean set in train mode with ANP's augmentation (random crop after zero padding by 4, optional
 * horizontal flip), SGD lr 0.01, momentum 0.9, weight decay 5e-4, for a fixed number of steps.
 * Batches are drawn with replacement, as AWM draws them, so a clean set smaller than a batch still
 * gives full batches. Every random choice comes from the seed.
 *
 * The batch drawing and the model-flag bookkeeping here are shared with ANP (anp.ts).
 */
import type { Backend } from '../tensor/backend.js';
import type { Tensor } from '../tensor/tensor.js';
import { keep, tidy } from '../tensor/scope.js';
import { backward, noGrad } from '../autograd/engine.js';
import * as ops from '../ops/index.js';
import { SGD } from '../optim/index.js';
import type { Module } from '../nn/module.js';
import { BatchNorm2d } from '../nn/batchnorm.js';
import { Rng } from '../data/rng.js';
import { augmentBatch, type AugmentOptions } from '../data/augment.js';
import { validateCleanSet, type CleanSet } from './clean-set.js';
import { progressAt, reportProgress, type Defense, type DefenseContext, type DefenseOutcome, type DefenseProgress } from './defense.js';

export interface FineTuneOptions {
  steps: number;
  batchSize: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  /** Random crop after zero padding by this many pixels (0 = off). */
  cropPadding: number;
  /** Random horizontal flips (default: on for 3-channel images only; digits and signs change meaning when mirrored). */
  flip: boolean;
  /** Read the device-side loss sums and log once per this many steps. */
  logEvery: number;
  seed: number;
}

export const FINE_TUNE_DEFAULTS = {
  steps: 200,
  batchSize: 128,
  lr: 0.01,
  momentum: 0.9,
  weightDecay: 5e-4,
  cropPadding: 4,
} as const;

/** One log interval of fine-tuning: mean loss and accuracy on the (augmented) training batches. */
export interface FineTuneInterval {
  step: number;
  loss: number;
  accuracy: number;
}

// ---- shared with ANP ---------------------------------------------------------

/** A default log interval: about `pieces` lines per run. */
export function defaultLogEvery(total: number, pieces: number): number {
  return Math.max(1, Math.ceil(total / pieces));
}

/** The augmentation both baselines use (ANP's training transform). */
export function baselineAugment(cropPadding: number, flip: boolean): AugmentOptions {
  return { cropPadding, flipProbability: flip ? 0.5 : 0 };
}

/** Draws `size` images with replacement, uploads them and augments them on the device, all from `rng`. */
export function drawAugmentedBatch(backend: Backend, set: CleanSet, size: number, rng: Rng, augment: AugmentOptions): { x: Tensor; y: Tensor } {
  const per = set.c * set.h * set.w;
  const images = new Float32Array(size * per);
  const labels = new Int32Array(size);
  for (let k = 0; k < size; k++) {
    const i = rng.int(set.n);
    images.set(set.images.subarray(i * per, (i + 1) * per), k * per);
    labels[k] = set.labels[i]!;
  }
  const raw = ops.tensor(backend, images, [size, set.c, set.h, set.w]);
  const x = augment.cropPadding || augment.flipProbability ? augmentBatch(raw, rng, augment) : raw;
  return { x, y: ops.tensor(backend, labels, [size], { dtype: 'int32' }) };
}

/** Number of correct predictions in the batch as a one-element float tensor (no gradient). */
export function countCorrect(logits: Tensor, y: Tensor): Tensor {
  return noGrad(() => {
    const pred = ops.argmax(logits, 1);
    const asFloat = (t: Tensor) => (t.dtype === 'float32' ? t : ops.toFloat(t));
    return ops.reshape(ops.sum(ops.eq(asFloat(pred), asFloat(y))), [1]);
  });
}

/**
 * Records the flags a baseline changes (train/eval per module, requiresGrad per parameter,
 * BatchNorm batch counters) and returns a function that puts them back.
 */
export function saveModelFlags(model: Module, opts: { counters: boolean }): () => void {
  const modes = model.namedModules().map(([, m]) => [m, m.training] as const);
  const grads = model.parameters().map((p) => [p, p.requiresGrad] as const);
  const counters = opts.counters
    ? model.namedModules().filter((e): e is [string, BatchNorm2d] => e[1] instanceof BatchNorm2d).map(([, bn]) => [bn, bn.numBatchesTracked, bn.tracksBatches] as const)
    : [];
  return () => {
    for (const [m, on] of modes) m.training = on;
    for (const [p, on] of grads) p.requiresGrad = on;
    for (const [bn, n, tracks] of counters) {
      bn.numBatchesTracked = n;
      bn.tracksBatches = tracks;
    }
  };
}

export function checkPositiveInt(method: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${method}: ${name} must be a positive integer, got ${v}`);
}

export function checkNonNegative(method: string, name: string, v: number): void {
  if (!(Number.isFinite(v) && v >= 0)) throw new Error(`${method}: ${name} must be a finite non-negative number, got ${v}`);
}

export function checkSeed(method: string, seed: number): void {
  if (!Number.isInteger(seed)) throw new Error(`${method}: seed must be an integer, got ${seed}`);
}

// ---- fine-tuning ---------------------------------------------------------------

export function validateFineTuneOptions(o: FineTuneOptions): void {
  const ft = 'fine-tuning';
  checkPositiveInt(ft, 'steps', o.steps);
  checkPositiveInt(ft, 'batchSize', o.batchSize);
  checkPositiveInt(ft, 'logEvery', o.logEvery);
  checkNonNegative(ft, 'lr', o.lr);
  checkNonNegative(ft, 'weightDecay', o.weightDecay);
  if (!(o.momentum >= 0 && o.momentum < 1)) throw new Error(`${ft}: momentum must be in [0, 1), got ${o.momentum}`);
  if (!Number.isInteger(o.cropPadding) || o.cropPadding < 0) throw new Error(`${ft}: cropPadding must be a non-negative integer, got ${o.cropPadding}`);
  if (typeof o.flip !== 'boolean') throw new Error(`${ft}: flip must be true or false, got ${String(o.flip)}`);
  checkSeed(ft, o.seed);
}

export function resolveFineTuneOptions(partial: Partial<FineTuneOptions>, ctx: Pick<DefenseContext, 'clean' | 'seed'>): FineTuneOptions {
  const steps = partial.steps ?? FINE_TUNE_DEFAULTS.steps;
  const o: FineTuneOptions = {
    steps,
    batchSize: partial.batchSize ?? FINE_TUNE_DEFAULTS.batchSize,
    lr: partial.lr ?? FINE_TUNE_DEFAULTS.lr,
    momentum: partial.momentum ?? FINE_TUNE_DEFAULTS.momentum,
    weightDecay: partial.weightDecay ?? FINE_TUNE_DEFAULTS.weightDecay,
    cropPadding: partial.cropPadding ?? FINE_TUNE_DEFAULTS.cropPadding,
    flip: partial.flip ?? ctx.clean.c === 3,
    logEvery: partial.logEvery ?? defaultLogEvery(Number.isInteger(steps) && steps > 0 ? steps : 1, 10),
    seed: partial.seed ?? ctx.seed,
  };
  validateFineTuneOptions(o);
  return o;
}

/** Fine-tunes `model` in place; returns the per-interval loss and accuracy. */
export async function runFineTune(
  model: Module,
  backend: Backend,
  set: CleanSet,
  o: FineTuneOptions,
  hooks: { log?: (line: string) => void; progress?: (p: DefenseProgress) => void; shouldStop?: () => boolean } = {},
): Promise<FineTuneInterval[]> {
  validateFineTuneOptions(o);
  const restoreFlags = saveModelFlags(model, { counters: false });
  const augment = baselineAugment(o.cropPadding, o.flip);
  const rng = new Rng(o.seed);
  model.train();
  model.setRequiresGrad(true);
  const sgd = new SGD(model.parameters(), { lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay });
  const history: FineTuneInterval[] = [];
  // [loss sum, correct count] over the current log interval, kept on the device between reads.
  let sums = keep(ops.zeros(backend, [2]));
  let since = 0;
  const t0 = performance.now();
  try {
    for (let step = 1; step <= o.steps; step++) {
      if (hooks.shouldStop?.()) throw new Error('fine-tuning stopped');
      const next = tidy(() => {
        const { x, y } = drawAugmentedBatch(backend, set, o.batchSize, rng, augment);
        sgd.zeroGrad();
        const logits = model.forward(x);
        const loss = ops.crossEntropy(logits, y);
        backward(loss);
        sgd.step();
        return noGrad(() => ops.add(sums, ops.concat([ops.reshape(loss, [1]), countCorrect(logits, y)], 0)));
      });
      sums.dispose();
      sums = keep(next);
      since++;
      backend.flush();
      if (step % o.logEvery === 0 || step === o.steps) {
        const [lossSum, correct] = Array.from(await sums.data()) as [number, number];
        const entry = { step, loss: lossSum / since, accuracy: correct / (since * o.batchSize) };
        if (!Number.isFinite(entry.loss)) throw new Error(`fine-tuning diverged at step ${step}: the loss is ${entry.loss}. Try a smaller lr or check the model and clean images for NaN.`);
        history.push(entry);
        reportProgress(hooks, progressAt(step, o.steps, t0, 'step',
          `FT step ${String(step).padStart(String(o.steps).length)}/${o.steps}  loss ${entry.loss.toFixed(4)}  acc ${entry.accuracy.toFixed(4)}  ${((performance.now() - t0) / 1000).toFixed(1)} s`));
        sums.dispose();
        sums = keep(ops.zeros(backend, [2]));
        since = 0;
      }
    }
  } finally {
    sums.dispose();
    sgd.dispose();
    model.zeroGrad();
    restoreFlags();
  }
  return history;
}

export const fineTuneDefense: Defense<FineTuneOptions> = {
  method: 'ft',
  resolveOptions: (partial, ctx) => resolveFineTuneOptions(partial, ctx),
  async run(ctx: DefenseContext, o: FineTuneOptions): Promise<DefenseOutcome> {
    const t0 = performance.now();
    validateCleanSet(ctx.clean, { c: ctx.model.spec.inChannels, numClasses: ctx.model.spec.numClasses });
    ctx.log(`FT: ${ctx.clean.n} clean images, ${o.steps} steps at batch ${o.batchSize}, SGD lr ${o.lr} momentum ${o.momentum} weight decay ${o.weightDecay}, ` +
      `crop padding ${o.cropPadding}${o.flip ? ' + flips' : ''}`);
    const history = await runFineTune(ctx.model, ctx.backend, ctx.clean, o, { log: ctx.log, progress: ctx.progress, shouldStop: ctx.shouldStop });
    const settings: Record<string, number | string | boolean> = { ...o };
    const last = history[history.length - 1]!;
    return {
      method: 'ft',
      seconds: (performance.now() - t0) / 1000,
      settings,
      details: { history, finalLoss: last.loss, finalAccuracy: last.accuracy, cleanImages: ctx.clean.n },
    };
  },
};
