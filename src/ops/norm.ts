/**
 * Batch normalisation over NCHW (or NC) inputs, composed from differentiable primitives so its
 * backward (batch statistics included) follows from theirs. Train mode normalises with the batch's
 * biased variance and updates running statistics as PyTorch does: with the unbiased variance and
 * running = (1 - momentum) * running + momentum * batch.
 */
import type { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/engine.js';
import { add, affine, mul, rsqrt, square, sub } from './elementwise.js';
import { assign, reshape } from './layout.js';
import { mean } from './reduce.js';
import { shapeStr } from './util.js';

export interface BatchNormOptions {
  training: boolean;
  momentum?: number;
  eps?: number;
}

export interface RunningStats {
  mean: Tensor;
  var: Tensor;
}

export function batchNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, running: RunningStats | null, opts: BatchNormOptions): Tensor {
  if (x.rank !== 4 && x.rank !== 2) throw new Error(`batchNorm: input must be [N, C, H, W] or [N, C], got ${shapeStr(x.shape)}`);
  const c = x.shape[1]!;
  const eps = opts.eps ?? 1e-5;
  const momentum = opts.momentum ?? 0.1;
  const bshape = x.rank === 4 ? [1, c, 1, 1] : [1, c];
  const axes = x.rank === 4 ? [0, 2, 3] : [0];
  const count = x.size / c;
  for (const [name, t] of [['weight', weight], ['bias', bias], ['running mean', running?.mean], ['running var', running?.var]] as const) {
    if (t && (t.rank !== 1 || t.shape[0] !== c)) throw new Error(`batchNorm: ${name} must have shape [${c}], got ${shapeStr(t.shape)}`);
  }

  let xhat: Tensor;
  if (opts.training) {
    if (count < 2) throw new Error(`batchNorm: training needs more than one value per channel, got input ${shapeStr(x.shape)}`);
    const mu = mean(x, axes, true);
    const centered = sub(x, mu);
    const varBiased = mean(square(centered), axes, true);
    xhat = mul(centered, rsqrt(add(varBiased, eps)));
    if (running) {
      noGrad(() => {
        assign(running.mean, add(mul(running.mean, 1 - momentum), mul(reshape(mu, [c]), momentum)));
        assign(running.var, add(mul(running.var, 1 - momentum), mul(reshape(varBiased, [c]), (momentum * count) / (count - 1))));
      });
    }
  } else {
    if (!running) throw new Error('batchNorm: eval mode needs running statistics');
    const inv = rsqrt(affine(reshape(running.var, bshape), 1, eps));
    xhat = mul(sub(x, reshape(running.mean, bshape)), inv);
  }
  let y = xhat;
  if (weight) y = mul(y, reshape(weight, bshape));
  if (bias) y = add(y, reshape(bias, bshape));
  return y;
}
