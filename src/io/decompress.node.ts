/** Node decompressors backed by node:zlib (faster than the stream API and synchronous underneath). */

import { constants } from 'node:buffer';
import { gunzipSync, inflateSync } from 'node:zlib';
import type { Decompressor } from './decompress.js';

export function gunzipNodeSync(bytes: Uint8Array, maxBytes?: number): Uint8Array {
  return toPlainBytes(gunzipSync(bytes, outputLimit(maxBytes)));
}

export function inflateNodeSync(bytes: Uint8Array, maxBytes?: number): Uint8Array {
  return toPlainBytes(inflateSync(bytes, outputLimit(maxBytes)));
}

export const gunzipNode: Decompressor = async (bytes, maxBytes) => gunzipNodeSync(bytes, maxBytes);
export const inflateNode: Decompressor = async (bytes, maxBytes) => inflateNodeSync(bytes, maxBytes);

/** zlib refuses a maxOutputLength above the largest Buffer, which is no limit anyway. */
function outputLimit(maxBytes: number | undefined): { maxOutputLength?: number } {
  return maxBytes === undefined || maxBytes >= constants.MAX_LENGTH ? {} : { maxOutputLength: Math.max(1, Math.floor(maxBytes)) };
}

/** Views a Buffer as a plain Uint8Array so downstream code never depends on Buffer semantics. */
function toPlainBytes(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}
