/**
 * Tensor: a shape, a dtype, a backend storage (shared by reshape views through a reference count)
 * and, when it takes part in autograd, the node that produced it. Ops live in src/ops as plain
 * functions; this class only holds data and lifetimes.
 */
import type { Backend, DType, HostArray, Storage } from './backend.js';
import { sizeOf, type Shape } from './shape.js';
import { trackInScope, type Disposable } from './scope.js';

/** How a tensor was computed, for reverse-mode autograd (see src/autograd). */
export interface GradNode {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /** Given d(loss)/d(output), returns d(loss)/d(input) for each input (null where none flows). */
  backward(gradOutput: Tensor): Array<Tensor | null>;
}

class SharedStorage {
  refs = 1;
  constructor(readonly backend: Backend, readonly storage: Storage) {}
  retain(): this {
    this.refs++;
    return this;
  }
  releaseRef(): void {
    if (--this.refs === 0) this.backend.release(this.storage);
  }
}

let nextId = 1;

export class Tensor implements Disposable {
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly size: number;
  requiresGrad = false;
  /** Accumulated gradient of a leaf that requires grad (kept alive across scopes). */
  grad: Tensor | null = null;
  /** Set by ops when gradients flow through this tensor. */
  node: GradNode | null = null;
  /** Optional label for errors and debugging (e.g. a parameter name). */
  name: string | undefined;
  private shared: SharedStorage;
  private _disposed = false;

  private constructor(readonly backend: Backend, shared: SharedStorage, shape: Shape, readonly dtype: DType) {
    this.shape = Object.freeze([...shape]);
    this.size = sizeOf(shape);
    if (shared.storage.length !== this.size) {
      throw new Error(`internal: storage of ${shared.storage.length} elements for shape [${shape.join(', ')}]`);
    }
    this.shared = shared;
    trackInScope(this);
  }

  /** Wraps a freshly allocated storage; the tensor takes ownership. */
  static fromStorage(backend: Backend, storage: Storage, shape: Shape): Tensor {
    return new Tensor(backend, new SharedStorage(backend, storage), shape, storage.dtype);
  }

  /** A tensor viewing the same contiguous storage with another shape of equal size. */
  static view(t: Tensor, shape: Shape): Tensor {
    t.assertAlive();
    if (sizeOf(shape) !== t.size) throw new Error(`cannot view a tensor of shape [${t.shape.join(', ')}] as [${shape.join(', ')}]`);
    return new Tensor(t.backend, t.shared.retain(), shape, t.dtype);
  }

  get rank(): number {
    return this.shape.length;
  }

  get disposed(): boolean {
    return this._disposed;
  }

  get storage(): Storage {
    this.assertAlive();
    return this.shared.storage;
  }

  assertAlive(): void {
    if (this._disposed) throw new Error(`tensor${this.name ? ` '${this.name}'` : ''} of shape [${this.shape.join(', ')}] was used after dispose()`);
  }

  /** Copies the values to the host (float32/float64 or int32, row-major). */
  async data(): Promise<HostArray> {
    this.assertAlive();
    return this.backend.read(this.shared.storage);
  }

  /** Values as a plain number array (for small tensors, tests and reports). */
  async toArray(): Promise<number[]> {
    return Array.from(await this.data());
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item() needs a one-element tensor, got shape [${this.shape.join(', ')}]`);
    return (await this.data())[0]!;
  }

  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    this.shared.releaseRef();
    this.node = null;
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
  }

  toString(): string {
    return `Tensor(${this.name ? this.name + ', ' : ''}[${this.shape.join(', ')}], ${this.dtype}, ${this.backend.info.name})`;
  }
}
