/** Minimal PNG encoder: 8-bit gray, gray+alpha, RGB, RGBA; no filtering, stored (uncompressed) deflate by default. */

import { concatBytes, writeU32BE } from './bytes.js';
import { adler32, crc32 } from './checksums.js';
import { COLOR_TYPE_FOR_CHANNELS, PNG_SIGNATURE } from './png-chunks.js';
import type { RasterImage } from './raster.js';

export interface PngEncodeOptions {
  /**
   * Produces a zlib stream (RFC 1950) from the filtered scanlines. The default stores them uncompressed,
   * which needs no compressor and works everywhere; Node callers may pass zlib.deflateSync for smaller files.
   */
  compress?: (data: Uint8Array) => Uint8Array;
}

export function encodePng(image: RasterImage, options: PngEncodeOptions = {}): Uint8Array {
  const { width, height, channels, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`encodePng: width and height must be positive integers, got ${width}x${height}`);
  }
  const colorType = COLOR_TYPE_FOR_CHANNELS[channels];
  if (colorType === undefined) throw new Error(`encodePng: channels must be 1, 2, 3 or 4, got ${channels}`);
  const stride = width * channels;
  if (data.length !== stride * height) {
    throw new Error(`encodePng: expected ${stride * height} bytes for ${width}x${height}x${channels}, got ${data.length}`);
  }

  // Each scanline is prefixed with filter type 0 (None).
  const scanlines = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) scanlines.set(data.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);

  const header = new Uint8Array(13);
  writeU32BE(header, 0, width);
  writeU32BE(header, 4, height);
  header[8] = 8; // bit depth
  header[9] = colorType;
  // Bytes 10..12 stay 0: deflate compression, adaptive filtering, no interlace.

  const compress = options.compress ?? zlibStored;
  return concatBytes([
    PNG_SIGNATURE,
    pngChunk('IHDR', header),
    pngChunk('IDAT', compress(scanlines)),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

/** One PNG chunk: length, type, data, and the CRC over type and data. */
export function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  writeU32BE(out, 0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  writeU32BE(out, 8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** Wraps `data` in a zlib stream made of stored deflate blocks (no compression, max 65535 bytes each). */
export function zlibStored(data: Uint8Array): Uint8Array {
  const MAX_BLOCK = 0xffff;
  const blockCount = Math.max(1, Math.ceil(data.length / MAX_BLOCK));
  const out = new Uint8Array(2 + blockCount * 5 + data.length + 4);
  // CMF 0x78 = deflate with a 32K window; FLG 0x01 makes (CMF*256 + FLG) divisible by 31 as required.
  out[0] = 0x78;
  out[1] = 0x01;
  let at = 2;
  for (let block = 0; block < blockCount; block++) {
    const start = block * MAX_BLOCK;
    const length = Math.min(MAX_BLOCK, data.length - start);
    out[at] = block === blockCount - 1 ? 1 : 0; // BFINAL bit, BTYPE 00 = stored
    out[at + 1] = length & 0xff;
    out[at + 2] = length >>> 8;
    out[at + 3] = ~length & 0xff;
    out[at + 4] = (~length >>> 8) & 0xff;
    out.set(data.subarray(start, start + length), at + 5);
    at += 5 + length;
  }
  writeU32BE(out, at, adler32(data));
  return out;
}
