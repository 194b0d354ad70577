/**
 * Per-class (targeted) trigger recovery, an AWM+ option. The faithful AWM recovers one universal
 * trigger by untargeted ascent on the model's own predictions; once the masks have weakened the
 * backdoor, that ascent drifts to whatever class is easiest and stops resembling the real trigger.
 * Here one trigger per class t is recovered by descent on CE(f(x + delta_t), t) over images of other
 * classes: the backdoor's target class keeps a short path (the real trigger), whatever the masks
 * have done to the rest, so the mask phase keeps seeing it.
 *
 * Every image in a batch is paired with a target drawn uniformly from the classes other than its
 * own; its perturbation is row t of the trigger stack, selected by a one-hot matmul so gradients
 * reach the stack.
 *
 * Measured (docs/defenses.md, "Options off by default"): worse than the universal trigger on the BadNets small CNN (ASR 98.6 %
 * left against 21.5 %): each class's trigger gets a tenth of the batch and stays weak.
 */
import type { Tensor } from '../tensor/tensor.js';
import { tidy } from '../tensor/scope.js';
import { noGrad } from '../autograd/engine.js';
import * as ops from '../ops/index.js';
import type { Module } from '../nn/module.js';
import { stepInputTensor } from './steps.js';
import type { Rng } from '../data/rng.js';

/** For each label, a class drawn uniformly from the other `classes - 1` (the label itself when there is one class). */
export function otherClasses(labels: ArrayLike<number>, classes: number, rng: Rng): Int32Array {
  const out = new Int32Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    out[i] = classes < 2 ? y : (y + 1 + rng.int(classes - 1)) % classes;
  }
  return out;
}

/** Rows of `stack` [K, C, H, W] picked by `targets` (int32 [B], host) as [B, C, H, W]; differentiable in `stack`. */
export function pickTriggers(stack: Tensor, targets: Int32Array): Tensor {
  const [k, c, h, w] = stack.shape as [number, number, number, number];
  const onehot = new Float32Array(targets.length * k);
  targets.forEach((t, i) => { onehot[i * k + t] = 1; });
  const sel = ops.tensor(stack.backend, onehot, [targets.length, k]);
  return ops.reshape(ops.matmul(sel, ops.reshape(stack, [k, c * h * w])), [targets.length, c, h, w]);
}

/**
 * One descent step on the trigger stack, in place: stack <- stack - lr * d CE(f(x + stack[t]), t) / d stack.
 * Returns the step's mean targeted CE as a one-element tensor.
 */
export function classTriggerStep(model: Module, stack: Tensor, x: Tensor, targets: Int32Array, lr: number): Tensor {
  return tidy(() => {
    const t = ops.tensor(stack.backend, targets, [targets.length], { dtype: 'int32' });
    return stepInputTensor(stack, () => ops.crossEntropy(model.forward(ops.add(x, pickTriggers(stack, targets))), t), (s, g) => ops.sub(s, ops.mul(g, lr)));
  });
}

/** Rescales every trigger of the stack into the L1 ball of radius tau; returns each one's L1 norm before. */
export async function rescaleEach(stack: Tensor, tau: number): Promise<Float32Array> {
  const k = stack.shape[0]!;
  const l1t = noGrad(() => tidy(() => ops.sum(ops.abs(ops.reshape(stack, [k, stack.size / k])), [1])));
  const l1 = Float32Array.from(await l1t.data());
  l1t.dispose();
  const bad = l1.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new Error(`AWM+: the recovered trigger of class ${bad} has L1 norm ${l1[bad]} (the model produced NaN or Inf gradients)`);
  const scales = Float32Array.from(l1, (v) => (v > 0 ? Math.min(1, tau / v) : 1));
  noGrad(() => tidy(() => {
    const s = ops.tensor(stack.backend, scales, [k, 1, 1, 1]);
    ops.assign(stack, ops.mul(stack, s));
  }));
  return l1;
}
