/**
 * Adversarial Neuron Pruning (Wu & Wang, NeurIPS 2021), as the official code (csdongxian/ANP_backdoor)
 * behaves; see docs/algorithms.md, "ANP". Every BatchNorm channel gets a mask (init 1) and noises
 * on its weight and bias. The model runs in train mode (batch statistics) on augmented clean
 * batches; each iteration draws the noises from U(-eps, eps), takes one ascent step
 * noise <- noise + eps * sign(d CE(perturbed) / d noise) (no projection), then one SGD step (with
 * momentum) on the masks for alpha * CE(clean) + (1 - alpha) * CE(perturbed), clamping them to [0, 1].
 *
 * The optimisation leaves the model as it found it (the train-mode forwards moved the BatchNorm
 * running statistics, so the whole state is snapshotted and reloaded: the official code reloads the
 * checkpoint). Pruning then zeroes the BatchNorm *weight* of the chosen channels, as the official
 * `pruning()` does; the bias is left alone, so a pruned channel still emits its constant bias.
 * Channels are chosen as the official `prune_by_threshold` does, mask <= threshold, or as the
 * official `prune_by_number`, the n lowest masks (ties in layer and channel order).
 *
 * Deliberate differences: batches are drawn with replacement (as AWM's sampler), and every random
 * choice (batches, augmentation, noise) comes from the seed.
 */
import type { Backend } from '../tensor/backend.js';
import type { Tensor } from '../tensor/tensor.js';
import { keep, tidy } from '../tensor/scope.js';
import { backward, noGrad, requireGrad } from '../autograd/engine.js';
import * as ops from '../ops/index.js';
import { Generator } from '../ops/create.js';
import { SGD } from '../optim/index.js';
import type { Module } from '../nn/module.js';
import { BatchNorm2d } from '../nn/batchnorm.js';
import { Rng } from '../data/rng.js';
import { validateCleanSet, type CleanSet } from './clean-set.js';
import { progressAt, reportProgress, type Defense, type DefenseContext, type DefenseOutcome, type DefenseProgress } from './defense.js';
import { clampMasks } from './steps.js';
import {
  baselineAugment, checkNonNegative, checkPositiveInt, checkSeed, defaultLogEvery, drawAugmentedBatch, saveModelFlags,
} from './finetune.js';

export type PruneBy = 'threshold' | 'number';

export interface AnpOptions {
  iterations: number;
  batchSize: number;
  /** Bound of the multiplicative noise on BatchNorm weight and bias (0 turns the perturbation off, as in the official code). */
  eps: number;
  /** Weight of the clean loss; 1 - alpha weighs the loss under perturbation. */
  alpha: number;
  maskLr: number;
  momentum: number;
  /** 'threshold': prune channels whose mask is <= pruneValue; 'number': prune the pruneValue lowest-mask channels. */
  pruneBy: PruneBy;
  pruneValue: number;
  cropPadding: number;
  flip: boolean;
  /** Read the device-side loss sums and log once per this many iterations. */
  logEvery: number;
  seed: number;
}

export const ANP_DEFAULTS = {
  iterations: 2000,
  batchSize: 128,
  eps: 0.4,
  alpha: 0.2,
  maskLr: 0.2,
  momentum: 0.9,
  pruneBy: 'threshold',
  threshold: 0.2,
  cropPadding: 4,
} as const;

const ANP = 'ANP';

export interface AnpInterval {
  iteration: number;
  loss: number;
  cleanLoss: number;
  perturbedLoss: number;
}

export interface PrunedChannel {
  layer: string;
  channel: number;
  mask: number;
}

/** The BatchNorm layers ANP masks, in module order, under their state-dict names. */
export function batchNormLayers(model: Module): Array<[string, BatchNorm2d]> {
  return model.namedModules().filter((e): e is [string, BatchNorm2d] => e[1] instanceof BatchNorm2d);
}

