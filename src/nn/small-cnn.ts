/**
 * SmallCNN ("small-cnn"): a quick model for tests and the demo. With width w (default 16) and a
 * square input of side s (default 32), its PyTorch equivalent is
 *
 *   conv1 = Conv2d(c, w, 3, padding=1, bias=False); bn1 = BatchNorm2d(w)
 *   conv2 = Conv2d(w, 2w, 3, padding=1, bias=False); bn2 = BatchNorm2d(2w)
 *   fc1 = Linear(2w * (s//4)**2, 128); fc2 = Linear(128, classes)
 *   forward: maxpool2(relu(bn1(conv1(x)))) -> maxpool2(relu(bn2(conv2(.)))) -> flatten -> relu(fc1) -> fc2
 *
 * The convs drop their bias because a BatchNorm follows each one.
 */
import type { Backend } from '../tensor/backend.js';
import type { Tensor } from '../tensor/tensor.js';
import { relu } from '../ops/elementwise.js';
import { maxPool2d } from '../ops/conv.js';
import { flatten } from '../ops/layout.js';
import { Conv2d } from './conv.js';
import { BatchNorm2d } from './batchnorm.js';
import { Linear } from './linear.js';
import { Classifier } from './classifier.js';
import type { ParamInit } from './init.js';
import type { ModelSpec } from './spec.js';

export const SMALL_CNN_HIDDEN = 128;

export class SmallCNN extends Classifier {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(backend: Backend, spec: ModelSpec, init: ParamInit) {
    const inputSize = spec.inputSize ?? 32;
    super(backend, { ...spec, arch: 'small-cnn', inputSize });
    const w = spec.width;
    const conv = (cIn: number, cOut: number) => new Conv2d(backend, { inChannels: cIn, outChannels: cOut, kernelSize: 3, padding: 1, bias: false }, init);
    this.conv1 = this.registerModule('conv1', conv(spec.inChannels, w));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(backend, w));
    this.conv2 = this.registerModule('conv2', conv(w, 2 * w));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(backend, 2 * w));
    const side = Math.floor(Math.floor(inputSize / 2) / 2);
    this.fc1 = this.registerModule('fc1', new Linear(backend, 2 * w * side * side, SMALL_CNN_HIDDEN, init));
    this.fc2 = this.registerModule('fc2', new Linear(backend, SMALL_CNN_HIDDEN, spec.numClasses, init));
    this.nameTensors();
  }

  protected logits(x: Tensor): Tensor {
    const s = this.spec.inputSize!;
    if (x.shape[2] !== s || x.shape[3] !== s) throw new Error(`small-cnn: built for ${s}x${s} inputs, got ${x.shape[2]}x${x.shape[3]}`);
    let out = maxPool2d(this.bn1.forward(this.conv1.forward(x), { relu: true }), { kernel: 2 });
    out = maxPool2d(this.bn2.forward(this.conv2.forward(out), { relu: true }), { kernel: 2 });
    return this.fc2.forward(relu(this.fc1.forward(flatten(out))));
  }
}
