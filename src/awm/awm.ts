/**
 * Adversarial Weight Masking (Chai & Chen, NeurIPS 2022), as the official code behaves (docs/algorithms.md,
 * "AWM, the faithful algorithm"): a soft mask on every conv weight, weights frozen, BatchNorm in eval mode; each round
 * recovers a fresh universal trigger by gradient ascent, rescales it into the L1 ball of radius tau,
 * then takes Adam steps on the masks. The result folds the masks into the weights.
 *
 * Differences from the official code, all deliberate: T is never 0 when the clean set is smaller
 * than a batch, and every random choice (batch sampling) is seeded.
 */
import type { Backend } from '../tensor/backend.js';
import type { Tensor } from '../tensor/tensor.js';
import { keep, tidy } from '../tensor/scope.js';
import { backward, noGrad, requireGrad } from '../autograd/engine.js';
import * as ops from '../ops/index.js';
import { Adam, LayerAdam, type Optimizer } from '../optim/index.js';
import type { Module } from '../nn/module.js';
import { attachMasks, readMasks } from '../nn/masks.js';
import { Rng } from '../data/rng.js';
import type { CleanSet } from './clean-set.js';
import { stepsPerPhase, validateAwmOptions, type AwmOptions } from './options.js';
import { targetedTriggerSearch, validateTargetedSearch, type TargetedSearchOptions } from './targeted-search.js';
import { blendPatternStep, clampMasks, denseTriggerStep, maskLoss, rescaleTrigger, sparsifyTriggers, triggerStep } from './steps.js';
import { classTriggerStep, otherClasses, pickTriggers, rescaleEach } from './class-triggers.js';

export interface AwmRoundStats {
  round: number;
  rounds: number;
  /** Mean over the round's mask steps. */
  loss: number;
  cleanLoss: number;
  triggeredLoss: number;
  maskL1: number;
  /** Trigger-phase objective (-CE) at its last step. */
  triggerLoss: number;
  /** L1 norm of the recovered trigger before and after rescaling. */
  triggerL1: number;
  triggerL1Rescaled: number;
  meanMask: number;
  seconds: number;
  /** The rescaled trigger (1, C, H, W) for pictures and reports. */
  trigger: Float32Array;
  /** With blendAscentSteps: the blend-pattern search's objective (-CE) at its last step. */
  blendPatternLoss?: number;
  /** With a targeted trigger (AWM+ --suspect-target): its search's last cross-entropy towards the class (low: the class is easy to reach). */
  targetedLoss?: number;
  /** With per-class triggers: the class whose trigger is pictured (the one that grew most). */
  triggerClass?: number;
  /** With a dense trigger: its search's objective (-CE) at its last step. */
  denseTriggerLoss?: number;
}

export interface AwmResult {
  rounds: AwmRoundStats[];
  /** Final masks per conv layer (state-dict module name), before folding. */
  masks: Map<string, Float32Array>;
  stepsPerPhase: number;
  seconds: number;
  /** Floating-point operations issued to conv2d and matmul during the run (ops/work.ts). */
  flops: number;
}

