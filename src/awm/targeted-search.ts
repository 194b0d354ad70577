/**
 * A trigger searched TOWARDS one class, kept inside a small L1 budget at every step: AWM+'s --suspect-target.
 *
 * The untargeted searches (trigger-search.ts) ascend freely and are sparsified once, at the end. On the page's small
 * CNN they sent every check image to the backdoor's target yet held only a third of their L1 in the 3x3 patch, and
 * unlearning them left the patch firing (docs/defenses.md, "The demo's model and the page's model"). Projected descent on the target's
 * cross-entropy, into a budget about the size of a patch, ends on the pixels that move the model most per unit of L1: on
 * that model 67-89 % of the L1 sat in the patch at a budget of half its pixels. Run once per round against the masked
 * model and warm-started from the last round's, it follows what is left of the backdoor as the masks change.
 */
import type { Backend } from '../tensor/backend.js';
import { keep, tidy } from '../tensor/scope.js';
import { noGrad, requireGrad } from '../autograd/engine.js';
import * as ops from '../ops/index.js';
import type { Module } from '../nn/module.js';
import type { Rng } from '../data/rng.js';
import type { CleanSet } from './clean-set.js';
import { sparsifyRow, stepInputTensor } from './steps.js';

export interface TargetedSearchOptions {
  /** The class the trigger should send images to. */
  cls: number;
  /** L1 budget the trigger is kept in after every step (clipped to [-1, 1] per element, the largest kept). */
  budget: number;
  /** Descent steps, each on `batchSize` images outside `cls` drawn with replacement. */
  steps: number;
  batchSize: number;
  /** Step size per element, the gradient being scaled to unit root-mean-square first. */
  lr: number;
}

export function validateTargetedSearch(o: TargetedSearchOptions, numClasses: number): void {
  if (!(Number.isInteger(o.cls) && o.cls >= 0 && o.cls < numClasses)) throw new Error(`targeted trigger search: class ${o.cls} is not one of the model's ${numClasses}`);
  if (!(o.budget > 0 && Number.isFinite(o.budget))) throw new Error(`targeted trigger search: the L1 budget must be a finite positive number, got ${o.budget}`);
  if (!(Number.isInteger(o.steps) && o.steps >= 1)) throw new Error(`targeted trigger search: steps must be a whole number >= 1, got ${o.steps}`);
  if (!(Number.isInteger(o.batchSize) && o.batchSize >= 1)) throw new Error(`targeted trigger search: batchSize must be a whole number >= 1, got ${o.batchSize}`);
  if (!(o.lr > 0 && Number.isFinite(o.lr))) throw new Error(`targeted trigger search: lr must be a finite positive number, got ${o.lr}`);
}

/**
 * `o.steps` steps of projected descent on CE(model(x + delta), o.cls) from `start` (one image's values, C*H*W), over the
 * set's images labelled outside o.cls. Only the trigger gets gradients; the model's weights and masks stay constants.
 * Returns the new trigger and the last step's cross-entropy (before its update); draws its batches from `rng`.
 */
export async function targetedTriggerSearch(
  model: Module, backend: Backend, set: CleanSet, start: Float32Array, o: TargetedSearchOptions, rng: Rng,
): Promise<{ trigger: Float32Array; loss: number }> {
  validateTargetedSearch(o, set.numClasses);
  const { c, h, w } = set;
  const per = c * h * w;
  if (start.length !== per) throw new Error(`targeted trigger search: the start holds ${start.length} values, expected ${c}x${h}x${w}`);
  const outside: number[] = [];
  for (let i = 0; i < set.n; i++) if (set.labels[i] !== o.cls) outside.push(i);
  if (!outside.length) throw new Error(`targeted trigger search: every image is labelled ${o.cls}, none to send there`);
  model.eval();
  model.setRequiresGrad(false);
  const v = Float32Array.from(start);
  sparsifyRow(v, o.budget);
  const delta = keep(ops.tensor(backend, v, [1, c, h, w]));
  const target = keep(ops.tensor(backend, new Int32Array(o.batchSize).fill(o.cls), [o.batchSize], { dtype: 'int32' }));
  try {
    requireGrad(delta);
    let last = Number.NaN;
    for (let step = 0; step < o.steps; step++) {
      const x = new Float32Array(o.batchSize * per);
      for (let k = 0; k < o.batchSize; k++) {
        const i = outside[rng.int(outside.length)]!;
        x.set(set.images.subarray(i * per, (i + 1) * per), k * per);
      }
      const loss = stepInputTensor(
        delta,
        () => ops.crossEntropy(model.forward(ops.add(ops.tensor(backend, x, [o.batchSize, c, h, w]), delta)), target),
        (d, g) => ops.sub(d, ops.div(ops.mul(g, o.lr), ops.add(ops.sqrt(ops.mean(ops.mul(g, g))), 1e-12))),
      );
      if (step === o.steps - 1) last = await loss.item();
      loss.dispose();
      const next = Float32Array.from(await delta.data());
      sparsifyRow(next, o.budget);
      noGrad(() => tidy(() => ops.assign(delta, ops.tensor(backend, next, [1, c, h, w]))));
    }
    requireGrad(delta, false);
    if (!Number.isFinite(last)) throw new Error(`targeted trigger search: the cross-entropy towards class ${o.cls} is ${last} (the model produced NaN or Inf)`);
    return { trigger: Float32Array.from(await delta.data()), loss: last };
  } finally {
    delta.grad?.dispose();
    delta.grad = null;
    delta.dispose();
    target.dispose();
  }
}
