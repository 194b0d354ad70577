/** Linear (fully connected) layer with PyTorch's `weight` [out, in] and `bias` [out]. */
import type { Backend } from '../tensor/backend.js';
import type { Tensor } from '../tensor/tensor.js';
import { add } from '../ops/elementwise.js';
import { transpose } from '../ops/layout.js';
import { matmul } from '../ops/linalg.js';
import { Module } from './module.js';
import { fanInBound, uniformParam, type ParamInit } from './init.js';

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(backend: Backend, readonly inFeatures: number, readonly outFeatures: number, init: ParamInit, bias = true) {
    super();
    const bound = fanInBound(inFeatures);
    this.weight = this.registerParameter('weight', uniformParam(backend, init, [outFeatures, inFeatures], bound));
    this.bias = bias ? this.registerParameter('bias', uniformParam(backend, init, [outFeatures], bound)) : null;
  }

  /** x [N, in] -> [N, out]. */
  forward(x: Tensor): Tensor {
    if (x.rank !== 2 || x.shape[1] !== this.inFeatures) {
      throw new Error(`Linear(${this.inFeatures} -> ${this.outFeatures}): expected input [N, ${this.inFeatures}], got [${x.shape.join(', ')}]`);
    }
    const y = matmul(x, transpose(this.weight));
    return this.bias ? add(y, this.bias) : y;
  }
}
