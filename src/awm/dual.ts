/**
 * AWM-dual: adversarial weight masking against two trigger families at once, from a few clean images.
 *
 * Each round recovers two universal triggers against the masked model, both untargeted (the model's own answers
 * are what the ascent pushes away from, so an all-to-all backdoor is covered as well as an all-to-one):
 * - a sparse one, AWM's L1-bounded trigger, clipped and sparsified into its budget so a patch keeps its strength;
 * - a dense one, bounded per pixel (L-infinity, eps), which reaches triggers spread over the whole image (a blend,
 *   SIG's sinusoid) that an L1 budget holds only a fraction of.
 * The mask step then unlearns both, on half the triggered images each, while matching the original model's soft
 * answers on a pool of augmented copies and two-image mixtures of the clean images (distillation: one image per
 * class gives ten hard labels to overfit; the teacher's probabilities on varied copies keep what the model knew).
 * Nothing here depends on the attack: the same settings run on every model.
 */
import type { Defense, DefenseContext, DefenseOutcome } from './defense.js';
import { augmentOneShot, mixupPool, type CleanSet } from './clean-set.js';
import { modelOutputs } from './head-calibration.js';
import { AWM_DEFAULTS, scaleTau, stepsPerPhase, type AwmOptions } from './options.js';
import { runAwm, type AwmVariant } from './awm.js';
import { foldedOutcome, roundLogger } from './awm-defense.js';
import type { Classifier } from '../nn/classifier.js';
import type { Backend } from '../tensor/backend.js';
import * as ops from '../ops/index.js';

export interface AwmDualOptions extends AwmOptions {
  /** tau as given for a 3x32x32 input, before scaling. */
  tau3072: number;
  /** Augmented copies (random resized crops) per clean image in the pool. */
  augmentCopies: number;
  augmentFlip: boolean;
  /** Two-image mixtures added to the pool. */
  mixupCount: number;
  /** The dense trigger's per-pixel bound (pixels in [0, 1]). */
  denseEps: number;
}

export type AwmDualPartial = Partial<AwmDualOptions>;

export const AWM_DUAL_DEFAULTS = {
  outer: 8,
  inner: 1,
  batchSize: 16,
  alpha: 0.3,
  tau3072: 100,
  maskLr: 0.02,
  augmentCopies: 4,
  mixupCount: 200,
  denseEps: 0.1,
} as const;

/** Four signed steps cross the ball from one side to the other. */
const DENSE_STEPS_ACROSS = 4;

export function resolveAwmDualOptions(p: AwmDualPartial, ctx: Pick<DefenseContext, 'clean' | 'seed'>): AwmDualOptions {
  const { c, h, w } = ctx.clean;
  const tau3072 = p.tau3072 ?? AWM_DUAL_DEFAULTS.tau3072;
  const o: AwmDualOptions = {
    outer: p.outer ?? AWM_DUAL_DEFAULTS.outer,
    inner: p.inner ?? AWM_DUAL_DEFAULTS.inner,
    batchSize: p.batchSize ?? AWM_DUAL_DEFAULTS.batchSize,
    alpha: p.alpha ?? AWM_DUAL_DEFAULTS.alpha,
    gamma: p.gamma ?? AWM_DEFAULTS.gamma,
    tau: p.tau ?? scaleTau(tau3072, c, h, w),
    tau3072,
    triggerLr: p.triggerLr ?? AWM_DEFAULTS.triggerLr,
    maskLr: p.maskLr ?? AWM_DUAL_DEFAULTS.maskLr,
    lrDecay: p.lrDecay ?? AWM_DEFAULTS.lrDecay,
    seed: p.seed ?? ctx.seed,
    augmentCopies: p.augmentCopies ?? AWM_DUAL_DEFAULTS.augmentCopies,
    augmentFlip: p.augmentFlip ?? c === 3,
    mixupCount: p.mixupCount ?? AWM_DUAL_DEFAULTS.mixupCount,
    denseEps: p.denseEps ?? AWM_DUAL_DEFAULTS.denseEps,
  };
  if (!(o.denseEps > 0 && o.denseEps <= 1)) throw new Error(`AWM-dual: --dense-eps must be above 0 and at most 1, got ${o.denseEps}`);
  for (const k of ['augmentCopies', 'mixupCount'] as const) {
    if (!(Number.isInteger(o[k]) && o[k] >= 0)) throw new Error(`AWM-dual: ${k} must be a whole number >= 0, got ${o[k]}`);
  }
  return o;
}

/** The pool the masks learn from: the clean images, their augmented copies and mixtures, with the original model's probabilities. */
export async function dualPool(model: Classifier, backend: Backend, clean: CleanSet, o: AwmDualOptions): Promise<{ pool: CleanSet; teacher: Float32Array }> {
  const copies = await augmentOneShot(backend, clean, { copies: o.augmentCopies, flip: o.augmentFlip, seed: o.seed ^ 0x5eed });
  const pool = mixupPool(copies, o.mixupCount, o.seed ^ 0x3a1c);
  const teacher = await modelOutputs(model, backend, pool, ops.softmax);
  return { pool, teacher };
}

/** What runAwm is asked to do: the teacher's probabilities as targets, the L1 trigger sparsified, the dense trigger beside it. */
export function dualVariant(o: AwmDualOptions, teacher: Float32Array): AwmVariant {
  return { softTargets: teacher, sparseTrigger: true, denseTrigger: { eps: o.denseEps, lr: o.denseEps / DENSE_STEPS_ACROSS } };
}

/** The line announcing a run: the pool, both triggers' budgets, rounds and steps. */
export function describeDualRun(cleanImages: number, pool: CleanSet, o: AwmDualOptions): string {
  return `AWM-dual: pool of ${pool.n} images (${cleanImages} + ${o.augmentCopies} copies each + ${o.mixupCount} mixtures) with the original model's probabilities; ` +
    `each round an L1 trigger (tau ${o.tau.toFixed(2)}, sparsified) and a dense one (eps ${o.denseEps}); ${o.outer} rounds x 3 phases x ${stepsPerPhase(pool.n, o.batchSize, o.inner)} steps, batch ${o.batchSize}, alpha ${o.alpha}`;
}

export const awmDualDefense: Defense<AwmDualOptions> = {
  method: 'awm-dual',
  resolveOptions: (partial, ctx) => resolveAwmDualOptions(partial, ctx),
  async run(ctx: DefenseContext, o: AwmDualOptions): Promise<DefenseOutcome> {
    const t0 = performance.now();
    const { pool, teacher } = await dualPool(ctx.model, ctx.backend, ctx.clean, o);
    ctx.log(describeDualRun(ctx.clean.n, pool, o));
    const result = await runAwm(ctx.model, ctx.backend, pool, o, roundLogger(ctx, t0, stepsPerPhase(pool.n, o.batchSize, o.inner)), dualVariant(o, teacher));
    return foldedOutcome(ctx.model, 'awm-dual', t0, o, result, pool.n);
  },
};
