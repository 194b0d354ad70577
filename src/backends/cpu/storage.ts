/** CPU storages: a typed array plus the checks every primitive runs on its inputs. */
import type { DType, FloatArray, HostArray, Storage } from '../../tensor/backend.js';

export type CpuPrecision = 'float32' | 'float64';

export class CpuStorage implements Storage {
  /** Set by `release`; any later use is a caller bug that should fail loudly, not read stale data. */
  released = false;

  constructor(
    readonly data: HostArray,
    readonly dtype: DType,
  ) {}

  get length(): number {
    return this.data.length;
  }
}

export function asCpu(s: Storage, what: string): CpuStorage {
  if (!(s instanceof CpuStorage)) throw new Error(`${what}: storage does not belong to the CPU backend`);
  if (s.released) throw new Error(`${what}: storage was already released`);
  return s;
}

export function floatData(s: Storage, what: string): FloatArray {
  const c = asCpu(s, what);
  if (c.dtype !== 'float32') throw new Error(`${what}: expected a float32 storage, got ${c.dtype}`);
  return c.data as FloatArray;
}

export function intData(s: Storage, what: string): Int32Array {
  const c = asCpu(s, what);
  if (c.dtype !== 'int32') throw new Error(`${what}: expected an int32 storage, got ${c.dtype}`);
  return c.data as Int32Array;
}

/** Typed arrays read out of range as undefined (NaN) silently, so sizes are checked up front. */
export function expectLength(actual: number, expected: number, what: string): void {
  if (actual !== expected) throw new Error(`${what}: expected ${expected} elements, got ${actual}`);
}
