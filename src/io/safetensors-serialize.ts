/** Safetensors writer: sorted keys, space-padded header, optional string metadata. */

import { LITTLE_ENDIAN_HOST } from './bytes.js';
import {
  METADATA_KEY,
  type SafetensorsArray,
  type SafetensorsInput,
  type SafetensorsWriteDtype,
} from './safetensors-types.js';

const WRITE_BYTES: Record<SafetensorsWriteDtype, number> = { F32: 4, F64: 8, I32: 4, I64: 8, U8: 1 };

interface Planned {
  name: string;
  dtype: SafetensorsWriteDtype;
  shape: number[];
  data: SafetensorsArray;
  start: number;
  end: number;
}

/**
 * Serializes tensors to safetensors bytes. Tensors are laid out in sorted-name order; the header is
 * padded with spaces to a multiple of 8 bytes so that the data section stays 8-byte aligned.
 */
export function serializeSafetensors(
  tensors: Record<string, SafetensorsInput>,
  metadata?: Record<string, string>,
): Uint8Array {
  const plan = planLayout(tensors);
  const headerBytes = encodeHeader(plan, metadata);
  const dataLength = plan.length === 0 ? 0 : plan[plan.length - 1].end;
  const out = new Uint8Array(8 + headerBytes.length + dataLength);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerBytes.length, true);
  view.setUint32(4, 0, true);
  out.set(headerBytes, 8);
  const dataStart = 8 + headerBytes.length;
  for (const entry of plan) writeData(out, view, dataStart + entry.start, entry);
  return out;
}

function planLayout(tensors: Record<string, SafetensorsInput>): Planned[] {
  const plan: Planned[] = [];
  let offset = 0;
  for (const name of Object.keys(tensors).sort()) {
    const fail = (message: string): Error => new Error(`serializeSafetensors: tensor "${name}": ${message}`);
    if (name === METADATA_KEY) throw fail(`"${METADATA_KEY}" is reserved for metadata`);
    const { shape, data } = tensors[name];
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw fail(`shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    const numel = shape.reduce((a, b) => a * b, 1);
    if (numel !== data.length) throw fail(`shape [${shape.join(', ')}] has ${numel} elements but data has ${data.length}`);
    const dtype = resolveDtype(tensors[name], fail);
    const end = offset + numel * WRITE_BYTES[dtype];
    plan.push({ name, dtype, shape: shape.slice(), data, start: offset, end });
    offset = end;
  }
  return plan;
}

function resolveDtype(input: SafetensorsInput, fail: (message: string) => Error): SafetensorsWriteDtype {
  const { data, dtype } = input;
  const natural: SafetensorsWriteDtype | undefined =
    data instanceof Float32Array ? 'F32'
    : data instanceof Float64Array ? 'F64'
    : data instanceof Int32Array ? 'I32'
    : data instanceof Uint8Array ? 'U8'
    : undefined;
  if (natural === undefined) throw fail('data must be a Float32Array, Float64Array, Int32Array or Uint8Array');
  if (dtype === undefined || dtype === natural) return natural;
  if (dtype === 'I64' && natural === 'I32') return 'I64';
  throw fail(`dtype ${dtype} cannot be written from a ${data.constructor.name}`);
}

function encodeHeader(plan: Planned[], metadata: Record<string, string> | undefined): Uint8Array {
  // Built by hand because JSON.stringify would move integer-like keys ahead of the sorted order.
  const parts: string[] = [];
  if (metadata !== undefined) {
    const fields = Object.keys(metadata)
      .sort()
      .map((key) => {
        const value = metadata[key];
        if (typeof value !== 'string') {
          throw new Error(`serializeSafetensors: metadata value for "${key}" must be a string, got ${typeof value}`);
        }
        return `${JSON.stringify(key)}:${JSON.stringify(value)}`;
      });
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${fields.join(',')}}`);
  }
  for (const entry of plan) {
    const info = { dtype: entry.dtype, shape: entry.shape, data_offsets: [entry.start, entry.end] };
    parts.push(`${JSON.stringify(entry.name)}:${JSON.stringify(info)}`);
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
  padded.set(json);
  return padded;
}

function writeData(out: Uint8Array, view: DataView, at: number, entry: Planned): void {
  const { data, dtype } = entry;
  if (dtype === 'I64') {
    for (let i = 0; i < data.length; i++) {
      const value = data[i];
      view.setInt32(at + i * 8, value, true);
      view.setInt32(at + i * 8 + 4, value < 0 ? -1 : 0, true);
    }
    return;
  }
  if (LITTLE_ENDIAN_HOST || dtype === 'U8') {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    return;
  }
  const size = WRITE_BYTES[dtype];
  for (let i = 0; i < data.length; i++) {
    if (dtype === 'F32') view.setFloat32(at + i * size, data[i], true);
    else if (dtype === 'F64') view.setFloat64(at + i * size, data[i], true);
    else view.setInt32(at + i * size, data[i], true);
  }
}
