/** Creating tensors: from host data, constants, and seeded device-side random numbers. */
import type { Backend, DType } from '../tensor/backend.js';
import { Tensor } from '../tensor/tensor.js';
import { assertShape, sizeOf, type Shape } from '../tensor/shape.js';
import { wrap } from './util.js';

export interface TensorOptions {
  dtype?: DType;
  requiresGrad?: boolean;
  name?: string;
}

export function tensor(backend: Backend, data: ArrayLike<number>, shape: Shape, opts: TensorOptions = {}): Tensor {
  assertShape(shape);
  if (data.length !== sizeOf(shape)) throw new Error(`tensor(): ${data.length} values do not fill shape [${shape.join(', ')}] (${sizeOf(shape)} elements)`);
  const dtype = opts.dtype ?? (data instanceof Int32Array ? 'int32' : 'float32');
  const t = wrap(backend, backend.upload(data, dtype), shape);
  if (opts.requiresGrad) t.requiresGrad = true;
  t.name = opts.name;
  return t;
}

export function full(backend: Backend, shape: Shape, value: number, opts: TensorOptions = {}): Tensor {
  assertShape(shape);
  const t = wrap(backend, backend.fill(sizeOf(shape), value, opts.dtype ?? 'float32'), shape);
  if (opts.requiresGrad) t.requiresGrad = true;
  t.name = opts.name;
  return t;
}

export const zeros = (backend: Backend, shape: Shape, opts?: TensorOptions): Tensor => full(backend, shape, 0, opts);
export const ones = (backend: Backend, shape: Shape, opts?: TensorOptions): Tensor => full(backend, shape, 1, opts);
export const scalar = (backend: Backend, value: number): Tensor => full(backend, [], value);

/**
 * Seeded random numbers generated on the device. `counter` selects a disjoint part of the stream,
 * so successive draws from one seed use different counters (see Generator).
 */
export function rand(backend: Backend, shape: Shape, seed: number, counter = 0): Tensor {
  return wrap(backend, backend.random('uniform', sizeOf(shape), seed >>> 0, counter >>> 0), shape);
}

export function randn(backend: Backend, shape: Shape, seed: number, counter = 0): Tensor {
  return wrap(backend, backend.random('normal', sizeOf(shape), seed >>> 0, counter >>> 0), shape);
}

export function randperm(backend: Backend, n: number, seed: number): Tensor {
  return wrap(backend, backend.randperm(n, seed >>> 0), [n]);
}

/**
 * A seeded stream of device-side draws: each call advances the counter past what it used, so a run
 * is reproducible from one seed whatever the shapes drawn.
 */
export class Generator {
  private counter = 0;
  private normalCounter = 0;
  private perms = 0;
  constructor(readonly backend: Backend, readonly seed: number) {}
  uniform(shape: Shape): Tensor {
    const t = rand(this.backend, shape, this.seed, this.counter);
    this.counter = (this.counter + sizeOf(shape)) >>> 0;
    return t;
  }
  normal(shape: Shape): Tensor {
    // A stream of its own: Box-Muller reads bit positions 2i and 2i+1, which would overlap uniforms.
    const t = randn(this.backend, shape, (this.seed ^ 0x5bd1e995) >>> 0, this.normalCounter);
    this.normalCounter = (this.normalCounter + sizeOf(shape)) >>> 0;
    return t;
  }
  permutation(n: number): Tensor {
    return randperm(this.backend, n, (this.seed ^ Math.imul(++this.perms, 0x9e3779b1)) >>> 0);
  }
}