export function validateAnpOptions(o: AnpOptions): void {
  checkPositiveInt(ANP, 'iterations', o.iterations);
  checkPositiveInt(ANP, 'batchSize', o.batchSize);
  checkPositiveInt(ANP, 'logEvery', o.logEvery);
  checkNonNegative(ANP, 'eps', o.eps);
  checkNonNegative(ANP, 'maskLr', o.maskLr);
  if (!(o.alpha >= 0 && o.alpha <= 1)) throw new Error(`${ANP}: alpha must be in [0, 1], got ${o.alpha}`);
  if (!(o.momentum >= 0 && o.momentum < 1)) throw new Error(`${ANP}: momentum must be in [0, 1), got ${o.momentum}`);
  if (!Number.isInteger(o.cropPadding) || o.cropPadding < 0) throw new Error(`${ANP}: cropPadding must be a non-negative integer, got ${o.cropPadding}`);
  if (typeof o.flip !== 'boolean') throw new Error(`${ANP}: flip must be true or false, got ${String(o.flip)}`);
  checkSeed(ANP, o.seed);
  if (o.pruneBy === 'threshold') {
    if (!(o.pruneValue >= 0 && o.pruneValue <= 1)) throw new Error(`${ANP}: a pruning threshold must be in [0, 1] (masks live there), got ${o.pruneValue}`);
  } else if (o.pruneBy === 'number') {
    if (!Number.isInteger(o.pruneValue) || o.pruneValue < 0) throw new Error(`${ANP}: pruning by number needs a non-negative integer count of channels, got ${o.pruneValue}`);
  } else {
    throw new Error(`${ANP}: pruneBy must be 'threshold' or 'number', got '${String(o.pruneBy)}'`);
  }
}

/** Channel count against the model: a model without BatchNorm has nothing to mask, and a count cannot exceed the channels. */
function validateAgainstModel(o: AnpOptions, model: Module): void {
  const layers = batchNormLayers(model);
  if (layers.length === 0) throw new Error(`${ANP}: the model has no BatchNorm layers, so there are no channels to mask and prune`);
  const total = layers.reduce((s, [, bn]) => s + bn.numFeatures, 0);
  if (o.pruneBy === 'number' && o.pruneValue > total) throw new Error(`${ANP}: asked to prune ${o.pruneValue} channels but the model has only ${total} BatchNorm channels`);
}

export function resolveAnpOptions(partial: Partial<AnpOptions>, ctx: Pick<DefenseContext, 'clean' | 'model' | 'seed'>): AnpOptions {
  const pruneBy = partial.pruneBy ?? ANP_DEFAULTS.pruneBy;
  let pruneValue = partial.pruneValue;
  if (pruneValue === undefined) {
    // A channel count depends on the model and the attack; there is no sensible default to guess.
    if (pruneBy === 'number') throw new Error(`${ANP}: pruning by number needs pruneValue (how many of the lowest-mask channels to prune)`);
    pruneValue = ANP_DEFAULTS.threshold;
  }
  const iterations = partial.iterations ?? ANP_DEFAULTS.iterations;
  const o: AnpOptions = {
    iterations,
    batchSize: partial.batchSize ?? ANP_DEFAULTS.batchSize,
    eps: partial.eps ?? ANP_DEFAULTS.eps,
    alpha: partial.alpha ?? ANP_DEFAULTS.alpha,
    maskLr: partial.maskLr ?? ANP_DEFAULTS.maskLr,
    momentum: partial.momentum ?? ANP_DEFAULTS.momentum,
    pruneBy,
    pruneValue,
    cropPadding: partial.cropPadding ?? ANP_DEFAULTS.cropPadding,
    flip: partial.flip ?? ctx.clean.c === 3,
    logEvery: partial.logEvery ?? defaultLogEvery(Number.isInteger(iterations) && iterations > 0 ? iterations : 1, 20),
    seed: partial.seed ?? ctx.seed,
  };
  validateAnpOptions(o);
  validateAgainstModel(o, ctx.model);
  return o;
}

// ---- the masked and perturbed BatchNorm ------------------------------------------

/** One BatchNorm layer's ANP state. Noises are per-iteration tensors owned by the iteration's scope. */
interface AnpSlot {
  name: string;
  bn: BatchNorm2d;
  mask: Tensor;
  noise: Tensor | null;
  noiseBias: Tensor | null;
}

