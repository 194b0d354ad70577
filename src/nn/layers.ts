/** Parameter-free layers: activation, pooling, flattening and input normalisation. */
import type { Backend } from '../tensor/backend.js';
import type { Tensor } from '../tensor/tensor.js';
import { tensor } from '../ops/create.js';
import { div, relu, sub } from '../ops/elementwise.js';
import { avgPool2d, globalAvgPool2d, maxPool2d, type Pool2dOptions } from '../ops/conv.js';
import { flatten } from '../ops/layout.js';
import { Module } from './module.js';

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

export class MaxPool2d extends Module {
  constructor(readonly options: Pool2dOptions) {
    super();
  }
  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.options);
  }
}

export class AvgPool2d extends Module {
  constructor(readonly options: Pool2dOptions) {
    super();
  }
  forward(x: Tensor): Tensor {
    return avgPool2d(x, this.options);
  }
}

/** Mean over H and W: [N, C, H, W] -> [N, C] (PyTorch's AdaptiveAvgPool2d(1) followed by flatten). */
export class GlobalAvgPool2d extends Module {
  forward(x: Tensor): Tensor {
    return globalAvgPool2d(x);
  }
}

/** torch.flatten(x, startDim). */
export class Flatten extends Module {
  constructor(readonly startDim = 1) {
    super();
  }
  forward(x: Tensor): Tensor {
    return flatten(x, this.startDim);
  }
}

export interface NormalizeSpec {
  mean: readonly number[];
  std: readonly number[];
}

/**
 * (x - mean) / std per channel. It sits inside a model so that attacks and defenses work on pixels
 * in [0, 1]; its constants are non-persistent buffers, so state dicts keep PyTorch's key set (a
 * saved model records them in the file's metadata instead).
 */
export class Normalize extends Module {
  readonly mean: Tensor;
  readonly std: Tensor;

  constructor(backend: Backend, readonly spec: NormalizeSpec) {
    super();
    const c = spec.mean.length;
    if (c === 0 || spec.std.length !== c) throw new Error(`Normalize: mean and std need the same non-zero length, got ${c} and ${spec.std.length}`);
    if (spec.std.some((s) => !(s > 0))) throw new Error(`Normalize: std must be positive, got [${spec.std.join(', ')}]`);
    this.mean = this.registerBuffer('mean', tensor(backend, spec.mean, [1, c, 1, 1]), false);
    this.std = this.registerBuffer('std', tensor(backend, spec.std, [1, c, 1, 1]), false);
  }

  forward(x: Tensor): Tensor {
    const c = this.spec.mean.length;
    if (x.rank !== 4 || (c !== 1 && x.shape[1] !== c)) throw new Error(`Normalize: expected NCHW input with ${c} channels, got [${x.shape.join(', ')}]`);
    return div(sub(x, this.mean), this.std);
  }
}
