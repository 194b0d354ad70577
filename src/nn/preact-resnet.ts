/**
 * PreAct-ResNet18 with BackdoorBench's key names: `conv1`; `layerX.Y.{bn1,conv1,bn2,conv2}` and
 * `layerX.Y.shortcut.0` (a 1x1 conv, no BN) where stride or width changes; a final `bn`; `linear`.
 */
import type { Backend } from '../tensor/backend.js';
import type { Tensor } from '../tensor/tensor.js';
import { add } from '../ops/elementwise.js';
import { globalAvgPool2d } from '../ops/conv.js';
import { Module } from './module.js';
import { Conv2d } from './conv.js';
import { BatchNorm2d } from './batchnorm.js';
import { Linear } from './linear.js';
import { Sequential } from './sequential.js';
import { Classifier } from './classifier.js';
import { RESNET18_BLOCKS, conv1x1, conv3x3, makeStage } from './resnet.js';
import type { ParamInit } from './init.js';
import type { ModelSpec } from './spec.js';

export class PreActBlock extends Module {
  readonly bn1: BatchNorm2d;
  readonly conv1: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly shortcut: Sequential | null;

  constructor(backend: Backend, cIn: number, cOut: number, stride: number, init: ParamInit) {
    super();
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(backend, cIn));
    this.conv1 = this.registerModule('conv1', conv3x3(backend, cIn, cOut, stride, init));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(backend, cOut));
    this.conv2 = this.registerModule('conv2', conv3x3(backend, cOut, cOut, 1, init));
    this.shortcut = stride !== 1 || cIn !== cOut ? this.registerModule('shortcut', new Sequential(conv1x1(backend, cIn, cOut, stride, init))) : null;
  }

  /** The projection shortcut sees the pre-activated input; the identity shortcut sees x itself. */
  forward(x: Tensor): Tensor {
    const pre = this.bn1.forward(x, { relu: true });
    const sc = this.shortcut ? this.shortcut.forward(pre) : x;
    const out = this.conv2.forward(this.bn2.forward(this.conv1.forward(pre), { relu: true }));
    return add(out, sc);
  }
}

export class PreActResNet18 extends Classifier {
  readonly conv1: Conv2d;
  readonly layers: readonly Sequential[];
  readonly bn: BatchNorm2d;
  readonly linear: Linear;

  constructor(backend: Backend, spec: ModelSpec, init: ParamInit) {
    super(backend, { ...spec, arch: 'preact-resnet18' });
    const w = spec.width;
    this.conv1 = this.registerModule('conv1', conv3x3(backend, spec.inChannels, w, 1, init));
    const layers: Sequential[] = [];
    let cIn = w;
    RESNET18_BLOCKS.forEach((n, i) => {
      const cOut = w * 2 ** i;
      layers.push(this.registerModule(`layer${i + 1}`, makeStage(n, i === 0 ? 1 : 2, (s, first) => new PreActBlock(backend, first ? cIn : cOut, cOut, s, init))));
      cIn = cOut;
    });
    this.layers = layers;
    // Registered after the stages, as BackdoorBench does, so state-dict order matches too.
    this.linear = this.registerModule('linear', new Linear(backend, 8 * w, spec.numClasses, init));
    this.bn = this.registerModule('bn', new BatchNorm2d(backend, 8 * w));
    this.nameTensors();
  }

  protected logits(x: Tensor): Tensor {
    let out = this.conv1.forward(x);
    for (const layer of this.layers) out = layer.forward(out);
    return this.linear.forward(globalAvgPool2d(this.bn.forward(out, { relu: true })));
  }
}
