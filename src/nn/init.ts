/**
 * Parameter initialisation with PyTorch's defaults, drawn on the device from a seeded Generator so
 * one seed gives one model on every backend.
 */
import type { Backend } from '../tensor/backend.js';
import type { Tensor } from '../tensor/tensor.js';
import { tidy } from '../tensor/scope.js';
import { Generator, full } from '../ops/create.js';
import { affine } from '../ops/elementwise.js';

/**
 * Where initial values come from: a Generator, or null to skip the draws and start from zeros
 * (for a model whose weights are loaded right away; it also avoids device random numbers).
 */
export type ParamInit = Generator | null;

export interface InitOptions {
  /** Seed of a fresh Generator (default 0); ignored when `generator` is given. */
  seed?: number;
  generator?: Generator;
  /** Leave weights at zero (BN scale 1) because a state dict will overwrite them. */
  skipInit?: boolean;
}

export function resolveInit(backend: Backend, opts: InitOptions = {}): ParamInit {
  if (opts.skipInit) return null;
  return opts.generator ?? new Generator(backend, opts.seed ?? 0);
}

/** U(-bound, bound), or zeros without a generator. */
export function uniformParam(backend: Backend, init: ParamInit, shape: readonly number[], bound: number): Tensor {
  if (!init) return full(backend, shape, 0);
  const gen = init;
  return tidy(() => affine(gen.uniform(shape), 2 * bound, -bound));
}

/**
 * PyTorch's Conv2d/Linear default: kaiming_uniform_(a=sqrt(5)) is U(±1/sqrt(fan_in)) for the
 * weight, and the bias uses the same bound.
 */
export function fanInBound(fanIn: number): number {
  return 1 / Math.sqrt(fanIn);
}
