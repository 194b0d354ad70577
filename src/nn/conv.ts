/**
 * Conv2d with PyTorch's parameters (`weight` [out, in, kh, kw], optional `bias`) and an optional
 * soft mask of the weight's shape for Adversarial Weight Masking: with a mask set, the forward
 * convolves with weight * mask, so backward yields d loss / d mask.
 */
import type { Backend } from '../tensor/backend.js';
import type { Tensor } from '../tensor/tensor.js';
import { keep, tidy } from '../tensor/scope.js';
import { noGrad } from '../autograd/engine.js';
import { conv2d } from '../ops/conv.js';
import { mul } from '../ops/elementwise.js';
import { assign } from '../ops/layout.js';
import { Module } from './module.js';
import { fanInBound, uniformParam, type ParamInit } from './init.js';

export interface Conv2dConfig {
  inChannels: number;
  outChannels: number;
  kernelSize: number;
  stride?: number;
  padding?: number;
  /** Default true, like PyTorch. */
  bias?: boolean;
}

export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: number;
  readonly padding: number;
  private maskTensor: Tensor | null = null;

  constructor(backend: Backend, cfg: Conv2dConfig, init: ParamInit) {
    super();
    const { inChannels, outChannels, kernelSize } = cfg;
    this.stride = cfg.stride ?? 1;
    this.padding = cfg.padding ?? 0;
    const bound = fanInBound(inChannels * kernelSize * kernelSize);
    this.weight = this.registerParameter('weight', uniformParam(backend, init, [outChannels, inChannels, kernelSize, kernelSize], bound));
    this.bias = (cfg.bias ?? true) ? this.registerParameter('bias', uniformParam(backend, init, [outChannels], bound)) : null;
  }

  /**
   * The soft mask multiplying the weight in the forward pass, or null. Setting one hands it to the
   * module: replacing, clearing (null), folding or disposing the module disposes it.
   */
  get mask(): Tensor | null {
    return this.maskTensor;
  }

  set mask(m: Tensor | null) {
    if (m === this.maskTensor) return;
    if (m) {
      m.assertAlive();
      const want = this.weight.shape;
      if (m.rank !== want.length || m.shape.some((d, i) => d !== want[i])) {
        throw new Error(`Conv2d mask must have the weight's shape [${want.join(', ')}], got [${m.shape.join(', ')}]`);
      }
      if (m.dtype !== 'float32') throw new Error('Conv2d mask must be a float tensor');
      if (m.backend !== this.weight.backend) throw new Error('Conv2d mask lives on another backend than the weight');
      keep(m);
    }
    this.maskTensor?.dispose();
    this.maskTensor = m;
  }

  /** The weight the forward uses: weight * mask when masked. */
  effectiveWeight(): Tensor {
    return this.maskTensor ? mul(this.weight, this.maskTensor) : this.weight;
  }

  /** Bakes the mask into the weight (weight <- weight * mask) and removes it. */
  foldMask(): void {
    const m = this.maskTensor;
    if (!m) return;
    noGrad(() => tidy(() => assign(this.weight, mul(this.weight, m))));
    this.mask = null;
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.effectiveWeight(), this.bias, { stride: this.stride, padding: this.padding });
  }

  protected override disposeOwn(): void {
    super.disposeOwn();
    this.mask = null;
  }
}
