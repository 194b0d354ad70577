/** Format sniffing for the image files datasets ship (PNG, binary PGM/PPM). */

import type { Decompressor } from './decompress.js';
import { hasPngSignature } from './png-chunks.js';
import { decodePng } from './png-decode.js';
import { ParseError } from './parse-error.js';
import { hasPnmMagic, parsePnm } from './pnm.js';
import type { RasterImage } from './raster.js';

export interface DecodeImageOptions {
  source?: string;
  /** zlib inflater used for PNG; defaults to DecompressionStream('deflate'). */
  inflate?: Decompressor;
}

/** Decodes PNG or binary PGM/PPM by content, not by file extension. */
export async function decodeImage(bytes: Uint8Array, options: DecodeImageOptions = {}): Promise<RasterImage> {
  if (hasPngSignature(bytes)) return decodePng(bytes, options);
  if (hasPnmMagic(bytes)) return parsePnm(bytes, options.source);
  const where = options.source ? ` (${options.source})` : '';
  throw new ParseError(`image${where}: unrecognised format (expected PNG or binary PGM/PPM)`);
}
