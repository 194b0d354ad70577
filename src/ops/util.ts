/** Small helpers every op file shares: views, wrapping storages, argument checks. */
import type { Backend, StridedView } from '../tensor/backend.js';
import { Tensor } from '../tensor/tensor.js';
import { broadcastStrides, contiguousStrides, type Shape } from '../tensor/shape.js';

export function contiguousView(t: Tensor): StridedView {
  return { storage: t.storage, shape: t.shape, strides: contiguousStrides(t.shape), offset: 0 };
}

/** Reads contiguous `t` as if broadcast to `outShape`. */
export function broadcastView(t: Tensor, outShape: Shape): StridedView {
  return { storage: t.storage, shape: outShape, strides: broadcastStrides(t.shape, outShape), offset: 0 };
}

export function wrap(backend: Backend, storage: import('../tensor/backend.js').Storage, shape: Shape): Tensor {
  return Tensor.fromStorage(backend, storage, shape);
}

export function sameBackend(op: string, ...ts: Tensor[]): Backend {
  const b = ts[0]!.backend;
  for (const t of ts) {
    t.assertAlive();
    if (t.backend !== b) throw new Error(`${op}: tensors live on different backends (${b.info.name} and ${t.backend.info.name})`);
  }
  return b;
}

export function assertFloat(op: string, ...ts: Tensor[]): void {
  for (const t of ts) if (t.dtype !== 'float32') throw new Error(`${op}: expected a float tensor, got ${t.dtype} of shape [${t.shape.join(', ')}]`);
}

export function shapeStr(s: Shape): string {
  return `[${s.join(', ')}]`;
}
