/**
 * The CIFAR ResNet-18 of the backdoor literature (kuangliu/pytorch-cifar, used by ANP, AWM and
 * BackdoorBox): a 3x3 stride-1 stem without bias, BN, ReLU and no max-pool; BasicBlocks [2,2,2,2]
 * of widths w, 2w, 4w, 8w with strides 1, 2, 2, 2; a 1x1 conv + BN `shortcut` where the stride or
 * width changes; global average pooling; a `linear` head. Key names match kuangliu's exactly.
 */
import type { Backend } from '../tensor/backend.js';
import type { Tensor } from '../tensor/tensor.js';
import { globalAvgPool2d } from '../ops/conv.js';
import { Module } from './module.js';
import { Conv2d } from './conv.js';
import { BatchNorm2d } from './batchnorm.js';
import { Linear } from './linear.js';
import { Sequential } from './sequential.js';
import { Classifier } from './classifier.js';
import type { ParamInit } from './init.js';
import type { ModelSpec } from './spec.js';

export const RESNET18_BLOCKS = [2, 2, 2, 2] as const;

export function conv3x3(backend: Backend, cIn: number, cOut: number, stride: number, init: ParamInit): Conv2d {
  return new Conv2d(backend, { inChannels: cIn, outChannels: cOut, kernelSize: 3, stride, padding: 1, bias: false }, init);
}

export function conv1x1(backend: Backend, cIn: number, cOut: number, stride: number, init: ParamInit): Conv2d {
  return new Conv2d(backend, { inChannels: cIn, outChannels: cOut, kernelSize: 1, stride, padding: 0, bias: false }, init);
}

export class BasicBlock extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  /** Empty (identity) unless the block changes stride or width. */
  readonly shortcut: Sequential;

  constructor(backend: Backend, cIn: number, cOut: number, stride: number, init: ParamInit) {
    super();
    this.conv1 = this.registerModule('conv1', conv3x3(backend, cIn, cOut, stride, init));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(backend, cOut));
    this.conv2 = this.registerModule('conv2', conv3x3(backend, cOut, cOut, 1, init));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(backend, cOut));
    this.shortcut = this.registerModule('shortcut', new Sequential());
    if (stride !== 1 || cIn !== cOut) {
      this.shortcut.append(conv1x1(backend, cIn, cOut, stride, init)).append(new BatchNorm2d(backend, cOut));
    }
  }

  forward(x: Tensor): Tensor {
    const out = this.bn1.forward(this.conv1.forward(x), { relu: true });
    return this.bn2.forward(this.conv2.forward(out), { relu: true, residual: this.shortcut.forward(x) });
  }
}

/** Stages of `blocks` blocks; the first block of each stage carries its stride. */
export function makeStage<B extends Module>(blocks: number, stride: number, make: (stride: number, first: boolean) => B): Sequential {
  const stage = new Sequential();
  for (let i = 0; i < blocks; i++) stage.append(make(i === 0 ? stride : 1, i === 0));
  return stage;
}

export class ResNet18 extends Classifier {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly layers: readonly Sequential[];
  readonly linear: Linear;

  constructor(backend: Backend, spec: ModelSpec, init: ParamInit) {
    super(backend, { ...spec, arch: 'resnet18' });
    const w = spec.width;
    this.conv1 = this.registerModule('conv1', conv3x3(backend, spec.inChannels, w, 1, init));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(backend, w));
    const layers: Sequential[] = [];
    let cIn = w;
    RESNET18_BLOCKS.forEach((n, i) => {
      const cOut = w * 2 ** i;
      layers.push(this.registerModule(`layer${i + 1}`, makeStage(n, i === 0 ? 1 : 2, (s, first) => new BasicBlock(backend, first ? cIn : cOut, cOut, s, init))));
      cIn = cOut;
    });
    this.layers = layers;
    this.linear = this.registerModule('linear', new Linear(backend, 8 * w, spec.numClasses, init));
    this.nameTensors();
  }

  protected logits(x: Tensor): Tensor {
    let out = this.bn1.forward(this.conv1.forward(x), { relu: true });
    for (const layer of this.layers) out = layer.forward(out);
    return this.linear.forward(globalAvgPool2d(out));
  }
}
