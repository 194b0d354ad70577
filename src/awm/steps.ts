/**
 * The two gradient phases of Adversarial Weight Masking as single steps, so a test can drive them
 * exactly as the reference does and the runner can loop them.
 *
 * Phase 1 (trigger): gradient ascent on CE(f(x + delta), yhat), yhat = argmax f(x) being the masked
 * model's own prediction; d loss / d delta flows back through every masked conv to the input.
 * Phase 2 (masks): descent on alpha*CE(f(x), y) + (1-alpha)*CE(f(clamp(x+delta, 0, 1)), y) + gamma*sum|m|;
 * d loss / d m = (d loss / d (w*m)) * w, the conv weight gradient scaled by the frozen weight.
 */
import type { Tensor } from '../tensor/tensor.js';
import { tidy } from '../tensor/scope.js';
import { backward, detach, noGrad } from '../autograd/engine.js';
import * as ops from '../ops/index.js';
import type { Module } from '../nn/module.js';

/**
 * One gradient step on an input-side tensor alone (a trigger, a stack of them, a blend pattern), in place:
 * param <- next(param, d loss / d param), the model's weights and masks being constants. The gradient is
 * dropped afterwards; returns the loss, detached. Shared by every trigger search here and in class-triggers.ts.
 */
export function stepInputTensor(param: Tensor, loss: () => Tensor, next: (param: Tensor, grad: Tensor) => Tensor): Tensor {
  return tidy(() => {
    param.grad?.dispose();
    param.grad = null;
    const l = loss();
    backward(l);
    const g = param.grad!;
    noGrad(() => ops.assign(param, next(param, g)));
    param.grad = null;
    g.dispose();
    return detach(l);
  });
}

/** The cross-entropy of `model` on `input` against its own answers on `x` (the untargeted searches' objective). */
function ownAnswersLoss(model: Module, x: Tensor, input: Tensor): Tensor {
  const yhat = noGrad(() => ops.argmax(model.forward(x), 1));
  return ops.crossEntropy(model.forward(input), yhat);
}

/**
 * One ascent step on the trigger, in place: delta <- delta + lr * d CE / d delta. Returns the
 * step's loss as the reference logs it (the minimised objective, -CE) as a one-element tensor.
 */
export function triggerStep(model: Module, delta: Tensor, x: Tensor, lr: number): Tensor {
  return tidy(() => ops.neg(stepInputTensor(delta, () => ownAnswersLoss(model, x, ops.add(x, delta)), (d, g) => ops.add(d, ops.mul(g, lr)))));
}

/**
 * One signed ascent step on a universal blend pattern p in [0, 1], in place: the images become
 * (1 - a) x + a p, and p <- clamp(p + lr * sign(d CE / d p), 0, 1) against the model's own answers.
 * This searches the family of dense triggers a noise blend samples at random (AWM+'s blendAscent):
 * its budget is the blend weight, an L-infinity bound of a per pixel, not the L1 ball of the
 * additive trigger, which never reaches a Blend backdoor. Returns -CE as triggerStep does.
 */
export function blendPatternStep(model: Module, pattern: Tensor, x: Tensor, a: number, lr: number): Tensor {
  return tidy(() => ops.neg(stepInputTensor(
    pattern,
    () => ownAnswersLoss(model, x, ops.add(ops.mul(x, 1 - a), ops.mul(pattern, a))),
    (p, g) => ops.clamp(ops.add(p, ops.mul(ops.sign(g), lr)), 0, 1),
  )));
}

/**
 * One signed ascent step on a dense universal trigger, in place: the images become clamp(x + delta, 0, 1) and
 * delta <- clamp(delta + lr * sign(d CE / d delta), -eps, eps) against the model's own answers. Its budget is
 * eps per pixel (an L-infinity ball), so it can reach a trigger spread thinly over the whole image (SIG's
 * sinusoid, a blend) that the L1 ball of triggerStep holds only a fraction of. Returns -CE as triggerStep does.
 */
export function denseTriggerStep(model: Module, delta: Tensor, x: Tensor, eps: number, lr: number): Tensor {
  return tidy(() => ops.neg(stepInputTensor(
    delta,
    () => ownAnswersLoss(model, x, ops.clamp(ops.add(x, delta), 0, 1)),
    (d, g) => ops.clamp(ops.add(d, ops.mul(ops.sign(g), lr)), -eps, eps),
  )));
}