/** Which forward the overrides build: the clean (weight * mask) or the perturbed one. */
interface AnpSwitch {
  perturbed: boolean;
}

function attachAnp(model: Module, sw: AnpSwitch): AnpSlot[] {
  return batchNormLayers(model).map(([name, bn]) => {
    const slot: AnpSlot = { name, bn, mask: keep(requireGrad(ops.full(bn.weight.backend, [bn.numFeatures], 1))), noise: null, noiseBias: null };
    bn.affineOverride = () => {
      if (!sw.perturbed || !slot.noise || !slot.noiseBias) return { weight: ops.mul(bn.weight, slot.mask), bias: bn.bias };
      return {
        weight: ops.mul(bn.weight, ops.add(slot.mask, slot.noise)),
        bias: ops.mul(bn.bias, ops.affine(slot.noiseBias, 1, 1)),
      };
    };
    return slot;
  });
}

function detachAnp(slots: readonly AnpSlot[]): void {
  for (const s of slots) {
    s.bn.affineOverride = null;
    s.mask.grad?.dispose();
    s.mask.grad = null;
    s.mask.dispose();
    s.noise = null;
    s.noiseBias = null;
  }
}

/**
 * Draws noise and noise_bias from U(-eps, eps) on the device, then takes the official code's single
 * signed ascent step on CE under perturbation. Masks are constants here. Call inside a scope: the
 * noises it leaves on the slots belong to that scope.
 */
function perturbNoises(model: Module, slots: readonly AnpSlot[], sw: AnpSwitch, gen: Generator, x: Tensor, y: Tensor, eps: number): void {
  const draw = (c: number) => requireGrad(ops.affine(gen.uniform([c]), 2 * eps, -eps));
  for (const s of slots) {
    s.mask.requiresGrad = false;
    s.noise = draw(s.bn.numFeatures);
    s.noiseBias = draw(s.bn.numFeatures);
  }
  sw.perturbed = true;
  backward(ops.crossEntropy(model.forward(x), y));
  const ascend = (t: Tensor): Tensor => {
    const g = t.grad;
    t.grad = null;
    // A noise that received no gradient (a layer the loss never reached) stays where it was drawn.
    const next = g ? noGrad(() => ops.add(t, ops.mul(ops.sign(g), eps))) : noGrad(() => ops.mul(t, 1));
    g?.dispose();
    return next;
  };
  for (const s of slots) {
    s.noise = ascend(s.noise!);
    s.noiseBias = ascend(s.noiseBias!);
    s.mask.requiresGrad = true;
  }
}

/** The mask objective on one batch: [total, clean CE, perturbed CE] and the total to differentiate. */
function maskObjective(model: Module, sw: AnpSwitch, x: Tensor, y: Tensor, alpha: number, perturb: boolean): { total: Tensor; parts: Tensor } {
  // BatchNorm uses batch statistics, so the two forwards cannot share one concatenated batch.
  let perturbed: Tensor | null = null;
  if (perturb) {
    sw.perturbed = true;
    perturbed = ops.crossEntropy(model.forward(x), y);
  }
  sw.perturbed = false;
  const clean = ops.crossEntropy(model.forward(x), y);
  const total = perturbed ? ops.add(ops.mul(clean, alpha), ops.mul(perturbed, 1 - alpha)) : ops.mul(clean, alpha);
  const parts = noGrad(() => ops.concat([total, clean, perturbed ?? ops.zeros(x.backend, [])].map((t) => ops.reshape(t, [1])), 0));
  return { total, parts };
}

// ---- pruning ------------------------------------------------------------------

/** Chooses the channels to prune from the final masks (layer order, then channel order, for ties). */
export function selectChannelsToPrune(masks: ReadonlyMap<string, ArrayLike<number>>, pruneBy: PruneBy, value: number): PrunedChannel[] {
  const all: PrunedChannel[] = [];
  for (const [layer, m] of masks) for (let c = 0; c < m.length; c++) all.push({ layer, channel: c, mask: m[c]! });
  if (pruneBy === 'threshold') {
    // Masks are float32: compare with the threshold's float32 value so a mask stored as 0.2f counts as 0.2.
    const t = Math.fround(value);
    return all.filter((e) => e.mask <= t);
  }
  if (pruneBy !== 'number') throw new Error(`${ANP}: pruneBy must be 'threshold' or 'number', got '${String(pruneBy)}'`);
  if (!Number.isInteger(value) || value < 0 || value > all.length) throw new Error(`${ANP}: cannot prune ${value} of ${all.length} channels`);
  // Array.prototype.sort is stable, so equal masks keep layer and channel order (as Python's sorted).
  return [...all].sort((a, b) => a.mask - b.mask).slice(0, value);
}

