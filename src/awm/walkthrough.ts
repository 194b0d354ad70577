/**
 * One round of the faithful AWM, step by step, with the numbers a student needs to see how its
 * gradients flow (`awm explain`). It drives the same pieces as runAwm (steps.ts, the same batch
 * sampler, the same Adam) in the same order with the same seed, so its masks after the round equal
 * runAwm's after one round; beside the round it checks, on the very batches the round uses:
 * - the masks enter as w * m: with every mask at 1 the model answers exactly as without masks;
 * - the trigger is universal: d loss / d delta is the sum over the batch of d loss / d x_i;
 * - the chain rule through the mask: d loss / d m = w * d loss / d (w * m) + gamma * sign(m);
 * - autograd against central finite differences on single mask elements (exact in float64).
 * None of these checks draws from the round's random stream, so they leave the round unchanged (they live in
 * gradient-checks.ts).
 */
import type { Backend } from '../tensor/backend.js';
import type { Tensor } from '../tensor/tensor.js';
import { keep, tidy } from '../tensor/scope.js';
import { backward, noGrad, requireGrad } from '../autograd/engine.js';
import * as ops from '../ops/index.js';
import { Adam } from '../optim/index.js';
import type { Module } from '../nn/module.js';
import { attachMasks, convLayers, readMasks } from '../nn/masks.js';
import { Rng } from '../data/rng.js';
import { validateCleanSet, type CleanSet } from './clean-set.js';
import { drawBatch, runAwm } from './awm.js';
import { count, densestWindow, footprintShare, type DensestWindow } from './trigger-footprint.js';
import { checkChainRule, checkFiniteDifferences, checkUniversalGradient, maxAbsDiff, scalar, type FiniteDifference } from './gradient-checks.js';
import { stepsPerPhase, validateAwmOptions, type AwmOptions } from './options.js';
import { clampMasks, maskLoss, rescaleTrigger, triggerStep } from './steps.js';

export interface WalkthroughResult {
  options: AwmOptions;
  stepsPerPhase: number;
  layers: Array<{ name: string; shape: number[] }>;
  maskElements: number;
  /** max |logits with masks at 1 - logits without masks| on the first batch. */
  maskIdentity: number;
  trigger: {
    /** The round's trigger after the rescale, (C, H, W) values, for pictures. */
    values: Float32Array;
    steps: Array<{ step: number; crossEntropy: number; l1: number }>;
    /** max |d loss/d delta - sum_i d loss/d x_i| / max |d loss/d delta| at the first step. */
    universalGradient: number;
    l1Before: number;
    scale: number;
    tau: number;
    /** The k x k window holding the largest share of the rescaled trigger's L1 mass. */
    densest: DensestWindow;
    /** With WalkthroughOptions.footprint: the share of the L1 mass on those pixels, and their share of the image. */
    onFootprint?: { share: number; areaShare: number };
    /** Clean images whose answer the trigger changes, and the class most of them move to. */
    changed: number;
    images: number;
    towardClass: number;
    towardCount: number;
  };
  firstMaskStep: {
    clean: number;
    triggered: number;
    maskL1: number;
    total: number;
    /** max |autograd d loss/d m - (w * d loss/d(w*m) + gamma * sign m)| / max |d loss/d m| over every layer. */
    chainRule: number;
    finiteDifferences: FiniteDifference[];
    /** After Adam's first step and the clamp: entries now below 1, and entries Adam pushed above 1 that the clamp put back. */
    belowOne: number;
    clampedBack: number;
  };
  maskSteps: Array<{ step: number; total: number; clean: number; triggered: number; meanMask: number; belowOne: number }>;
  after: Array<{ name: string; mean: number; min: number; belowOne: number; size: number }>;
  /** Cross-entropy of the clean images on their labels, clean and with the round's trigger, before and after the masks. */
  crossEntropy: { cleanBefore: number; triggeredBefore: number; cleanAfter: number; triggeredAfter: number };
  masks: Map<string, Float32Array>;
}

export interface WalkthroughOptions {
  /** Window size for where the trigger's mass lies (default 3, the size of a typical patch trigger). */
  window?: number;
  /** Step of the central differences (default 1e-6; meant for a float64 backend). */
  epsilon?: number;
  /** The pixels (h x w, nonzero = in) a known trigger covers, to show how much of the recovered trigger lies there. */
  footprint?: Uint8Array;
}

/**
 * Runs one AWM round on `model` (its masks are left attached, as runAwm leaves them) and returns
 * every figure the explanation prints. Meant for the CPU backend in float64, where the finite
 * differences are exact up to their rounding floor (about 1e-10 here; see FD_TOLERANCE).
 */
