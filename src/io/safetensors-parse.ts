/** Safetensors reader with the validation the format specification demands. */

import { errorPrefix } from './bytes.js';
import { ParseError } from './parse-error.js';
import { decodeTensorBytes } from './safetensors-decode.js';
import {
  DTYPE_BYTES,
  MAX_HEADER_BYTES,
  METADATA_KEY,
  type SafetensorsFile,
  type SafetensorsTensor,
} from './safetensors-types.js';

interface TensorEntry {
  name: string;
  dtype: string;
  shape: number[];
  start: number;
  end: number;
}

/**
 * Parses a complete safetensors file.
 * Data types: F32/F16/BF16 → Float32Array, F64 → Float64Array, integer and BOOL dtypes → Int32Array
 * (I64/U32 values outside the int32 range are an error). Each `dtype` field keeps the stored dtype.
 * `source` (usually the file name) is included in every error message; every refusal is a ParseError.
 */
export function parseSafetensors(bytes: Uint8Array, source?: string): SafetensorsFile {
  const fail = (message: string): Error => new ParseError(errorPrefix('safetensors', source) + message);
  const { header, dataStart } = readHeader(bytes, fail);
  const dataLength = bytes.length - dataStart;

  const metadata: Record<string, string> = {};
  const entries: TensorEntry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === METADATA_KEY) Object.assign(metadata, readMetadata(value, fail));
    else entries.push(readEntry(name, value, dataLength, fail));
  }
  checkCoverage(entries, dataLength, fail);

  const tensors = new Map<string, SafetensorsTensor>();
  for (const entry of entries) {
    const raw = bytes.subarray(dataStart + entry.start, dataStart + entry.end);
    const numel = product(entry.shape);
    const tensorFail = (message: string): Error => fail(`tensor "${entry.name}": ${message}`);
    const data = decodeTensorBytes(raw, entry.dtype, numel, tensorFail);
    tensors.set(entry.name, { dtype: entry.dtype, shape: entry.shape, data });
  }
  return { tensors, metadata };
}

function readHeader(
  bytes: Uint8Array,
  fail: (message: string) => Error,
): { header: Record<string, unknown>; dataStart: number } {
  if (bytes.length < 8) {
    throw fail(`file is ${bytes.length} bytes, shorter than the 8-byte header length prefix`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const low = view.getUint32(0, true);
  const high = view.getUint32(4, true);
  const headerLength = high * 2 ** 32 + low;
  if (headerLength > MAX_HEADER_BYTES) {
    throw fail(`header length ${headerLength} exceeds the cap of ${MAX_HEADER_BYTES} bytes`);
  }
  if (8 + headerLength > bytes.length) {
    throw fail(`header length ${headerLength} exceeds the ${bytes.length - 8} bytes that follow the prefix`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
  } catch {
    throw fail('header is not valid UTF-8');
  }
  if (!text.startsWith('{')) throw fail(`header must start with "{", found ${JSON.stringify(text.slice(0, 16))}`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (error) {
    throw fail(`header is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw fail('header JSON is not an object');
  }
  return { header: header as Record<string, unknown>, dataStart: 8 + headerLength };
}

function readMetadata(value: unknown, fail: (message: string) => Error): Record<string, string> {
  // The reference implementation treats a null __metadata__ as absent.
  if (value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw fail(`"${METADATA_KEY}" must be an object`);
  const metadata: Record<string, string> = {};
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    if (typeof item !== 'string') {
      throw fail(`"${METADATA_KEY}" value for "${key}" must be a string, got ${describe(item)}`);
    }
    metadata[key] = item;
  }
  return metadata;
}

function readEntry(
  name: string,
  value: unknown,
  dataLength: number,
  fail: (message: string) => Error,
): TensorEntry {
  const tensorFail = (message: string): Error => fail(`tensor "${name}": ${message}`);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw tensorFail('entry must be an object with dtype, shape and data_offsets');
  }
  const info = value as Record<string, unknown>;
  const dtype = info.dtype;
  if (typeof dtype !== 'string') throw tensorFail(`dtype must be a string, got ${describe(dtype)}`);
  const elementBytes = DTYPE_BYTES[dtype];
  if (elementBytes === undefined) {
    throw tensorFail(`unknown dtype "${dtype}" (supported: ${Object.keys(DTYPE_BYTES).join(', ')})`);
  }
  const shape = info.shape;
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
    throw tensorFail(`shape must be an array of non-negative integers, got ${describe(shape)}`);
  }
  const offsets = info.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
    throw tensorFail(`data_offsets must be [start, end] non-negative integers, got ${describe(offsets)}`);
  }
  const [start, end] = offsets as [number, number];
  if (end < start) throw tensorFail(`data_offsets end ${end} is before start ${start}`);
  if (end > dataLength) {
    throw tensorFail(`data_offsets [${start}, ${end}] reach past the ${dataLength}-byte data buffer`);
  }
  const expected = product(shape) * elementBytes;
  if (end - start !== expected) {
    throw tensorFail(
      `byte length ${end - start} does not match shape [${shape.join(', ')}] × ${elementBytes} bytes (${dtype}) = ${expected}`,
    );
  }
  return { name, dtype, shape: shape.slice() as number[], start, end };
}

/** The specification requires the tensors to tile the data buffer exactly: no overlap, no unused bytes. */
function checkCoverage(entries: TensorEntry[], dataLength: number, fail: (message: string) => Error): void {
  const sorted = entries.slice().sort((a, b) => a.start - b.start || a.end - b.end);
  let covered = 0;
  let previous: TensorEntry | undefined;
  for (const entry of sorted) {
    if (entry.start < covered) {
      throw fail(`tensor "${entry.name}" [${entry.start}, ${entry.end}] overlaps tensor "${previous?.name}" ending at ${covered}`);
    }
    if (entry.start > covered) {
      throw fail(`data bytes [${covered}, ${entry.start}) before tensor "${entry.name}" are not covered by any tensor`);
    }
    covered = entry.end;
    previous = entry;
  }
  if (covered !== dataLength) {
    throw fail(`data bytes [${covered}, ${dataLength}) at the end of the buffer are not covered by any tensor`);
  }
}

function isNonNegativeInteger(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function product(shape: readonly number[]): number {
  let total = 1;
  for (const dim of shape) total *= dim;
  return total;
}

function describe(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    // JSON.parse accepts nesting deeper than JSON.stringify's recursion can walk back.
    return Array.isArray(value) ? 'an array nested too deeply to show' : 'an object nested too deeply to show';
  }
  if (text === undefined) return String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
