/** Types and the dtype table shared by the safetensors reader and writer. */

/** Typed array kinds this module hands out or accepts. */
export type SafetensorsArray = Float32Array | Float64Array | Int32Array | Uint8Array;

export interface SafetensorsTensor {
  /** The dtype as stored in the file (e.g. "F16"), even when `data` was widened to another type. */
  dtype: string;
  shape: number[];
  data: SafetensorsArray;
}

export interface SafetensorsFile {
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

/** Dtypes the writer can emit. */
export type SafetensorsWriteDtype = 'F32' | 'F64' | 'I32' | 'I64' | 'U8';

export interface SafetensorsInput {
  shape: readonly number[];
  data: SafetensorsArray;
  /** Defaults from the array type: Float32Array→F32, Float64Array→F64, Int32Array→I32, Uint8Array→U8. Int32Array may also be written as I64. */
  dtype?: SafetensorsWriteDtype;
}

/** Bytes per element of each dtype the reader understands. */
export const DTYPE_BYTES: Readonly<Record<string, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  U32: 4,
  I16: 2,
  U16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** The reference implementation refuses headers above this size, so a reader must too. */
export const MAX_HEADER_BYTES = 100_000_000;

export const METADATA_KEY = '__metadata__';