/** delta <- delta * min(1, tau / sum|delta|), in place; returns the L1 norm before and the scale used. */
export async function rescaleTrigger(delta: Tensor, tau: number): Promise<{ l1: number; scale: number }> {
  const l1t = noGrad(() => tidy(() => ops.normL1(delta)));
  const l1 = await l1t.item();
  l1t.dispose();
  if (!Number.isFinite(l1)) throw new Error(`AWM: the recovered trigger's L1 norm is ${l1} (the model produced NaN or Inf gradients)`);
  const scale = l1 > 0 ? Math.min(1, tau / l1) : 1;
  if (scale !== 1) noGrad(() => tidy(() => ops.assign(delta, ops.mul(delta, scale))));
  return { l1, scale };
}

export interface MaskLossParts {
  total: Tensor;
  clean: Tensor;
  triggered: Tensor;
  l1: Tensor;
}

/**
 * The mask objective on one batch. Clean and triggered images go through the network as one
 * batch of 2B (BatchNorm is in eval mode, so this equals two separate forwards).
 */
export function maskLoss(model: Module, masks: readonly Tensor[], x: Tensor, y: Tensor, delta: Tensor, alpha: number, gamma: number): MaskLossParts {
  const b = x.shape[0]!;
  const triggered = noGrad(() => ops.clamp(ops.add(x, delta), 0, 1));
  const logits = model.forward(ops.concat([x, triggered], 0));
  // y is int32 labels [B], or soft targets [B, C] (a teacher's probabilities, used by AWM+).
  const ce = y.dtype === 'int32' ? ops.crossEntropy(logits, ops.concat([y, y], 0), 'none') : softCrossEntropy(logits, ops.concat([y, y], 0));
  const clean = ops.mean(ops.slice(ce, [[0, b]]));
  const trig = ops.mean(ops.slice(ce, [[b, 2 * b]]));
  let l1 = ops.normL1(masks[0]!);
  for (let i = 1; i < masks.length; i++) l1 = ops.add(l1, ops.normL1(masks[i]!));
  const total = ops.add(ops.add(ops.mul(clean, alpha), ops.mul(trig, 1 - alpha)), ops.mul(l1, gamma));
  return { total, clean, triggered: trig, l1 };
}

/** Clamps every mask to [0, 1] in place (after each optimiser step). */
export function clampMasks(masks: readonly Tensor[]): void {
  noGrad(() => tidy(() => {
    for (const m of masks) ops.assign(m, ops.clamp(m, 0, 1));
  }));
}

/** Per-row cross-entropy against soft targets: -sum_c p[c] * log softmax(z)[c]. */
export function softCrossEntropy(logits: Tensor, probs: Tensor): Tensor {
  return ops.neg(ops.sum(ops.mul(probs, ops.logSoftmax(logits)), 1));
}

/**
 * AWM+'s alternative to rescaling: clip every element to [-1, 1] (a larger change to a [0, 1] pixel is
 * cut by the clamp anyway), then, if the L1 norm still exceeds tau, keep only the largest-magnitude
 * elements that fit the budget (the last one shortened). Rescaling spreads tau thinly over every pixel
 * the ascent touched; a patch trigger is a few pixels at full strength, which this keeps intact.
 * Elements are ranked by their magnitude before clipping. Works per row of a [K, ...] stack. Returns each row's L1 norm before.
 */
export async function sparsifyTriggers(delta: Tensor, tau: number): Promise<Float32Array> {
  const rows = delta.shape[0]!;
  const per = delta.size / rows;
  const v = Float32Array.from(await delta.data());
  const l1 = new Float32Array(rows);
  for (let r = 0; r < rows; r++) l1[r] = sparsifyRow(v.subarray(r * per, (r + 1) * per), tau);
  noGrad(() => tidy(() => ops.assign(delta, ops.tensor(delta.backend, v, delta.shape))));
  return l1;
}

/** sparsifyTriggers on one row of values, in place; returns its L1 norm before. */
export function sparsifyRow(row: Float32Array, tau: number): number {
  let norm = 0;
  for (const x of row) norm += Math.abs(x);
  if (!Number.isFinite(norm)) throw new Error(`AWM: the recovered trigger's L1 norm is ${norm} (the model produced NaN or Inf gradients)`);
  // Ranked by the ascent's own magnitudes: after clipping most of them tie at 1.
  const order = Array.from({ length: row.length }, (_, i) => i).sort((a, b) => Math.abs(row[b]!) - Math.abs(row[a]!));
  for (let i = 0; i < row.length; i++) row[i] = Math.min(1, Math.max(-1, row[i]!));
  let budget = tau;
  for (const i of order) {
    const m = Math.abs(row[i]!);
    if (m <= budget) budget -= m;
    else { row[i] = Math.sign(row[i]!) * budget; budget = 0; }
  }
  return norm;
}
