/** Sequential: children named "0", "1", ... applied in order, as in PyTorch. */
import type { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

export class Sequential extends Module {
  private readonly layers: Module[] = [];

  constructor(...modules: Module[]) {
    super();
    for (const m of modules) this.append(m);
  }

  append(m: Module): this {
    this.registerModule(String(this.layers.length), m);
    this.layers.push(m);
    return this;
  }

  get length(): number {
    return this.layers.length;
  }

  at(i: number): Module {
    const m = this.layers[i];
    if (!m) throw new Error(`Sequential: no module at index ${i} (length ${this.layers.length})`);
    return m;
  }

  /** An empty Sequential is the identity (a ResNet shortcut that keeps shape). */
  forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this.layers) y = m.forward(y);
    return y;
  }
}
