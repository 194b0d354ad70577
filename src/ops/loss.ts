/** Softmax, log-softmax, fused cross-entropy, one-hot and gather. */
import { Tensor } from '../tensor/tensor.js';
import { normAxis, sizeOf } from '../tensor/shape.js';
import { record } from '../autograd/engine.js';
import { assertFloat, sameBackend, shapeStr, wrap } from './util.js';
import { mul, sub, exp } from './elementwise.js';
import { sum, mean } from './reduce.js';

function lastAxisOnly(op: string, x: Tensor, axis: number): void {
  if (normAxis(axis, x.rank) !== x.rank - 1) throw new Error(`${op}: only the last axis is supported (permute first)`);
}

export function softmax(x: Tensor, axis = -1): Tensor {
  const be = sameBackend('softmax', x);
  assertFloat('softmax', x);
  lastAxisOnly('softmax', x, axis);
  const cols = x.shape[x.rank - 1]!;
  const out = wrap(be, be.softmax(x.storage, x.size / cols, cols, false), x.shape);
  return record(out, 'softmax', [x], (g) => [mul(out, sub(g, sum(mul(g, out), -1, true)))]);
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  const be = sameBackend('logSoftmax', x);
  assertFloat('logSoftmax', x);
  lastAxisOnly('logSoftmax', x, axis);
  const cols = x.shape[x.rank - 1]!;
  const out = wrap(be, be.softmax(x.storage, x.size / cols, cols, true), x.shape);
  return record(out, 'logSoftmax', [x], (g) => [sub(g, mul(exp(out), sum(g, -1, true)))]);
}

export type Reduction = 'mean' | 'sum' | 'none';

/**
 * Cross-entropy of logits [N, C] against int32 labels [N], fused and numerically stable
 * (logsumexp - logit[label]). Labels outside [0, C) give NaN rather than reading out of bounds.
 */
export function crossEntropy(logits: Tensor, labels: Tensor, reduction: Reduction = 'mean'): Tensor {
  const be = sameBackend('crossEntropy', logits, labels);
  assertFloat('crossEntropy', logits);
  if (logits.rank !== 2) throw new Error(`crossEntropy: logits must be [N, C], got ${shapeStr(logits.shape)}`);
  const [rows, cols] = logits.shape as [number, number];
  if (labels.dtype !== 'int32') throw new Error('crossEntropy: labels must be an int32 tensor');
  if (labels.rank !== 1 || labels.shape[0] !== rows) throw new Error(`crossEntropy: labels must have shape [${rows}], got ${shapeStr(labels.shape)}`);
  const perRow = wrap(be, be.crossEntropy(logits.storage, labels.storage, rows, cols), [rows]);
  record(perRow, 'crossEntropy', [logits], (g) => [wrap(be, be.crossEntropyBackward(logits.storage, labels.storage, g.storage, rows, cols), logits.shape)]);
  if (reduction === 'none') return perRow;
  return reduction === 'sum' ? sum(perRow) : mean(perRow);
}

/** int32 labels [N] -> float [N, classes]. */
export function oneHot(labels: Tensor, classes: number): Tensor {
  const be = sameBackend('oneHot', labels);
  if (labels.dtype !== 'int32' || labels.rank !== 1) throw new Error('oneHot: labels must be an int32 vector');
  return wrap(be, be.oneHot(labels.storage, labels.size, classes), [labels.size, classes]);
}

/** torch.gather: out[..., j, ...] = x[..., index[..., j, ...], ...] along `axis`. */
export function gather(x: Tensor, axis: number, index: Tensor): Tensor {
  const be = sameBackend('gather', x, index);
  const ax = normAxis(axis, x.rank);
  if (index.dtype !== 'int32') throw new Error('gather: index must be int32');
  if (index.rank !== x.rank || index.shape.some((d, i) => i !== ax && d !== x.shape[i])) {
    throw new Error(`gather: index shape ${shapeStr(index.shape)} must match input ${shapeStr(x.shape)} except along axis ${axis}`);
  }
  const outer = sizeOf(x.shape.slice(0, ax));
  const inner = sizeOf(x.shape.slice(ax + 1));
  const nIn = x.shape[ax]!;
  const nIdx = index.shape[ax]!;
  const out = wrap(be, be.gather(x.storage, index.storage, outer, nIn, inner, nIdx), index.shape);
  return record(out, 'gather', [x], (g) => [wrap(be, be.scatterAdd(g.storage, index.storage, outer, nIn, inner, nIdx), x.shape)]);
}