/** Extensions used by AWM+ (the faithful AWM leaves them unset). */
export interface AwmVariant {
  /** Soft targets [n, C] per clean image (a teacher's probabilities) replacing the hard labels. */
  softTargets?: Float32Array;
  /** Keep refining one trigger across rounds instead of re-creating it each round. */
  keepTrigger?: boolean;
  /** Recover one targeted trigger per class instead of one universal trigger (class-triggers.ts). */
  classTriggers?: boolean;
  /**
   * Keep every round's rescaled trigger(s) in a bank, and pair each triggered image of the mask phase
   * with a random trigger from it, so the triggers of early rounds (recovered while the backdoor was
   * still intact) keep being unlearned in later ones.
   */
  triggerBank?: boolean;
  /**
   * Adam's epsilon for the masks (default 1e-8, the official code's). A larger one turns Adam's
   * per-element normalisation off for elements whose gradients are small, so masks the loss barely
   * touches stop drifting by a full learning rate per step.
   */
  maskEps?: number;
  /**
   * Diagnostic upper bound: every image of the set with the real trigger applied (same order and
   * size as the set). The mask phase then unlearns the real trigger instead of the recovered one.
   */
  knownTriggered?: Float32Array;
  /**
   * Triggers found before the run (AWM+'s --suspect-trigger: the suspect search's, each sending nearly every check image
   * into one class), K x C*H*W values. Every other triggered row of each mask step (the odd ones) unlearns a random one
   * of them instead of the round's recovered trigger. Why: a round's ascent from zero can miss a patch that searches from
   * random starts find, and then no round's masks remove it (docs/defenses.md, "Unlearning the suspect's trigger").
   */
  fixedTriggers?: Float32Array;
  /**
   * A trigger searched towards one class (AWM+'s --suspect-target: the suspect search's class) inside a small L1 budget,
   * once per round against the masked model after its own ascent, warm-started from the last round's
   * (targeted-search.ts). Every other triggered row unlearns it; with fixedTriggers as well, it and they take turns.
   * Why: on the page's small CNN every untargeted search flipped 100 % of the images yet missed the patch (docs/defenses.md).
   */
  targetedTrigger?: TargetedSearchOptions;
  /** Clip and sparsify the recovered trigger(s) into the L1 budget instead of rescaling (steps.ts sparsifyTriggers). */
  sparseTrigger?: boolean;
  /**
   * Blend weight a (0 < a < 1) of random-noise candidates: the second half of every mask-phase batch
   * gets x -> (1 - a) x + a u, with u uniform noise drawn fresh for each image and step, in place of
   * the recovered trigger. Gradient ascent under an L1 budget finds sparse, patch-like triggers; a
   * dense noise blend is one it never finds, yet a Blend backdoor fires on any such blend (docs/defenses.md, "Noise blends").
   */
  noiseBlend?: number;
  /**
   * The fraction of each mask-phase batch's triggered rows that get a noise blend instead of the
   * recovered trigger (default 0.5). Patch backdoors need the trigger rows; a Blend backdoor needs the noise.
   */
  noiseShare?: number;
  /** With this, each noise blend's weight is drawn uniformly from [noiseBlend, noiseBlendMax] per image and step. */
  noiseBlendMax?: number;
  /**
   * Signed ascent steps on a universal blend pattern per round (steps.ts blendPatternStep), started from
   * uniform noise; the first half of the noise-blend rows of every mask step then blend that pattern
   * instead of fresh noise (needs noiseBlend). Random blends unlearn what any noise fires; the searched
   * pattern goes after what is left of a dense backdoor. 0 or absent: off.
   */
  blendAscentSteps?: number;
  /** The signed step on the pattern (pixels in [0, 1]); default 0.1. */
  blendAscentLr?: number;
  /**
   * The masks' optimiser: 'adam' (the official code's, default) or 'layer-adam' (one second moment per
   * mask tensor, optim LayerAdam), which moves the masks the loss pulls hardest on instead of every mask by about lr.
   */
  maskOptimizer?: MaskOptimizer;
  /**
   * A second, dense trigger each round (the default method's, dual.ts): a universal perturbation in the L-infinity ball
   * of radius eps, searched by signed ascent (steps.ts denseTriggerStep) from a seeded random start for as many steps
   * as the other phases, against the masks as they are. Every mask step's triggered rows are split: the first half
   * (rounded up) carry the L1 trigger, the rest this one. Why: an L1 budget spreads a dense trigger too thinly to fire
   * it, and an L-infinity ball cannot hold a bright patch; each covers what the other misses.
   */
  denseTrigger?: DenseTriggerOptions;
}

export interface DenseTriggerOptions {
  /** The per-pixel bound, pixels in [0, 1]. */
  eps: number;
  /** The signed step. */
  lr: number;
}

