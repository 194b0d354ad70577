/** Turns the raw little-endian bytes of one tensor into a JS typed array. */

import { LITTLE_ENDIAN_HOST } from './bytes.js';
import { bf16BitsToNumber, f16BitsToNumber } from './half.js';
import type { SafetensorsArray } from './safetensors-types.js';

/**
 * Decodes `raw` (exactly numel * dtype size bytes) per `dtype`.
 * F64 → Float64Array (kept at full precision; narrow with Float32Array.from if needed),
 * F32/F16/BF16 → Float32Array, every integer and BOOL dtype → Int32Array.
 * `fail` builds the error for a value that does not fit in int32.
 */
export function decodeTensorBytes(
  raw: Uint8Array,
  dtype: string,
  numel: number,
  fail: (message: string) => Error,
): SafetensorsArray {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  switch (dtype) {
    case 'F32':
      if (LITTLE_ENDIAN_HOST) return new Float32Array(copyBytes(raw));
      return fill(new Float32Array(numel), (i) => view.getFloat32(i * 4, true));
    case 'F64':
      if (LITTLE_ENDIAN_HOST) return new Float64Array(copyBytes(raw));
      return fill(new Float64Array(numel), (i) => view.getFloat64(i * 8, true));
    case 'F16':
      return fill(new Float32Array(numel), (i) => f16BitsToNumber(view.getUint16(i * 2, true)));
    case 'BF16':
      return fill(new Float32Array(numel), (i) => bf16BitsToNumber(view.getUint16(i * 2, true)));
    case 'I32':
      if (LITTLE_ENDIAN_HOST) return new Int32Array(copyBytes(raw));
      return fill(new Int32Array(numel), (i) => view.getInt32(i * 4, true));
    case 'I64':
      return decodeI64(view, numel, fail);
    case 'U32':
      return fill(new Int32Array(numel), (i) => {
        const value = view.getUint32(i * 4, true);
        if (value > 0x7fffffff) throw fail(`U32 element ${i} = ${value} is outside the int32 range`);
        return value;
      });
    case 'I16':
      return fill(new Int32Array(numel), (i) => view.getInt16(i * 2, true));
    case 'U16':
      return fill(new Int32Array(numel), (i) => view.getUint16(i * 2, true));
    case 'I8':
      return Int32Array.from(new Int8Array(raw.buffer, raw.byteOffset, raw.byteLength));
    case 'U8':
      return Int32Array.from(raw);
    case 'BOOL':
      // Any non-zero byte means true; normalise so callers can compare with 1.
      return fill(new Int32Array(numel), (i) => (raw[i] !== 0 ? 1 : 0));
    default:
      throw fail(`unknown dtype "${dtype}"`);
  }
}

function decodeI64(view: DataView, numel: number, fail: (message: string) => Error): Int32Array {
  const out = new Int32Array(numel);
  for (let i = 0; i < numel; i++) {
    const low = view.getInt32(i * 8, true);
    const high = view.getInt32(i * 8 + 4, true);
    // The value fits in int32 exactly when the high word is the sign extension of the low word.
    if (high !== low >> 31) {
      const value = view.getBigInt64(i * 8, true);
      throw fail(`I64 element ${i} = ${value} is outside the int32 range`);
    }
    out[i] = low;
  }
  return out;
}

function fill<T extends Float32Array | Float64Array | Int32Array>(out: T, at: (i: number) => number): T {
  for (let i = 0; i < out.length; i++) out[i] = at(i);
  return out;
}

/**
 * A fresh ArrayBuffer holding exactly `raw`'s bytes (aligned for typed-array views). Not
 * `raw.slice()`: on a Node Buffer, slice() returns a view of the same memory, not a copy.
 */
function copyBytes(raw: Uint8Array): ArrayBuffer {
  const out = new Uint8Array(raw.byteLength);
  out.set(raw);
  return out.buffer;
}
