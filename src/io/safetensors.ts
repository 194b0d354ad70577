/**
 * Safetensors format: 8-byte little-endian u64 header length N, N bytes of JSON header
 * `{name: {dtype, shape, data_offsets: [start, end]}, "__metadata__": {string: string}}`,
 * then the data buffer that the tensors tile exactly.
 */

export { parseSafetensors } from './safetensors-parse.js';
export { serializeSafetensors } from './safetensors-serialize.js';
export {
  DTYPE_BYTES,
  MAX_HEADER_BYTES,
  type SafetensorsArray,
  type SafetensorsFile,
  type SafetensorsInput,
  type SafetensorsTensor,
  type SafetensorsWriteDtype,
} from './safetensors-types.js';
export { bf16BitsToNumber, f16BitsToNumber } from './half.js';