export type MaskOptimizer = 'adam' | 'layer-adam';
export const MASK_OPTIMIZERS: readonly MaskOptimizer[] = ['adam', 'layer-adam'];

/** One mask step as onMaskStep sees it: the step's loss terms before its update. */
export interface AwmMaskStepInfo {
  /** 1-based, as AwmRoundStats.round. */
  round: number;
  /** 1-based within the round's mask phase. */
  step: number;
  stepsPerPhase: number;
  loss: number;
  cleanLoss: number;
  triggeredLoss: number;
  maskL1: number;
  /** With `maskGradNorms`: the L2 norm of each conv layer's mask gradient, in state-dict order. */
  gradNorms?: Array<{ layer: string; norm: number }>;
}

export interface AwmHooks {
  onRound?: (stats: AwmRoundStats) => void | Promise<void>;
  /**
   * Called after every `maskStepEvery`-th mask step and the last one of each round (gradient-flow
   * views). Each call reads values back from the device, which waits for the GPU, so it is opt-in.
   */
  onMaskStep?: (info: AwmMaskStepInfo) => void | Promise<void>;
  /** Default 1: every mask step. */
  maskStepEvery?: number;
  /** Also hand onMaskStep the per-layer L2 norms of the mask gradients. */
  maskGradNorms?: boolean;
  /** Abort between steps (the browser's stop button). */
  shouldStop?: () => boolean;
}

function randomRows(count: number, rows: number, rng: Rng): Int32Array {
  return Int32Array.from({ length: count }, () => rng.int(rows));
}

/**
 * Row k's index into [recovered, ...fixed] (or [recovered, targeted, ...fixed] with `targeted`): 0 (the recovered
 * trigger) for even k; for odd k a random fixed trigger, or with `targeted` the targeted one at k = 1 mod 4 (and at
 * every odd k when there are no fixed ones) and a random fixed one at k = 3 mod 4.
 */
export function alternateFixedRows(rows: number, fixedCount: number, rng: Rng, targeted = false): Int32Array {
  if (!targeted) return Int32Array.from({ length: rows }, (_, k) => (k % 2 === 0 ? 0 : 1 + rng.int(fixedCount)));
  return Int32Array.from({ length: rows }, (_, k) => (k % 2 === 0 ? 0 : k % 4 === 1 || fixedCount === 0 ? 1 : 2 + rng.int(fixedCount)));
}

/** The real trigger's change to each drawn image (knownTriggered - images), [B, C, H, W]. */
function knownShift(backend: Backend, set: CleanSet, triggered: Float32Array, indices: Int32Array): Tensor {
  const per = set.c * set.h * set.w;
  const out = new Float32Array(indices.length * per);
  indices.forEach((i, k) => {
    for (let j = 0; j < per; j++) out[k * per + j] = triggered[i * per + j]! - set.images[i * per + j]!;
  });
  return ops.tensor(backend, out, [indices.length, set.c, set.h, set.w]);
}

/** The change a noise blend makes to each drawn image, a (u - x), [B, C, H, W]; u uniform from `rng`. */
/** A blend weight: fixed, or [lo, hi] drawn uniformly per image (a fixed weight draws nothing, so its noise stays as it was). */
export type BlendWeight = number | readonly [number, number];

/** A searched blend pattern (C*H*W values in [0, 1]) and how many leading noise rows blend it instead of fresh noise. */
export interface BlendPatternRows {
  values: Float32Array;
  rows: number;
}

function noiseBlendShift(backend: Backend, set: CleanSet, indices: Int32Array, weight: BlendWeight, rng: Rng, pattern?: BlendPatternRows): Tensor {
  const per = set.c * set.h * set.w;
  const out = new Float32Array(indices.length * per);
  indices.forEach((i, k) => {
    const a = typeof weight === 'number' ? weight : weight[0] + (weight[1] - weight[0]) * rng.uniform();
    const p = pattern && k < pattern.rows ? pattern.values : null;
    for (let j = 0; j < per; j++) out[k * per + j] = a * ((p ? p[j]! : rng.uniform()) - set.images[i * per + j]!);
  });
  return ops.tensor(backend, out, [indices.length, set.c, set.h, set.w]);
}

