/** In-place optimiser steps, element for element the recurrences of torch.optim.SGD and torch.optim.Adam. */
import type { AdamParams, FloatArray, SgdParams } from '../../tensor/backend.js';

export function sgdKernel(param: FloatArray, grad: FloatArray, buf: FloatArray | null, p: SgdParams): void {
  const { lr, momentum, dampening, weightDecay, nesterov, firstStep } = p;
  for (let i = 0; i < param.length; i++) {
    let d = grad[i]! + weightDecay * param[i]!;
    if (buf) {
      const b = firstStep ? d : momentum * buf[i]! + (1 - dampening) * d;
      buf[i] = b;
      // Read back what was stored so float32 mode rounds exactly where a float32 kernel would.
      d = nesterov ? d + momentum * buf[i]! : buf[i]!;
    }
    param[i] = param[i]! - lr * d;
  }
}

/** Adam with L2 weight decay folded into the gradient (torch.optim.Adam, not AdamW). */
export function adamKernel(param: FloatArray, grad: FloatArray, m: FloatArray, v: FloatArray, p: AdamParams): void {
  const { lr, beta1, beta2, eps, weightDecay, step } = p;
  const correction1 = 1 - Math.pow(beta1, step);
  const correction2 = 1 - Math.pow(beta2, step);
  for (let i = 0; i < param.length; i++) {
    const g = grad[i]! + weightDecay * param[i]!;
    m[i] = beta1 * m[i]! + (1 - beta1) * g;
    v[i] = beta2 * v[i]! + (1 - beta2) * g * g;
    const mHat = m[i]! / correction1;
    const vHat = v[i]! / correction2;
    param[i] = param[i]! - (lr * mHat) / (Math.sqrt(vHat) + eps);
  }
}