/** Sets the BatchNorm weight of every chosen channel to exactly 0 (bias untouched, as the official code). */
export function pruneBatchNormChannels(model: Module, channels: readonly PrunedChannel[]): void {
  const layers = new Map(batchNormLayers(model));
  const byLayer = new Map<string, number[]>();
  for (const ch of channels) {
    const bn = layers.get(ch.layer);
    if (!bn) throw new Error(`${ANP}: cannot prune '${ch.layer}': the model has no BatchNorm layer of that name`);
    if (!Number.isInteger(ch.channel) || ch.channel < 0 || ch.channel >= bn.numFeatures) throw new Error(`${ANP}: '${ch.layer}' has ${bn.numFeatures} channels, cannot prune channel ${ch.channel}`);
    byLayer.set(ch.layer, [...(byLayer.get(ch.layer) ?? []), ch.channel]);
  }
  noGrad(() => tidy(() => {
    for (const [layer, idx] of byLayer) {
      const bn = layers.get(layer)!;
      const keepChannel = new Float32Array(bn.numFeatures).fill(1);
      for (const c of idx) keepChannel[c] = 0;
      // where() writes a true +0 (a multiply by 0 would give -0 for negative weights).
      ops.assign(bn.weight, ops.where(ops.tensor(bn.weight.backend, keepChannel, [bn.numFeatures]), bn.weight, 0));
    }
  }));
}

// ---- the run --------------------------------------------------------------------

export interface AnpResult {
  history: AnpInterval[];
  /** Final masks per BatchNorm layer (state-dict module name). */
  masks: Map<string, Float32Array>;
  pruned: PrunedChannel[];
}

/**
 * Optimises the masks on `model`, restores its original state, then prunes it in place. On an
 * error or a stop the model is restored (and left unpruned) before the error propagates.
 */
export async function runAnp(
  model: Module,
  backend: Backend,
  set: CleanSet,
  o: AnpOptions,
  hooks: { log?: (line: string) => void; progress?: (p: DefenseProgress) => void; shouldStop?: () => boolean } = {},
): Promise<AnpResult> {
  validateAnpOptions(o);
  validateAgainstModel(o, model);
  const snapshot = await model.stateDict();
  const restoreFlags = saveModelFlags(model, { counters: true });
  const augment = baselineAugment(o.cropPadding, o.flip);
  const rng = new Rng(o.seed);
  // The noise has a device stream of its own, so batches and noise do not shift each other.
  const gen = new Generator(backend, (o.seed ^ 0x0a4e5eed) >>> 0);
  const sw: AnpSwitch = { perturbed: false };
  model.train();
  model.setRequiresGrad(false);
  const slots = attachAnp(model, sw);
  const sgd = new SGD(slots.map((s) => s.mask), { lr: o.maskLr, momentum: o.momentum });
  const history: AnpInterval[] = [];
  const masks = new Map<string, Float32Array>();
  let sums = keep(ops.zeros(backend, [3]));
  let since = 0;
  const t0 = performance.now();
  try {
    for (let it = 1; it <= o.iterations; it++) {
      if (hooks.shouldStop?.()) throw new Error('ANP stopped');
      const next = tidy(() => {
        const { x, y } = drawAugmentedBatch(backend, set, o.batchSize, rng, augment);
        if (o.eps > 0) perturbNoises(model, slots, sw, gen, x, y, o.eps);
        sgd.zeroGrad();
        const { total, parts } = maskObjective(model, sw, x, y, o.alpha, o.eps > 0);
        backward(total);
        sgd.step();
        clampMasks(slots.map((s) => s.mask));
        for (const s of slots) {
          s.noise = null;
          s.noiseBias = null;
        }
        return noGrad(() => ops.add(sums, parts));
      });
      sums.dispose();
      sums = keep(next);
      since++;
      backend.flush();
      if (it % o.logEvery === 0 || it === o.iterations) {
        const [loss, cleanLoss, perturbedLoss] = Array.from(await sums.data()).map((v) => v / since) as [number, number, number];
        if (!Number.isFinite(loss)) throw new Error(`ANP diverged at iteration ${it}: the mask loss is ${loss}. Try a smaller maskLr or check the model and clean images for NaN.`);
        history.push({ iteration: it, loss, cleanLoss, perturbedLoss });
        reportProgress(hooks, progressAt(it, o.iterations, t0, 'iteration',
          `ANP iteration ${String(it).padStart(String(o.iterations).length)}/${o.iterations}  loss ${loss.toFixed(4)} ` +
          `(clean ${cleanLoss.toFixed(4)}, perturbed ${perturbedLoss.toFixed(4)})  ${((performance.now() - t0) / 1000).toFixed(1)} s`));
        sums.dispose();
        sums = keep(ops.zeros(backend, [3]));
        since = 0;
      }
    }
    for (const s of slots) masks.set(s.name, Float32Array.from(await s.mask.data()));
  } finally {
    sums.dispose();
    sgd.dispose();
    detachAnp(slots);
    model.loadStateDict(snapshot);
    restoreFlags();
  }
  const pruned = selectChannelsToPrune(masks, o.pruneBy, o.pruneValue);
  pruneBatchNormChannels(model, pruned);
  return { history, masks, pruned };
}

