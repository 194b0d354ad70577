/** Node conveniences for PNG: real deflate compression and zlib-based decoding. */

import { deflateSync } from 'node:zlib';
import { inflateNode } from './decompress.node.js';
import { decodePng } from './png-decode.js';
import { encodePng } from './png-encode.js';
import type { RasterImage } from './raster.js';

/** Encodes with zlib compression (smaller than the browser-safe stored encoding). */
export function encodePngCompressed(image: RasterImage): Uint8Array {
  return encodePng(image, { compress: (data) => new Uint8Array(deflateSync(data)) });
}

export function decodePngNode(bytes: Uint8Array, source?: string): Promise<RasterImage> {
  return decodePng(bytes, { source, inflate: inflateNode });
}
