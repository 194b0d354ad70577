/**
 * SGD and Adam with PyTorch's semantics and defaults; each parameter's update is one in-place
 * kernel (backend.sgdUpdate / adamUpdate). State buffers are created lazily and owned here.
 */
import type { Tensor } from '../tensor/tensor.js';
import { zeros } from '../ops/create.js';
import { add, div, mul, sqrt, square, sub } from '../ops/elementwise.js';
import { mean } from '../ops/reduce.js';
import { assign, reshape } from '../ops/layout.js';
import { keep, tidy } from '../tensor/scope.js';
import { noGrad } from '../autograd/engine.js';

export interface Optimizer {
  readonly params: readonly Tensor[];
  lr: number;
  step(): void;
  zeroGrad(): void;
  dispose(): void;
}

abstract class Base implements Optimizer {
  constructor(readonly params: readonly Tensor[], public lr: number) {
    for (const p of params) if (!p.requiresGrad) throw new Error(`optimizer: parameter ${p.name ?? p.toString()} does not require gradients`);
  }
  abstract step(): void;
  /** Drops gradients (PyTorch's set_to_none=True default). */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }
  abstract dispose(): void;
}

export interface SgdOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

export class SGD extends Base {
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  private buffers = new Map<Tensor, Tensor>();

  constructor(params: readonly Tensor[], opts: SgdOptions) {
    super(params, opts.lr);
    this.momentum = opts.momentum ?? 0;
    this.dampening = opts.dampening ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    this.nesterov = opts.nesterov ?? false;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) throw new Error('SGD: nesterov needs momentum > 0 and dampening 0');
  }

  step(): void {
    for (const p of this.params) {
      if (!p.grad) continue;
      let buf: Tensor | null = null;
      let firstStep = false;
      if (this.momentum !== 0) {
        buf = this.buffers.get(p) ?? null;
        if (!buf) {
          buf = keep(zeros(p.backend, p.shape));
          this.buffers.set(p, buf);
          firstStep = true;
        }
      }
      p.backend.sgdUpdate(p.storage, p.grad.storage, buf ? buf.storage : null, {
        lr: this.lr, momentum: this.momentum, dampening: this.dampening, weightDecay: this.weightDecay, nesterov: this.nesterov, firstStep,
      });
    }
  }

  dispose(): void {
    for (const b of this.buffers.values()) b.dispose();
    this.buffers.clear();
  }
}

export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/** What Adam and LayerAdam share: PyTorch's hyper-parameters and defaults, and moment buffers made on first use and owned here. */
abstract class AdamBase extends Base {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  private state = new Map<Tensor, { m: Tensor; v: Tensor; step: number }>();

  constructor(params: readonly Tensor[], opts: AdamOptions) {
    super(params, opts.lr ?? 1e-3);
    [this.beta1, this.beta2] = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
  }

  /** The moments of `p` with its step count advanced: m shaped like p, v shaped `vShape`. */
  protected nextState(p: Tensor, vShape: readonly number[]): { m: Tensor; v: Tensor; step: number } {
    let s = this.state.get(p);
    if (!s) {
      s = { m: keep(zeros(p.backend, p.shape)), v: keep(zeros(p.backend, vShape)), step: 0 };
      this.state.set(p, s);
    }
    s.step++;
    return s;
  }

  dispose(): void {
    for (const s of this.state.values()) {
      s.m.dispose();
      s.v.dispose();
    }
    this.state.clear();
  }
}

export class Adam extends AdamBase {
  readonly weightDecay: number;

  constructor(params: readonly Tensor[], opts: AdamOptions = {}) {
    super(params, opts);
    this.weightDecay = opts.weightDecay ?? 0;
  }

  step(): void {
    for (const p of this.params) {
      if (!p.grad) continue;
      const s = this.nextState(p, p.shape);
      p.backend.adamUpdate(p.storage, p.grad.storage, s.m.storage, s.v.storage, {
        lr: this.lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay, step: s.step,
      });
    }
  }
}

/**
 * Adam with one second moment per tensor instead of per element (as NovoGrad and Adafactor's
 * factored extreme do): m is per element, v is the running mean of the tensor's squared gradient.
 * Elements still move in proportion to their own gradient, so a step changes most the elements
 * the loss pulls hardest on, while per-element Adam moves every element with a nonzero gradient
 * by about lr, however small that gradient. AWM+ offers it for the masks (`--mask-optimizer`):
 * with Adam the masks of every ResNet layer drifted to means of 0.87-0.94 (docs/defenses.md). Composed from ops (no kernel
 * of its own): a few dispatches per tensor and step.
 */
export class LayerAdam extends AdamBase {
  constructor(params: readonly Tensor[], opts: AdamOptions = {}) {
    super(params, opts);
    if (opts.weightDecay) throw new Error('LayerAdam: weight decay is not supported');
  }

  step(): void {
    noGrad(() => tidy(() => {
      for (const p of this.params) {
        if (!p.grad) continue;
        const s = this.nextState(p, [1]);
        const g = p.grad;
        assign(s.m, add(mul(s.m, this.beta1), mul(g, 1 - this.beta1)));
        assign(s.v, add(mul(s.v, this.beta2), mul(reshape(mean(square(g)), [1]), 1 - this.beta2)));
        const mHat = mul(s.m, 1 / (1 - this.beta1 ** s.step));
        const denom = add(sqrt(mul(s.v, 1 / (1 - this.beta2 ** s.step))), this.eps);
        assign(p, sub(p, mul(div(mHat, denom), this.lr)));
      }
    }));
  }
}
