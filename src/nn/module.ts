/**
 * The module system: a tree of modules, each holding named parameters, buffers and children, with
 * PyTorch's naming (`layer2.0.shortcut.1.running_mean`) so state dicts cross over unchanged.
 *
 * Lifetimes: parameters and buffers are created outside every scope (`keep`) and live until the
 * module's `dispose()`; a model built inside `tidy` therefore survives it.
 */
import type { Tensor } from '../tensor/tensor.js';
import { keep } from '../tensor/scope.js';
import {
  loadIntoSlots,
  readSlots,
  tensorSlot,
  type LoadOptions,
  type LoadReport,
  type StateDict,
  type StateDictLike,
  type StateSlot,
} from './state-dict.js';

interface BufferEntry {
  tensor: Tensor;
  /** Non-persistent buffers (input normalisation constants) stay out of the state dict, as in PyTorch. */
  persistent: boolean;
}

const join = (prefix: string, name: string): string => (prefix ? `${prefix}.${name}` : name);

export abstract class Module {
  training = true;
  private readonly params = new Map<string, Tensor>();
  private readonly buffers = new Map<string, BufferEntry>();
  private readonly children = new Map<string, Module>();

  abstract forward(x: Tensor): Tensor;

  /** The class name, for error messages. */
  get typeName(): string {
    return this.constructor.name;
  }

  protected registerParameter(name: string, t: Tensor): Tensor {
    this.claimName(name);
    keep(t);
    if (t.dtype !== 'float32') throw new Error(`${this.typeName}: parameter '${name}' must be a float tensor`);
    // Parameters are leaves that want gradients until frozen, as in PyTorch.
    t.requiresGrad = true;
    this.params.set(name, t);
    return t;
  }

  protected registerBuffer(name: string, t: Tensor, persistent = true): Tensor {
    this.claimName(name);
    keep(t);
    this.buffers.set(name, { tensor: t, persistent });
    return t;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    this.claimName(name);
    this.children.set(name, m);
    return m;
  }

  private claimName(name: string): void {
    if (!name || name.includes('.')) throw new Error(`${this.typeName}: invalid member name '${name}'`);
    if (this.params.has(name) || this.buffers.has(name) || this.children.has(name)) {
      throw new Error(`${this.typeName}: '${name}' is already registered`);
    }
  }

  namedChildren(): Array<[string, Module]> {
    return [...this.children];
  }

  /** This module (named '' or `prefix`) and every descendant, depth first in registration order. */
  namedModules(prefix = ''): Array<[string, Module]> {
    const out: Array<[string, Module]> = [[prefix, this]];
    for (const [name, child] of this.children) out.push(...child.namedModules(join(prefix, name)));
    return out;
  }

  namedParameters(): Array<[string, Tensor]> {
    const out: Array<[string, Tensor]> = [];
    for (const [prefix, m] of this.namedModules()) for (const [name, t] of m.params) out.push([join(prefix, name), t]);
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Every buffer, persistent or not (like PyTorch's named_buffers). */
  namedBuffers(): Array<[string, Tensor]> {
    const out: Array<[string, Tensor]> = [];
    for (const [prefix, m] of this.namedModules()) for (const [name, b] of m.buffers) out.push([join(prefix, name), b.tensor]);
    return out;
  }

  /** The state-dict entries this module itself owns (not its children's); subclasses add extra state. */
  protected ownStateSlots(): Array<[string, StateSlot]> {
    const out: Array<[string, StateSlot]> = [];
    for (const [name, t] of this.params) out.push([name, tensorSlot(t)]);
    for (const [name, b] of this.buffers) if (b.persistent) out.push([name, tensorSlot(b.tensor)]);
    return out;
  }

  /** Every state-dict key of the tree, in PyTorch's order, with where it reads and writes. */
  stateSlots(): Map<string, StateSlot> {
    const out = new Map<string, StateSlot>();
    for (const [prefix, m] of this.namedModules()) for (const [name, slot] of m.ownStateSlots()) out.set(join(prefix, name), slot);
    return out;
  }

  /** Key -> shape of the state dict, without reading any values. */
  stateShapes(): Map<string, readonly number[]> {
    return new Map([...this.stateSlots()].map(([k, s]) => [k, s.shape]));
  }

  /** Copies parameters and persistent buffers to the host under PyTorch's names. */
  stateDict(): Promise<StateDict> {
    return readSlots(this.stateSlots());
  }

  /** Overwrites values in place. Throws StateDictError naming every missing, unexpected or mis-shaped key. */
  loadStateDict(source: StateDictLike, opts: LoadOptions = {}): LoadReport {
    return loadIntoSlots(this.typeName, this.stateSlots(), source, opts);
  }

  train(on = true): this {
    for (const [, m] of this.namedModules()) m.training = on;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Sets requiresGrad on every parameter: false freezes the weights (AWM trains only masks). */
  setRequiresGrad(on: boolean): this {
    for (const p of this.parameters()) p.requiresGrad = on;
    return this;
  }

  /** Drops every parameter's gradient. */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Labels each parameter and buffer tensor with its state-dict name, for error messages. */
  nameTensors(): this {
    for (const [name, t] of [...this.namedParameters(), ...this.namedBuffers()]) t.name = name;
    return this;
  }

  /** Frees every parameter, buffer (and gradient); the module is unusable afterwards. */
  dispose(): void {
    for (const [, m] of this.namedModules()) m.disposeOwn();
  }

  /** Frees what this module owns beyond registered tensors (subclasses extend it). */
  protected disposeOwn(): void {
    for (const t of this.params.values()) t.dispose();
    for (const b of this.buffers.values()) b.tensor.dispose();
  }
}
