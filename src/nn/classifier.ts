/** Base of the image classifiers: optional input normalisation, then the network's logits. */
import type { Backend } from '../tensor/backend.js';
import type { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';
import { Normalize } from './layers.js';
import { assertSpec, type ModelSpec } from './spec.js';

export abstract class Classifier extends Module {
  readonly spec: ModelSpec;
  readonly normalize: Normalize | null;

  constructor(backend: Backend, spec: ModelSpec) {
    super();
    assertSpec(spec);
    this.spec = { ...spec };
    this.normalize = spec.normalize ? this.registerModule('normalize', new Normalize(backend, spec.normalize)) : null;
  }

  /** Logits [N, classes] of pixel-space inputs [N, C, H, W]. */
  forward(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.spec.inChannels) {
      throw new Error(`${this.spec.arch}: expected input [N, ${this.spec.inChannels}, H, W], got [${x.shape.join(', ')}]`);
    }
    return this.logits(this.normalize ? this.normalize.forward(x) : x);
  }

  /** The network proper, on normalised inputs. */
  protected abstract logits(x: Tensor): Tensor;
}
