/** Convolution and pooling in NCHW. */
import type { Conv2dParams, Pool2dParams } from '../tensor/backend.js';
import { Tensor } from '../tensor/tensor.js';
import { record } from '../autograd/engine.js';
import { assertFloat, sameBackend, shapeStr, wrap } from './util.js';
import { mean, sum } from './reduce.js';
import { countGemm } from './work.js';

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
}

const pair = (v: number | [number, number] | undefined, d: number): [number, number] => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v);

export function conv2dParams(xShape: readonly number[], wShape: readonly number[], opts: Conv2dOptions = {}): Conv2dParams {
  if (xShape.length !== 4) throw new Error(`conv2d: input must be NCHW (rank 4), got ${shapeStr(xShape)}`);
  if (wShape.length !== 4) throw new Error(`conv2d: weight must be [out, in, kh, kw], got ${shapeStr(wShape)}`);
  const [n, cIn, h, w] = xShape as [number, number, number, number];
  const [cOut, cIn2, kh, kw] = wShape as [number, number, number, number];
  if (cIn !== cIn2) throw new Error(`conv2d: input has ${cIn} channels but the weight ${shapeStr(wShape)} expects ${cIn2} (groups other than 1 are not supported)`);
  const [strideH, strideW] = pair(opts.stride, 1);
  const [padH, padW] = pair(opts.padding, 0);
  if (strideH < 1 || strideW < 1) throw new Error('conv2d: stride must be >= 1');
  const outH = Math.floor((h + 2 * padH - kh) / strideH) + 1;
  const outW = Math.floor((w + 2 * padW - kw) / strideW) + 1;
  if (outH < 1 || outW < 1) throw new Error(`conv2d: a ${kh}x${kw} kernel does not fit an input of ${h}x${w} with padding ${padH},${padW}`);
  return { n, cIn, h, w, cOut, kh, kw, strideH, strideW, padH, padW, outH, outW };
}

/** 2-D convolution (cross-correlation, like PyTorch) with optional bias [cOut]. */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, opts: Conv2dOptions = {}): Tensor {
  const be = sameBackend('conv2d', x, weight, ...(bias ? [bias] : []));
  assertFloat('conv2d', x, weight);
  const p = conv2dParams(x.shape, weight.shape, opts);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== p.cOut)) throw new Error(`conv2d: bias must have shape [${p.cOut}], got ${shapeStr(bias.shape)}`);
  // Each of the three passes is one GEMM of this many flops.
  const flops = 2 * p.n * p.cOut * p.outH * p.outW * p.cIn * p.kh * p.kw;
  countGemm('conv2d', p, flops, bias !== null);
  const out = wrap(be, be.conv2d(x.storage, weight.storage, bias ? bias.storage : null, p), [p.n, p.cOut, p.outH, p.outW]);
  return record(out, 'conv2d', bias ? [x, weight, bias] : [x, weight], (g) => [
    x.requiresGrad ? (countGemm('conv2dBackwardData', p, flops), wrap(be, be.conv2dBackwardData(g.storage, weight.storage, p), x.shape)) : null,
    weight.requiresGrad ? (countGemm('conv2dBackwardWeight', p, flops), wrap(be, be.conv2dBackwardWeight(x.storage, g.storage, p), weight.shape)) : null,
    ...(bias ? [bias.requiresGrad ? sum(g, [0, 2, 3]) : null] : []),
  ]);
}

export interface Pool2dOptions {
  kernel: number | [number, number];
  stride?: number | [number, number];
  padding?: number | [number, number];
  /** avg only, PyTorch's count_include_pad (default true). */
  countIncludePad?: boolean;
}

function pool(kind: 'max' | 'avg', x: Tensor, opts: Pool2dOptions): Tensor {
  const be = sameBackend(`${kind}Pool2d`, x);
  if (x.rank !== 4) throw new Error(`${kind}Pool2d: input must be NCHW, got ${shapeStr(x.shape)}`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const [kh, kw] = pair(opts.kernel, 1);
  const [strideH, strideW] = pair(opts.stride ?? opts.kernel, 1);
  const [padH, padW] = pair(opts.padding, 0);
  if (padH * 2 > kh || padW * 2 > kw) throw new Error(`${kind}Pool2d: padding must be at most half the kernel size`);
  const outH = Math.floor((h + 2 * padH - kh) / strideH) + 1;
  const outW = Math.floor((w + 2 * padW - kw) / strideW) + 1;
  if (outH < 1 || outW < 1) throw new Error(`${kind}Pool2d: a ${kh}x${kw} window does not fit ${h}x${w}`);
  const p: Pool2dParams = { kind, n, c, h, w, kh, kw, strideH, strideW, padH, padW, outH, outW, countIncludePad: opts.countIncludePad ?? true };
  const out = wrap(be, be.pool2d(x.storage, p), [n, c, outH, outW]);
  return record(out, `${kind}Pool2d`, [x], (g) => [wrap(be, be.pool2dBackward(g.storage, x.storage, p), x.shape)]);
}

export const maxPool2d = (x: Tensor, opts: Pool2dOptions): Tensor => pool('max', x, opts);
export const avgPool2d = (x: Tensor, opts: Pool2dOptions): Tensor => pool('avg', x, opts);

/** Mean over H and W: [N, C, H, W] -> [N, C]. */
export function globalAvgPool2d(x: Tensor): Tensor {
  if (x.rank !== 4) throw new Error(`globalAvgPool2d: input must be NCHW, got ${shapeStr(x.shape)}`);
  return mean(x, [2, 3]);
}