export async function awmWalkthrough(model: Module, backend: Backend, set: CleanSet, options: AwmOptions, opts: WalkthroughOptions = {}): Promise<WalkthroughResult> {
  validateAwmOptions(options);
  validateCleanSet(set);
  const eps = opts.epsilon ?? 1e-6;
  const win = opts.window ?? 3;
  const T = stepsPerPhase(set.n, options.batchSize, options.inner);
  model.eval();
  model.setRequiresGrad(false);
  const rng = new Rng(options.seed);
  const probe = keep(ops.tensor(backend, set.images, [set.n, set.c, set.h, set.w]));
  const probeLabels = keep(ops.tensor(backend, set.labels, [set.n], { dtype: 'int32' }));
  // The round's trigger and the clean images with it; disposed on the way out, error or not.
  let delta: Tensor | null = null;
  let triggered: Tensor | null = null;
  try {
    const before = await logitsOf(model, probe);
    const masksByName = attachMasks(model, { value: 1 });
    const names = [...masksByName.keys()];
    const masks = [...masksByName.values()];
    const layers = convLayers(model).map(([name, conv]) => ({ name, shape: [...conv.weight.shape] }));
    const maskElements = masks.reduce((s, m) => s + m.size, 0);
    const maskIdentity = maxAbsDiff(await logitsOf(model, probe), before);

    // Phase 1: the trigger, masks constant.
    for (const m of masks) m.requiresGrad = false;
    const trigger = keep(requireGrad(ops.zeros(backend, [1, set.c, set.h, set.w])));
    delta = trigger;
    const steps: WalkthroughResult['trigger']['steps'] = [];
    let universalGradient = 0;
    for (let step = 0; step < T; step++) {
      const { x, y } = drawBatch(backend, set, options.batchSize, rng);
      y.dispose();
      if (step === 0) universalGradient = await checkUniversalGradient(model, trigger, x);
      const loss = triggerStep(model, trigger, x, options.triggerLr);
      // triggerStep returns the minimised objective, -CE; the ascent raises CE.
      steps.push({ step: step + 1, crossEntropy: -(await loss.item()), l1: await scalar(noGrad(() => tidy(() => ops.normL1(trigger)))) });
      loss.dispose();
      x.dispose();
    }
    requireGrad(trigger, false);
    const { l1: l1Before, scale } = await rescaleTrigger(trigger, options.tau);
    const triggerValues = Float32Array.from(await trigger.data());
    const densest = densestWindow(triggerValues, set.c, set.h, set.w, win);
    const onFootprint = opts.footprint ? footprintShare(triggerValues, set.c, set.h, set.w, opts.footprint) : undefined;
    const withTrigger = keep(noGrad(() => tidy(() => ops.clamp(ops.add(probe, trigger), 0, 1))));
    triggered = withTrigger;
    const moved = answerShift(await logitsOf(model, probe), await logitsOf(model, withTrigger), set.numClasses);
    const cleanBefore = await crossEntropyOf(model, probe, probeLabels);
    const triggeredBefore = await crossEntropyOf(model, withTrigger, probeLabels);

    // Phase 2: the masks.
    for (const m of masks) m.requiresGrad = true;
    const adam = new Adam(masks, { lr: options.maskLr, betas: [0.9, 0.999], eps: 1e-8 });
    const maskSteps: WalkthroughResult['maskSteps'] = [];
    let first: WalkthroughResult['firstMaskStep'] | null = null;
    try {
      for (let step = 0; step < T; step++) {
        const { x, y } = drawBatch(backend, set, options.batchSize, rng);
        adam.zeroGrad();
        const terms = tidy(() => {
          const parts = maskLoss(model, masks, x, y, trigger, options.alpha, options.gamma);
          backward(parts.total);
          return noGrad(() => ops.concat([parts.total, parts.clean, parts.triggered, parts.l1].map((t) => ops.reshape(t, [1])), 0));
        });
        const [total, clean, trig, l1] = Array.from(await terms.data()) as [number, number, number, number];
        terms.dispose();
        let checks: Pick<WalkthroughResult['firstMaskStep'], 'chainRule' | 'finiteDifferences'> | null = null;
        if (step === 0) {
          const grads = await Promise.all(masks.map(async (m) => Float64Array.from(await m.grad!.data())));
          const chainRule = await checkChainRule(model, names, masks, grads, x, y, trigger, options);
          const finiteDifferences = await checkFiniteDifferences(model, names, masks, grads, x, y, trigger, options, eps);
          checks = { chainRule, finiteDifferences };
        }
        tidy(() => adam.step());
        // Before the clamp: how many entries Adam pushed above 1 (read only at the first step).
        const above = step === 0 ? await countAbove(masks, 1) : 0;
        clampMasks(masks);
        x.dispose();
        y.dispose();
        const values = await Promise.all(masks.map((m) => m.data()));
        const belowOne = values.reduce((s, v) => s + count(v, (a) => a < 1), 0);
        const sum = values.reduce((s, v) => s + sumOf(v), 0);
        maskSteps.push({ step: step + 1, total, clean, triggered: trig, meanMask: sum / maskElements, belowOne });
        if (checks) {
          first = { clean, triggered: trig, maskL1: l1, total, ...checks, belowOne, clampedBack: above };
        }
      }
    } finally {
      adam.dispose();
      for (const m of masks) {
        m.grad?.dispose();
        m.grad = null;
        m.requiresGrad = false;
      }
    }
    const maskValues = await readMasks(model);
    const after = names.map((name) => {
      const v = maskValues.get(name)!;
      let min = Infinity;
      let s = 0;
      for (const a of v) { s += a; if (a < min) min = a; }
      return { name, mean: s / v.length, min, belowOne: count(v, (a) => a < 1), size: v.length };
    });
    const crossEntropy = {
      cleanBefore, triggeredBefore,
      cleanAfter: await crossEntropyOf(model, probe, probeLabels),
      triggeredAfter: await crossEntropyOf(model, withTrigger, probeLabels),
    };
    return {
      options, stepsPerPhase: T, layers, maskElements, maskIdentity,
      trigger: { values: triggerValues, steps, universalGradient, l1Before, scale, tau: options.tau, densest, ...(onFootprint ? { onFootprint } : {}), ...moved, images: set.n },
      firstMaskStep: first!, maskSteps, after, crossEntropy, masks: maskValues,
    };
  } finally {
    triggered?.dispose();
    delta?.dispose();
    probe.dispose();
    probeLabels.dispose();
  }
}

