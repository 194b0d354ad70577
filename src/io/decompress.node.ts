/** Node decompressors backed by node:zlib (faster than the stream API and synchronous underneath). */

import { gunzipSync, inflateSync } from 'node:zlib';
import type { Decompressor } from './decompress.js';

export function gunzipNodeSync(bytes: Uint8Array): Uint8Array {
  return toPlainBytes(gunzipSync(bytes));
}

export function inflateNodeSync(bytes: Uint8Array): Uint8Array {
  return toPlainBytes(inflateSync(bytes));
}

export const gunzipNode: Decompressor = async (bytes) => gunzipNodeSync(bytes);
export const inflateNode: Decompressor = async (bytes) => inflateNodeSync(bytes);

/** Views a Buffer as a plain Uint8Array so downstream code never depends on Buffer semantics. */
function toPlainBytes(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}
