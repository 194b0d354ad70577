/**
 * SGD and Adam with PyTorch's semantics and defaults; each parameter's update is one in-place
 * kernel (backend.sgdUpdate / adamUpdate). State buffers are created lazily and owned here.
 */
import type { Tensor } from '../tensor/tensor.js';
import { zeros } from '../ops/create.js';
import { keep } from '../tensor/scope.js';

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

export class Adam extends Base {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private state = new Map<Tensor, { m: Tensor; v: Tensor; step: number }>();

  constructor(params: readonly Tensor[], opts: AdamOptions = {}) {
    super(params, opts.lr ?? 1e-3);
    [this.beta1, this.beta2] = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
  }

  step(): void {
    for (const p of this.params) {
      if (!p.grad) continue;
      let s = this.state.get(p);
      if (!s) {
        s = { m: keep(zeros(p.backend, p.shape)), v: keep(zeros(p.backend, p.shape)), step: 0 };
        this.state.set(p, s);
      }
      s.step++;
      p.backend.adamUpdate(p.storage, p.grad.storage, s.m.storage, s.v.storage, {
        lr: this.lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay, step: s.step,
      });
    }
  }

  dispose(): void {
    for (const s of this.state.values()) {
      s.m.dispose();
      s.v.dispose();
    }
    this.state.clear();
  }
}