/**
 * Rows [0, head) of the trigger shift (one shared row or one per image), then the noise-blend shifts of
 * the rest: floor(share * rows) of them, so share 0.5 leaves the trigger the odd row.
 */
export function withNoiseBlends(backend: Backend, set: CleanSet, shift: Tensor, indices: Int32Array, a: BlendWeight, rng: Rng, share = 0.5, pattern?: Float32Array): Tensor {
  const head = indices.length - Math.floor(indices.length * share);
  if (head === indices.length) return shift;
  const [, c, h, w] = shift.shape as [number, number, number, number];
  // The searched pattern takes the first half (rounded up) of the noise rows; fresh noise the rest.
  const rows = (n: number): BlendPatternRows | undefined => (pattern ? { values: pattern, rows: Math.ceil(n / 2) } : undefined);
  if (head === 0) return noiseBlendShift(backend, set, indices, a, rng, rows(indices.length));
  const triggerRows = shift.shape[0] === 1 ? ops.expand(shift, [head, c, h, w]) : ops.slice(shift, [[0, head], null, null, null]);
  return ops.concat([triggerRows, noiseBlendShift(backend, set, indices.subarray(head), a, rng, rows(indices.length - head))], 0);
}

/** [rows, C, H, W]: the first ceil(rows / 2) rows one trigger (a single row), the rest the other. */
export function splitTriggerRows(first: Tensor, second: Tensor, rows: number): Tensor {
  const [, c, h, w] = first.shape as [number, number, number, number];
  const head = Math.ceil(rows / 2);
  if (head === rows) return ops.expand(first, [rows, c, h, w]);
  return ops.concat([ops.expand(first, [head, c, h, w]), ops.expand(second, [rows - head, c, h, w])], 0);
}

/**
 * Puts the recovered trigger (or each row of a per-class stack) into the L1 ball of radius tau, by
 * rescaling (the official code) or sparsifying (AWM+). Returns the mean L1 norm before, the scale
 * that norm corresponds to, and the row to picture: the one that grew most, the likeliest backdoor.
 */
async function boundTriggers(delta: Tensor, tau: number, sparse: boolean): Promise<{ l1: number; scale: number; shown: number }> {
  if (!sparse && delta.shape[0] === 1) return { ...(await rescaleTrigger(delta, tau)), shown: 0 };
  const l1s = sparse ? await sparsifyTriggers(delta, tau) : await rescaleEach(delta, tau);
  const l1 = l1s.reduce((a, b) => a + b, 0) / l1s.length;
  return { l1, scale: Math.min(1, tau / l1), shown: l1s.indexOf(Math.max(...l1s)) };
}

/** Uploads one batch drawn with replacement from the clean set. */
export function drawBatch(backend: Backend, set: CleanSet, size: number, rng: Rng, soft?: Float32Array): { x: Tensor; y: Tensor; labels: Int32Array; indices: Int32Array } {
  const per = set.c * set.h * set.w;
  const images = new Float32Array(size * per);
  const labels = new Int32Array(size);
  const indices = new Int32Array(size);
  const k0 = set.numClasses;
  const probs = soft ? new Float32Array(size * k0) : null;
  for (let k = 0; k < size; k++) {
    const i = rng.int(set.n);
    indices[k] = i;
    images.set(set.images.subarray(i * per, (i + 1) * per), k * per);
    labels[k] = set.labels[i]!;
    if (probs) probs.set(soft!.subarray(i * k0, (i + 1) * k0), k * k0);
  }
  const x = ops.tensor(backend, images, [size, set.c, set.h, set.w]);
  const y = probs ? ops.tensor(backend, probs, [size, k0]) : ops.tensor(backend, labels, [size], { dtype: 'int32' });
  return { x, y, labels, indices };
}

