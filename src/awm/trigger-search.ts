/**
 * A universal trigger recovered against a model as it is now, outside the masking loop: the self-check's probe
 * (self-check.ts) and the head calibration's triggered copies (awm-plus.ts) both use it. The search is AWM's
 * phase 1 (ascent on the model's own answers, steps.ts triggerStep), then sparsified into the L1 budget as AWM+
 * does, so a patch-like trigger keeps its few pixels at full strength.
 */
import type { Backend } from '../tensor/backend.js';
import type { Tensor } from '../tensor/tensor.js';
import { keep, tidy } from '../tensor/scope.js';
import { requireGrad } from '../autograd/engine.js';
import * as ops from '../ops/index.js';
import type { Module } from '../nn/module.js';
import type { Rng } from '../data/rng.js';
import type { CleanSet } from './clean-set.js';
import { sparsifyTriggers, triggerStep } from './steps.js';

export interface TriggerSearchOptions {
  /** L1 budget (AWM's tau). */
  tau: number;
  triggerLr: number;
  /** Ascent steps, each on `batchSize` images drawn with replacement from the set. */
  steps: number;
  batchSize: number;
  /**
   * Amplitude of a uniform random start in [-a, a] per pixel, drawn from the search's generator (0: start at zero).
   * Why: from zero the ascent follows the clean images' local gradient, which a patch backdoor gated behind ReLUs may
   * not show at all; a random start often lands where the patch pixels already move the answer.
   */
  startScale?: number;
  /** Blend weight of uniform noise mixed into each batch's images during the ascent (0: none); same reason as startScale. */
  inputNoise?: number;
}

/**
 * The sparsified trigger, one image's worth of values ([C, H, W] flattened). Only the trigger gets gradients: the
 * model's weights and any masks stay constants. Draws its batches from `rng`, so a caller's later draws depend on it.
 */
export async function recoverSparseTrigger(model: Module, backend: Backend, set: CleanSet, o: TriggerSearchOptions, rng: Rng): Promise<Float32Array> {
  model.eval();
  model.setRequiresGrad(false);
  const { c, h, w, n } = set;
  const per = c * h * w;
  const start = new Float32Array(per);
  const a = o.startScale ?? 0;
  if (a > 0) for (let i = 0; i < per; i++) start[i] = a * (2 * rng.uniform() - 1);
  const noise = o.inputNoise ?? 0;
  const delta: Tensor = keep(ops.tensor(backend, start, [1, c, h, w]));
  try {
    requireGrad(delta);
    for (let step = 0; step < o.steps; step++) {
      const loss = tidy(() => {
        const rows = Array.from({ length: o.batchSize }, () => rng.int(n));
        const x = new Float32Array(rows.length * per);
        rows.forEach((r, i) => x.set(set.images.subarray(r * per, (r + 1) * per), i * per));
        if (noise > 0) for (let i = 0; i < x.length; i++) x[i] = (1 - noise) * x[i]! + noise * rng.uniform();
        return triggerStep(model, delta, ops.tensor(backend, x, [rows.length, c, h, w]), o.triggerLr);
      });
      backend.flush();
      loss.dispose();
    }
    requireGrad(delta, false);
    await sparsifyTriggers(delta, o.tau);
    return Float32Array.from(await delta.data());
  } finally {
    delta.grad?.dispose();
    delta.grad = null;
    delta.dispose();
  }
}

/** Every image plus the trigger, clipped to [0, 1] (the images are [n, C, H, W] flattened, the trigger one image). */
export function addTrigger(images: Float32Array, trigger: Float32Array): Float32Array {
  const per = trigger.length;
  if (per === 0 || images.length % per !== 0) throw new Error(`addTrigger: ${images.length} image values are not a whole number of ${per}-value images`);
  const out = new Float32Array(images.length);
  for (let i = 0; i < images.length; i++) out[i] = Math.min(1, Math.max(0, images[i]! + trigger[i % per]!));
  return out;
}