async function logitsOf(model: Module, x: Tensor): Promise<Float64Array> {
  const out = noGrad(() => tidy(() => model.forward(x)));
  const v = Float64Array.from(await out.data());
  out.dispose();
  return v;
}

async function crossEntropyOf(model: Module, x: Tensor, y: Tensor): Promise<number> {
  return scalar(noGrad(() => tidy(() => ops.crossEntropy(model.forward(x), y))));
}

function sumOf(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]!;
  return s;
}

async function countAbove(masks: readonly Tensor[], limit: number): Promise<number> {
  let n = 0;
  for (const m of masks) n += count(await m.data(), (a) => a > limit);
  return n;
}

/** How many images change their answer between two sets of logits, and the class most of them move to. */
function answerShift(before: Float64Array, after: Float64Array, k: number): { changed: number; towardClass: number; towardCount: number } {
  const n = before.length / k;
  const toward = new Int32Array(k);
  let changed = 0;
  for (let i = 0; i < n; i++) {
    const a = argmaxRow(before, i, k);
    const b = argmaxRow(after, i, k);
    if (a !== b) { changed++; toward[b]!++; }
  }
  let towardClass = 0;
  for (let c = 1; c < k; c++) if (toward[c]! > toward[towardClass]!) towardClass = c;
  return { changed, towardClass, towardCount: toward[towardClass]! };
}

function argmaxRow(v: Float64Array, row: number, k: number): number {
  let best = 0;
  for (let c = 1; c < k; c++) if (v[row * k + c]! > v[row * k + best]!) best = c;
  return best;
}

export interface ExplainedRound {
  result: WalkthroughResult;
  /** max |walkthrough's masks - runAwm's after one round with the same seed|: 0 when the walkthrough is the algorithm. */
  runnerDifference: number;
}

/**
 * The walkthrough on one copy of the model, then runAwm for one round with the same options on a
 * second copy; both copies are disposed. `open` makes a fresh copy each call.
 */
export async function explainAwmRound(open: () => Module | Promise<Module>, backend: Backend, set: CleanSet, options: AwmOptions, opts: WalkthroughOptions = {}): Promise<ExplainedRound> {
  const first = await open();
  let result: WalkthroughResult;
  try {
    result = await awmWalkthrough(first, backend, set, options, opts);
  } finally {
    first.dispose();
  }
  const second = await open();
  try {
    const run = await runAwm(second, backend, set, { ...options, outer: 1 });
    let worst = 0;
    for (const [name, m] of run.masks) {
      const ours = result.masks.get(name);
      if (!ours) throw new Error(`the walkthrough has no mask for ${name}`);
      worst = Math.max(worst, maxAbsDiff(m, ours));
    }
    return { result, runnerDifference: worst };
  } finally {
    second.dispose();
  }
}
