/**
 * BatchNorm2d with PyTorch's state: `weight`, `bias`, `running_mean`, `running_var` and the int64
 * counter `num_batches_tracked`. The counter lives on the host (it never feeds a kernel, since the
 * momentum is fixed) and is optional in both directions: a source without it loads, and the flag
 * `tracksBatches` then keeps it out of saved state dicts so the file mirrors its source.
 */
import type { Backend } from '../tensor/backend.js';
import type { Tensor } from '../tensor/tensor.js';
import { full } from '../ops/create.js';
import { batchNorm } from '../ops/norm.js';
import { Module } from './module.js';
import { tensorSlot, type HostTensor, type StateSlot } from './state-dict.js';

export interface BatchNormConfig {
  eps?: number;
  momentum?: number;
}

export class BatchNorm2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly eps: number;
  readonly momentum: number;
  numBatchesTracked = 0;
  /** Whether `num_batches_tracked` is part of the state dict (PyTorch's default, cleared by loading a source without it). */
  tracksBatches = true;
  /**
   * Replaces the affine terms for the next forwards (ANP's masked and perturbed BatchNorm builds
   * them from its own per-channel masks and noises); null uses this module's parameters.
   */
  affineOverride: (() => { weight: Tensor; bias: Tensor }) | null = null;

  constructor(backend: Backend, readonly numFeatures: number, cfg: BatchNormConfig = {}) {
    super();
    this.eps = cfg.eps ?? 1e-5;
    this.momentum = cfg.momentum ?? 0.1;
    this.weight = this.registerParameter('weight', full(backend, [numFeatures], 1));
    this.bias = this.registerParameter('bias', full(backend, [numFeatures], 0));
    this.runningMean = this.registerBuffer('running_mean', full(backend, [numFeatures], 0));
    this.runningVar = this.registerBuffer('running_var', full(backend, [numFeatures], 1));
  }

  /** bn(x), or with `then` the fused relu(bn(x) + residual) that ends a ResNet block (see ops' batchNorm). */
  forward(x: Tensor, then: { relu?: boolean; residual?: Tensor } = {}): Tensor {
    const affine = this.affineOverride?.() ?? { weight: this.weight, bias: this.bias };
    const y = batchNorm(x, affine.weight, affine.bias, { mean: this.runningMean, var: this.runningVar }, {
      training: this.training,
      eps: this.eps,
      momentum: this.momentum,
      relu: then.relu,
      residual: then.residual,
    });
    if (this.training) this.numBatchesTracked++;
    return y;
  }

  protected override ownStateSlots(): Array<[string, StateSlot]> {
    return [
      ['weight', tensorSlot(this.weight)],
      ['bias', tensorSlot(this.bias)],
      ['running_mean', tensorSlot(this.runningMean)],
      ['running_var', tensorSlot(this.runningVar)],
      ['num_batches_tracked', this.counterSlot()],
    ];
  }

  private counterSlot(): StateSlot {
    return {
      shape: [],
      kind: 'int64',
      optional: true,
      included: () => this.tracksBatches,
      read: async (): Promise<HostTensor> => ({ shape: [], data: Int32Array.of(this.numBatchesTracked), dtype: 'I64' }),
      write: (value) => {
        // loadIntoSlots has checked that it is a non-negative integer.
        this.numBatchesTracked = value.data[0]!;
        this.tracksBatches = true;
      },
      markAbsent: () => {
        this.tracksBatches = false;
      },
    };
  }
}