/** Per-layer pruning and mask figures for the report. */
export function summarisePruning(masks: ReadonlyMap<string, Float32Array>, pruned: readonly PrunedChannel[]): Record<string, unknown> {
  const stats = (v: ArrayLike<number>) => {
    const a = Array.from(v).sort((p, q) => p - q);
    const mean = a.reduce((s, x) => s + x, 0) / a.length;
    return { mean, min: a[0]!, max: a[a.length - 1]!, median: a.length % 2 ? a[(a.length - 1) / 2]! : (a[a.length / 2 - 1]! + a[a.length / 2]!) / 2 };
  };
  const layers = [...masks].map(([layer, m]) => {
    const idx = pruned.filter((p) => p.layer === layer).map((p) => p.channel).sort((a, b) => a - b);
    return { layer, channels: m.length, pruned: idx.length, prunedChannels: idx, mask: stats(m) };
  });
  const everything = [...masks.values()].flatMap((m) => Array.from(m));
  return {
    layers,
    prunedTotal: pruned.length,
    totalChannels: everything.length,
    maskStats: stats(everything),
  };
}

export const anpDefense: Defense<AnpOptions> = {
  method: 'anp',
  resolveOptions: (partial, ctx) => resolveAnpOptions(partial, ctx),
  async run(ctx: DefenseContext, o: AnpOptions): Promise<DefenseOutcome> {
    const t0 = performance.now();
    validateCleanSet(ctx.clean, { c: ctx.model.spec.inChannels, numClasses: ctx.model.spec.numClasses });
    ctx.log(`ANP: ${ctx.clean.n} clean images, ${o.iterations} iterations at batch ${o.batchSize}, eps ${o.eps}, alpha ${o.alpha}, mask lr ${o.maskLr}; ` +
      `prune ${o.pruneBy === 'threshold' ? `masks <= ${o.pruneValue}` : `the ${o.pruneValue} lowest masks`}`);
    const result = await runAnp(ctx.model, ctx.backend, ctx.clean, o, { log: ctx.log, progress: ctx.progress, shouldStop: ctx.shouldStop });
    const summary = summarisePruning(result.masks, result.pruned);
    ctx.log(`ANP: pruned ${result.pruned.length} of ${summary.totalChannels as number} BatchNorm channels`);
    const settings: Record<string, number | string | boolean> = { ...o };
    return {
      method: 'anp',
      seconds: (performance.now() - t0) / 1000,
      settings,
      details: { ...summary, history: result.history, cleanImages: ctx.clean.n },
      masks: result.masks,
    };
  },
};