/**
 * Runs AWM on `model` in place: masks are attached to every conv and left on it (not folded), so
 * the caller can inspect them, fold them (`foldMasks`) or discard them.
 */
export async function runAwm(model: Module, backend: Backend, set: CleanSet, options: AwmOptions, hooks: AwmHooks = {}, variant: AwmVariant = {}): Promise<AwmResult> {
  validateAwmOptions(options);
  if (variant.softTargets && variant.softTargets.length !== set.n * set.numClasses) {
    throw new Error(`AWM: soft targets hold ${variant.softTargets.length} values, expected ${set.n} x ${set.numClasses}`);
  }
  if (variant.knownTriggered && variant.knownTriggered.length !== set.images.length) {
    throw new Error(`AWM: the triggered copies hold ${variant.knownTriggered.length} values, expected ${set.images.length}`);
  }
  if (variant.noiseBlend !== undefined && !(variant.noiseBlend >= 0 && variant.noiseBlend < 1)) throw new Error(`AWM: noiseBlend must be in [0, 1), got ${variant.noiseBlend}`);
  if (variant.noiseBlendMax !== undefined && !(variant.noiseBlend !== undefined && variant.noiseBlendMax >= variant.noiseBlend && variant.noiseBlendMax < 1)) {
    throw new Error(`AWM: noiseBlendMax must be at least noiseBlend (${variant.noiseBlend}) and below 1, got ${variant.noiseBlendMax}`);
  }
  if (variant.noiseShare !== undefined && !(variant.noiseShare >= 0 && variant.noiseShare <= 1)) throw new Error(`AWM: noiseShare must be in [0, 1], got ${variant.noiseShare}`);
  const blendSteps = variant.blendAscentSteps ?? 0;
  if (!(Number.isInteger(blendSteps) && blendSteps >= 0)) throw new Error(`AWM: blendAscentSteps must be a whole number >= 0, got ${blendSteps}`);
  if (blendSteps > 0 && !variant.noiseBlend) throw new Error('AWM: blendAscentSteps needs noiseBlend (the pattern is blended at that weight)');
  const blendLr = variant.blendAscentLr ?? 0.1;
  if (!(blendLr > 0 && Number.isFinite(blendLr))) throw new Error(`AWM: blendAscentLr must be a finite positive number, got ${blendLr}`);
  if (variant.maskOptimizer !== undefined && !MASK_OPTIMIZERS.includes(variant.maskOptimizer)) throw new Error(`AWM: maskOptimizer must be one of ${MASK_OPTIMIZERS.join(', ')}, got ${String(variant.maskOptimizer)}`);
  if (variant.maskEps !== undefined && !(variant.maskEps > 0 && Number.isFinite(variant.maskEps))) throw new Error(`AWM: maskEps must be a finite positive number, got ${variant.maskEps}`);
  const per0 = set.c * set.h * set.w;
  if (variant.denseTrigger !== undefined) {
    const { eps, lr } = variant.denseTrigger;
    if (!(eps > 0 && eps <= 1)) throw new Error(`AWM: the dense trigger's eps must be above 0 and at most 1, got ${eps}`);
    if (!(lr > 0 && Number.isFinite(lr))) throw new Error(`AWM: the dense trigger's lr must be a finite positive number, got ${lr}`);
    const others = ['knownTriggered', 'triggerBank', 'classTriggers', 'fixedTriggers', 'targetedTrigger', 'noiseBlend', 'keepTrigger'] as const;
    const clash = others.find((k) => variant[k] !== undefined && variant[k] !== false && variant[k] !== 0);
    if (clash) throw new Error(`AWM: a dense trigger shares the triggered rows with the one recovered L1 trigger only, not with ${clash}`);
  }
  // Fixed and targeted triggers take turns with the round's one recovered trigger, so they exclude the other trigger sources.
  const oneRecoveredTrigger = (what: string) => {
    if (variant.knownTriggered || variant.triggerBank || variant.classTriggers) throw new Error(`AWM: ${what} with the one recovered trigger, not with knownTriggered, triggerBank or classTriggers`);
  };
  if (variant.fixedTriggers !== undefined) {
    const f = variant.fixedTriggers;
    if (!f.length || f.length % per0 !== 0) throw new Error(`AWM: the fixed triggers hold ${f.length} values, not a whole number (> 0) of ${set.c}x${set.h}x${set.w} images`);
    oneRecoveredTrigger('fixed triggers go');
    if (!f.every(Number.isFinite)) throw new Error('AWM: the fixed triggers hold a value that is not finite');
  }
  if (variant.targetedTrigger !== undefined) {
    validateTargetedSearch(variant.targetedTrigger, set.numClasses);
    oneRecoveredTrigger('a targeted trigger goes');
  }
  const t0 = performance.now();
  const flops0 = ops.gemmWork.flops;
  const T = stepsPerPhase(set.n, options.batchSize, options.inner);
  // As the official sampler: every batch has batchSize images drawn with replacement, even from a smaller set.
  const batch = options.batchSize;
  model.eval();
  model.setRequiresGrad(false);
  const masksByName = attachMasks(model, { value: 1 });
  const masks = [...masksByName.values()];
  const maskNames = [...masksByName.keys()];
  const every = Math.max(1, Math.floor(hooks.maskStepEvery ?? 1));
  const adamOptions = { lr: options.maskLr, betas: [0.9, 0.999] as [number, number], eps: variant.maskEps ?? 1e-8 };
  const adam: Optimizer = variant.maskOptimizer === 'layer-adam' ? new LayerAdam(masks, adamOptions) : new Adam(masks, adamOptions);
  const rng = new Rng(options.seed);
  // Its own stream, so the noise draws leave the batches and triggers of runs without them unchanged.
  const noiseRng = new Rng(options.seed ^ 0x0b1e);
  const patternRng = new Rng(options.seed ^ 0xb1e4d);
  const fixedRng = new Rng(options.seed ^ 0xf1ed);
  const targetedRng = new Rng(options.seed ^ 0x7a26e7);
  const denseRng = new Rng(options.seed ^ 0xde45e);
  let targeted: Float32Array = new Float32Array(per0);
  const perClass = variant.classTriggers === true;
  const k = set.numClasses;
  const rounds: AwmRoundStats[] = [];
  let kept: Tensor | null = null;
  let bank: Tensor | null = null;
  // With a targeted trigger: this round's, disposed at the round's end.
  let targetedRow: Tensor | null = null;
  // With fixed or targeted triggers: this round's [recovered, targeted?, ...fixed], the rows the mask steps pick from.
  let choices: Tensor | null = null;
  // With a dense trigger: this round's, disposed at the round's end.
  let dense: Tensor | null = null;
  const fixed: Tensor | null = variant.fixedTriggers ? keep(ops.tensor(backend, variant.fixedTriggers, [variant.fixedTriggers.length / per0, set.c, set.h, set.w])) : null;
  try {
    for (let round = 0; round < options.outer; round++) {
      const r0 = performance.now();
      // Phase 1: the trigger (or, with classTriggers, one per class). Masks are constants here, so no weight gradients are computed.
      for (const m of masks) m.requiresGrad = false;
      const delta: Tensor = kept ?? keep(ops.zeros(backend, [perClass ? k : 1, set.c, set.h, set.w]));
      requireGrad(delta);
      let triggerLoss = 0;
      for (let step = 0; step < T; step++) {
        if (hooks.shouldStop?.()) throw new Error('AWM stopped');
        const lossT = tidy(() => {
          const { x, labels } = drawBatch(backend, set, batch, rng);
          return perClass ? classTriggerStep(model, delta, x, otherClasses(labels, k, rng), options.triggerLr) : triggerStep(model, delta, x, options.triggerLr);
        });
        backend.flush();
        if (step === T - 1) triggerLoss = await lossT.item();
        lossT.dispose();
      }
      requireGrad(delta, false);
      const { l1: triggerL1, scale, shown } = await boundTriggers(delta, options.tau, variant.sparseTrigger === true);

      // Phase 1b (AWM+ blendAscent): a universal blend pattern searched from fresh noise.
      let pattern: Float32Array | undefined;
      let blendLoss: number | undefined;
      if (blendSteps > 0) {
        const per = set.c * set.h * set.w;
        const start = Float32Array.from({ length: per }, () => patternRng.uniform());
        const p: Tensor = keep(ops.tensor(backend, start, [1, set.c, set.h, set.w]));
        const a = variant.noiseBlendMax !== undefined ? (variant.noiseBlend! + variant.noiseBlendMax) / 2 : variant.noiseBlend!;
        try {
          requireGrad(p);
          for (let step = 0; step < blendSteps; step++) {
            if (hooks.shouldStop?.()) throw new Error('AWM stopped');
            const lossB = tidy(() => blendPatternStep(model, p, drawBatch(backend, set, batch, patternRng).x, a, blendLr));
            backend.flush();
            if (step === blendSteps - 1) blendLoss = await lossB.item();
            lossB.dispose();
          }
          requireGrad(p, false);
          pattern = Float32Array.from(await p.data());
        } finally {
          p.grad?.dispose();
          p.grad = null;
          p.dispose();
        }
      }

      // Phase 1c (AWM+ --suspect-target): the targeted trigger, refined from the last round's against the masks as they are now.
      let targetedLoss: number | undefined;
      if (variant.targetedTrigger) {
        const found = await targetedTriggerSearch(model, backend, set, targeted, variant.targetedTrigger, targetedRng);
        targeted = found.trigger;
        targetedLoss = found.loss;
        targetedRow = keep(ops.tensor(backend, targeted, [1, set.c, set.h, set.w]));
      }

      // Phase 1d (the default method): the dense trigger, searched afresh against the masks as they are now.
      let denseLoss: number | undefined;
      if (variant.denseTrigger) {
        const { eps, lr } = variant.denseTrigger;
        const start = Float32Array.from({ length: per0 }, () => (2 * denseRng.uniform() - 1) * eps);
        dense = keep(ops.tensor(backend, start, [1, set.c, set.h, set.w]));
        requireGrad(dense);
        for (let step = 0; step < T; step++) {
          if (hooks.shouldStop?.()) throw new Error('AWM stopped');
          const lossD = tidy(() => denseTriggerStep(model, dense!, drawBatch(backend, set, batch, denseRng).x, eps, lr));
          backend.flush();
          if (step === T - 1) denseLoss = await lossD.item();
          lossD.dispose();
        }
        requireGrad(dense, false);
      }

      if (variant.triggerBank) {
        const grown: Tensor = keep(noGrad(() => (bank ? ops.concat([bank, delta], 0) : ops.mul(delta, 1))));
        bank?.dispose();
        bank = grown;
      }

      // Phase 2: the masks. With fixed or targeted triggers, each step's rows come from the recovered trigger (row 0) and these.
      const others = [targetedRow, fixed].filter((t): t is Tensor => t !== null);
      choices = others.length ? keep(noGrad(() => ops.concat([delta, ...others], 0))) : null;
      for (const m of masks) m.requiresGrad = true;
      let sums = keep(ops.zeros(backend, [4]));
      for (let step = 0; step < T; step++) {
        if (hooks.shouldStop?.()) throw new Error('AWM stopped');
        const probing = hooks.onMaskStep !== undefined && ((step + 1) % every === 0 || step === T - 1);
        const { next, probe } = tidy(() => {
          const { x, y, labels, indices } = drawBatch(backend, set, batch, rng, variant.softTargets);
          adam.zeroGrad();
          const recovered = variant.knownTriggered ? knownShift(backend, set, variant.knownTriggered, indices)
            : bank ? noGrad(() => pickTriggers(bank!, randomRows(batch, bank!.shape[0]!, rng)))
            : perClass ? noGrad(() => pickTriggers(delta, otherClasses(labels, k, rng)))
            : choices ? noGrad(() => pickTriggers(choices!, alternateFixedRows(batch, fixed ? fixed.shape[0]! : 0, fixedRng, variant.targetedTrigger !== undefined))) : delta;
          const shift = variant.noiseBlend ? noGrad(() => withNoiseBlends(backend, set, recovered, indices, variant.noiseBlendMax !== undefined ? [variant.noiseBlend!, variant.noiseBlendMax] : variant.noiseBlend!, noiseRng, variant.noiseShare, pattern))
            : dense ? noGrad(() => splitTriggerRows(recovered, dense!, batch)) : recovered;
          const parts = maskLoss(model, masks, x, y, shift, options.alpha, options.gamma);
          backward(parts.total);
          const terms = noGrad(() => ops.concat([parts.total, parts.clean, parts.triggered, parts.l1].map((t) => ops.reshape(t, [1])), 0));
          // Read before the update, while .grad still belongs to this step's loss.
          const probe = probing ? noGrad(() => ops.concat([terms, ...(hooks.maskGradNorms ? masks.map((m) => ops.reshape(ops.normL2(m.grad!), [1])) : [])], 0)) : null;
          adam.step();
          clampMasks(masks);
          return { next: noGrad(() => ops.add(sums, terms)), probe };
        });
        sums.dispose();
        sums = keep(next);
        backend.flush();
        if (probe) {
          const v = await keep(probe).data();
          probe.dispose();
          await hooks.onMaskStep!({
            round: round + 1, step: step + 1, stepsPerPhase: T, loss: v[0]!, cleanLoss: v[1]!, triggeredLoss: v[2]!, maskL1: v[3]!,
            ...(hooks.maskGradNorms ? { gradNorms: maskNames.map((layer, i) => ({ layer, norm: v[4 + i]! })) } : {}),
          });
        }
      }
      adam.lr *= options.lrDecay;
      const [loss, cleanLoss, triggeredLoss, maskL1] = Array.from(await sums.data()).map((v) => v / T) as [number, number, number, number];
      sums.dispose();
      if (!Number.isFinite(loss)) throw new Error(`AWM diverged in round ${round + 1}: the mask loss is ${loss}. Try a smaller --mask-lr or check the model and clean images for NaN.`);
      const total = masks.reduce((s, m) => s + m.size, 0);
      const per = set.c * set.h * set.w;
      const trigger = Float32Array.from((await delta.data()).subarray(shown * per, (shown + 1) * per));
      if (variant.keepTrigger) kept = delta;
      else delta.dispose();
      targetedRow?.dispose();
      targetedRow = null;
      choices?.dispose();
      choices = null;
      dense?.dispose();
      dense = null;
      const stats: AwmRoundStats = {
        round: round + 1, rounds: options.outer, loss, cleanLoss, triggeredLoss, maskL1: maskL1!,
        triggerLoss, triggerL1, triggerL1Rescaled: triggerL1 * scale, meanMask: maskL1! / total,
        seconds: (performance.now() - r0) / 1000, trigger, ...(perClass ? { triggerClass: shown } : {}),
        ...(blendLoss !== undefined ? { blendPatternLoss: blendLoss } : {}),
        ...(targetedLoss !== undefined ? { targetedLoss } : {}),
        ...(denseLoss !== undefined ? { denseTriggerLoss: denseLoss } : {}),
      };
      rounds.push(stats);
      await hooks.onRound?.(stats);
    }
  } finally {
    kept?.dispose();
    bank?.dispose();
    targetedRow?.dispose();
    choices?.dispose();
    dense?.dispose();
    fixed?.dispose();
    adam.dispose();
    for (const m of masks) {
      m.grad?.dispose();
      m.grad = null;
      m.requiresGrad = false;
    }
  }
  return { rounds, masks: await readMasks(model), stepsPerPhase: T, seconds: (performance.now() - t0) / 1000, flops: ops.gemmWork.flops - flops0 };
}
