/**
 * Batch normalisation over NCHW (or NC) inputs as one autograd op on the backend's fused
 * primitives: a statistics pass and one normalising pass forward, a reduction and one dx pass
 * backward (composing it from elementwise ops and reductions took about 35 passes per layer).
 * Train mode normalises with the batch's biased variance and updates running statistics as
 * PyTorch does: with the unbiased variance and running = (1 - momentum) * running + momentum * batch.
 */
import type { BatchNormParams } from '../tensor/backend.js';
import type { Tensor } from '../tensor/tensor.js';
import { isGradEnabled, record } from '../autograd/engine.js';
import { sameShape } from '../tensor/shape.js';
import { assertFloat, sameBackend, shapeStr, wrap } from './util.js';

export interface BatchNormOptions {
  training: boolean;
  momentum?: number;
  eps?: number;
  /**
   * Fused epilogue, y = relu(bn(x) + residual): the end of a ResNet block in one pass instead of
   * three (on CPU-emulated adapters each elementwise pass over a 28x28 activation costs a few ms).
   * The residual has x's shape and gets the gradient that reaches the sum.
   */
  residual?: Tensor;
  relu?: boolean;
}

export interface RunningStats {
  mean: Tensor;
  var: Tensor;
}

function snapshot(t: Tensor): Tensor {
  return wrap(t.backend, t.backend.copy({ storage: t.storage, shape: [t.size], strides: [1], offset: 0 }), t.shape);
}

export function batchNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, running: RunningStats | null, opts: BatchNormOptions): Tensor {
  if (x.rank !== 4 && x.rank !== 2) throw new Error(`batchNorm: input must be [N, C, H, W] or [N, C], got ${shapeStr(x.shape)}`);
  const c = x.shape[1]!;
  const eps = opts.eps ?? 1e-5;
  const momentum = opts.momentum ?? 0.1;
  const count = x.size / c;
  for (const [name, t] of [['weight', weight], ['bias', bias], ['running mean', running?.mean], ['running var', running?.var]] as const) {
    if (t && (t.rank !== 1 || t.shape[0] !== c)) throw new Error(`batchNorm: ${name} must have shape [${c}], got ${shapeStr(t.shape)}`);
  }
  const residual = opts.residual ?? null;
  if (residual && !sameShape(residual.shape, x.shape)) throw new Error(`batchNorm: the residual must have the input's shape ${shapeStr(x.shape)}, got ${shapeStr(residual.shape)}`);
  const params = [weight, bias].filter((t): t is Tensor => t !== null);
  const be = sameBackend('batchNorm', x, ...params, ...(residual ? [residual] : []), ...(running ? [running.mean, running.var] : []));
  assertFloat('batchNorm', x, ...params, ...(residual ? [residual] : []));
  const p: BatchNormParams = { n: x.shape[0]!, c, hw: x.rank === 4 ? x.shape[2]! * x.shape[3]! : 1, eps };

  const inputs = [x, ...params, ...(residual ? [residual] : [])];
  const recording = isGradEnabled() && inputs.some((t) => t.requiresGrad);
  let mean: Tensor;
  let variance: Tensor;
  if (opts.training) {
    if (count < 2) throw new Error(`batchNorm: training needs more than one value per channel, got input ${shapeStr(x.shape)}`);
    // The running update happens inside the statistics pass (in place, outside autograd).
    const stats = be.batchNormStats(x.storage, p, running ? { mean: running.mean.storage, var: running.var.storage, momentum } : undefined);
    mean = wrap(be, stats.mean, [c]);
    variance = wrap(be, stats.var, [c]);
  } else {
    if (!running) throw new Error('batchNorm: eval mode needs running statistics');
    // Backward must see the statistics this forward used, even if the running ones change before it runs.
    mean = recording ? snapshot(running.mean) : running.mean;
    variance = recording ? snapshot(running.var) : running.var;
  }

  const relu = !!opts.relu;
  const epilogue = residual || relu ? { residual: residual?.storage ?? null, relu } : undefined;
  const y = wrap(be, be.batchNormForward(x.storage, mean.storage, variance.storage, weight?.storage ?? null, bias?.storage ?? null, p, epilogue), x.shape);
  if (!recording) {
    // Nothing will run backward: the batch statistics are garbage now rather than at scope end.
    if (opts.training) {
      mean.dispose();
      variance.dispose();
    }
    return y;
  }
  // One node for the whole layer; the backward reads x, the statistics and the weight it closes over.
  record(y, 'batchNorm', inputs, (g) => {
    // Through the ReLU (inside the backend's passes): the gradient passes where the output y is
    // positive, as relu's backward from its input (same sign). The sum hands the gated gradient on
    // unchanged to the residual.
    const wantResidual = !!residual?.requiresGrad;
    const r = be.batchNormBackward(g.storage, x.storage, mean.storage, variance.storage, weight?.storage ?? null, p, {
      training: opts.training,
      dx: x.requiresGrad,
      dweight: !!weight?.requiresGrad,
      dbias: !!bias?.requiresGrad,
      dgated: relu && wantResidual,
    }, relu ? y.storage : null);
    const grads: Array<Tensor | null> = [r.dx && wrap(be, r.dx, x.shape)];
    if (weight) grads.push(r.dweight && wrap(be, r.dweight, [c]));
    if (bias) grads.push(r.dbias && wrap(be, r.dbias, [c]));
    if (residual) grads.push(!wantResidual ? null : relu ? wrap(be, r.dgated!, x.shape) : g);
    return grads;
  });
  return y;
}
