/** Browser-safe decompression through the Compression Streams API (also global in Node ≥ 18). */

import { concatBytes } from './bytes.js';

/** 'deflate' is a zlib-wrapped stream (PNG IDAT); 'gzip' is a .gz file. */
export type CompressionFormatName = 'gzip' | 'deflate';

/**
 * Asynchronous decompressor; Node callers can pass the synchronous zlib versions from decompress.node.ts.
 * With `maxBytes` it throws rather than produce more than that many bytes, so a small input that claims
 * to expand enormously (a decompression bomb) costs nothing.
 */
export type Decompressor = (bytes: Uint8Array, maxBytes?: number) => Promise<Uint8Array>;

/** True when `bytes` begin with the gzip magic number 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

export async function decompressStream(bytes: Uint8Array, format: CompressionFormatName, maxBytes = Infinity): Promise<Uint8Array> {
  if (typeof DecompressionStream === 'undefined') {
    throw new Error(`DecompressionStream is not available in this environment; pass a ${format} decompressor explicitly`);
  }
  const stream = new DecompressionStream(format);
  const writer = stream.writable.getWriter();
  // Writing and reading must run concurrently, or back-pressure stalls large inputs.
  const writing = writer.write(new Uint8Array(bytes)).then(() => writer.close());
  // A corrupt input rejects both sides; the reader reports it, so silence the duplicate.
  writing.catch(() => undefined);
  const reader = stream.readable.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new Error(`${format} data expands to more than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  await writing;
  return concatBytes(chunks);
}

export const gunzipBrowser: Decompressor = (bytes, maxBytes) => decompressStream(bytes, 'gzip', maxBytes);
export const inflateBrowser: Decompressor = (bytes, maxBytes) => decompressStream(bytes, 'deflate', maxBytes);

/** Returns `bytes` unchanged unless they carry the gzip magic number, in which case they are gunzipped. */
export async function maybeGunzip(bytes: Uint8Array, gunzip: Decompressor = gunzipBrowser): Promise<Uint8Array> {
  return isGzip(bytes) ? gunzip(bytes) : bytes;
}
