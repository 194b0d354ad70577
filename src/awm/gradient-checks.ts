/**
 * The walkthrough's gradient checks, each on the batch the AWM round itself uses: the trigger's
 * gradient against the batch's summed input gradients, the mask gradient against the chain rule through
 * w * m, and autograd against central finite differences. Float64 on the CPU backend makes them exact
 * up to rounding; the bounds say how much rounding is allowed.
 */
import type { Tensor } from '../tensor/tensor.js';
import { keep, tidy } from '../tensor/scope.js';
import { backward, noGrad, requireGrad } from '../autograd/engine.js';
import * as ops from '../ops/index.js';
import type { Module } from '../nn/module.js';
import { convLayers } from '../nn/masks.js';
import type { AwmOptions } from './options.js';
import { maskLoss } from './steps.js';
import { count } from './trigger-footprint.js';

/** Reads a one-element tensor and disposes it. */
export async function scalar(t: Tensor): Promise<number> {
  const v = await t.item();
  t.dispose();
  return v;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

/** max |a - b| / max |b|, 0 when both are 0. */
export function relativeDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relativeDifference: ${a.length} values against ${b.length}`);
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]!));
  const d = maxAbsDiff(a, b);
  return d === 0 ? 0 : d / scale;
}

export interface FiniteDifference {
  layer: string;
  /** Flat index into the layer's mask, and the [out, in, kh, kw] position. */
  index: number;
  position: number[];
  autograd: number;
  numeric: number;
  relError: number;
  /**
   * The |autograd - numeric| allowed: rtol * max(|autograd|, |numeric|) + atol * max(1, |L|). The atol term is the
   * central difference's own rounding floor in float64 (about 1e-16 |L| / eps), with margin, so a tiny gradient
   * is not failed for the subtraction's rounding while a 0.1 % error in any gradient above ~1e-6 is still caught.
   */
  tolerance: number;
  agrees: boolean;
}

/** The finite-difference bounds (see FiniteDifference.tolerance). */
export const FD_TOLERANCE = { rtol: 1e-5, atol: 1e-9 } as const;

/**
 * The trigger is one tensor added to every image of the batch, so its gradient is the sum of the
 * per-image input gradients: computed here both ways on the same batch and objective.
 */
export async function checkUniversalGradient(model: Module, delta: Tensor, x: Tensor): Promise<number> {
  const yhat = noGrad(() => tidy(() => ops.argmax(model.forward(x), 1)));
  const viaDelta = await gradientOf(delta, () => ops.crossEntropy(model.forward(ops.add(x, delta)), yhat));
  const shifted = keep(requireGrad(noGrad(() => ops.add(x, delta))));
  const perImage = await gradientOf(shifted, () => ops.crossEntropy(model.forward(shifted), yhat));
  shifted.dispose();
  yhat.dispose();
  const [n, ...rest] = x.shape as [number, ...number[]];
  const per = rest.reduce((a, b) => a * b, 1);
  const summed = new Float64Array(per);
  for (let i = 0; i < n; i++) for (let j = 0; j < per; j++) summed[j]! += perImage[i * per + j]!;
  return relativeDifference(summed, viaDelta);
}

/** d loss / d param for a tensor that requires grad; its .grad is cleared afterwards. */
async function gradientOf(param: Tensor, loss: () => Tensor): Promise<Float64Array> {
  tidy(() => backward(loss()));
  const grad = param.grad!;
  param.grad = null;
  const g = Float64Array.from(await grad.data());
  grad.dispose();
  return g;
}

/**
 * d loss / d m from autograd against w * d loss / d (w * m) + gamma * sign(m). At the first mask step
 * every mask is 1, so the conv computes with w itself and the weight's own gradient, taken with the
 * masks held constant, is d loss / d (w * m): the two gradients come from two separate backward passes.
 */
export async function checkChainRule(model: Module, names: readonly string[], masks: readonly Tensor[], grads: readonly Float64Array[], x: Tensor, y: Tensor, delta: Tensor, options: AwmOptions): Promise<number> {
  const convs = new Map(convLayers(model));
  const ws = names.map((n) => convs.get(n)!.weight);
  for (const m of masks) {
    if (count(await m.data(), (a) => a !== 1) > 0) throw new Error('the chain-rule check expects every mask at 1 (the first mask step)');
  }
  const weights = await Promise.all(ws.map(async (w) => Float64Array.from(await w.data())));
  let effective: Float64Array[];
  for (const m of masks) m.requiresGrad = false;
  try {
    for (const w of ws) requireGrad(w);
    tidy(() => backward(maskLoss(model, masks, x, y, delta, options.alpha, options.gamma).total));
    effective = await Promise.all(ws.map(async (w) => Float64Array.from(await w.grad!.data())));
  } finally {
    for (const w of ws) {
      w.grad?.dispose();
      w.grad = null;
      requireGrad(w, false);
    }
    for (const m of masks) m.requiresGrad = true;
  }
  let worst = 0;
  let scale = 0;
  grads.forEach((g, i) => {
    for (let j = 0; j < g.length; j++) {
      // sign(m) = 1 here: every mask is 1.
      const predicted = weights[i]![j]! * effective[i]![j]! + options.gamma;
      worst = Math.max(worst, Math.abs(g[j]! - predicted));
      scale = Math.max(scale, Math.abs(g[j]!));
    }
  });
  return worst === 0 ? 0 : worst / scale;
}

/**
 * Central differences on the mask objective for the element with the largest gradient in the first
 * and the last masked layer: (L(m + e) - L(m - e)) / 2e against autograd, on the same batch.
 */
export async function checkFiniteDifferences(model: Module, names: readonly string[], masks: readonly Tensor[], grads: readonly Float64Array[], x: Tensor, y: Tensor, delta: Tensor, options: AwmOptions, eps: number): Promise<FiniteDifference[]> {
  const picks = [...new Set([0, masks.length - 1])];
  const out: FiniteDifference[] = [];
  const lossAt = async (): Promise<number> => scalar(noGrad(() => tidy(() => ops.reshape(maskLoss(model, masks, x, y, delta, options.alpha, options.gamma).total, [1]))));
  // |L| sets the rounding floor of the differences (FD_TOLERANCE.atol).
  const base = Math.abs(await lossAt());
  for (const li of picks) {
    const mask = masks[li]!;
    const g = grads[li]!;
    let index = 0;
    for (let j = 1; j < g.length; j++) if (Math.abs(g[j]!) > Math.abs(g[index]!)) index = j;
    const original = Float64Array.from(await mask.data());
    const setAt = (value: number) => {
      const v = Float64Array.from(original);
      v[index] = value;
      noGrad(() => tidy(() => ops.assign(mask, ops.tensor(mask.backend, v, mask.shape))));
    };
    let plus: number;
    let minus: number;
    try {
      setAt(original[index]! + eps);
      plus = await lossAt();
      setAt(original[index]! - eps);
      minus = await lossAt();
    } finally {
      noGrad(() => tidy(() => ops.assign(mask, ops.tensor(mask.backend, original, mask.shape))));
    }
    const numeric = (plus - minus) / (2 * eps);
    const autograd = g[index]!;
    const tolerance = FD_TOLERANCE.rtol * Math.max(Math.abs(autograd), Math.abs(numeric)) + FD_TOLERANCE.atol * Math.max(1, base);
    const diff = Math.abs(autograd - numeric);
    out.push({ layer: names[li]!, index, position: unravel(index, mask.shape), autograd, numeric, relError: diff / Math.max(Math.abs(numeric), 1e-300), tolerance, agrees: diff <= tolerance });
  }
  return out;
}

function unravel(index: number, shape: readonly number[]): number[] {
  const pos = new Array<number>(shape.length);
  let rest = index;
  for (let d = shape.length - 1; d >= 0; d--) {
    pos[d] = rest % shape[d]!;
    rest = Math.floor(rest / shape[d]!);
  }
  return pos;
}
