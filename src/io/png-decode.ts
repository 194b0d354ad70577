/** PNG decoder for 8-bit, non-interlaced gray, gray+alpha, RGB, RGBA and palette images. */

import { concatBytes, errorPrefix, readU32BE } from './bytes.js';
import { crc32 } from './checksums.js';
import { ParseError } from './parse-error.js';
import { inflateBrowser, type Decompressor } from './decompress.js';
import { chunkTypeName, hasPngSignature, SAMPLES_FOR_COLOR_TYPE } from './png-chunks.js';
import type { ChannelCount, RasterImage } from './raster.js';

export interface PngDecodeOptions {
  /** Named in error messages (usually the file name). */
  source?: string;
  /** zlib-stream inflater; defaults to DecompressionStream('deflate'). */
  inflate?: Decompressor;
}

/** 2^28 pixels (16384 x 16384): far beyond any dataset image, well within memory. */
export const MAX_PNG_PIXELS = 2 ** 28;

interface PngHeader {
  width: number;
  height: number;
  colorType: number;
}

interface PngChunks {
  header: PngHeader;
  palette?: Uint8Array;
  paletteAlpha?: Uint8Array;
  compressed: Uint8Array;
}

/**
 * Decodes a PNG into interleaved 8-bit samples. Palette images expand to RGB, or RGBA when they carry a
 * tRNS chunk. Key-colour transparency (tRNS on gray/RGB images) is ignored: those images stay opaque.
 */
export async function decodePng(bytes: Uint8Array, options: PngDecodeOptions = {}): Promise<RasterImage> {
  const fail = (message: string): Error => new ParseError(errorPrefix('png', options.source) + message);
  const chunks = readChunks(bytes, fail);
  const { width, height, colorType } = chunks.header;
  const samples = SAMPLES_FOR_COLOR_TYPE[colorType];
  const stride = width * samples;
  // Each scanline is one filter byte then its samples; the inflater may produce no more than that.
  const needed = (stride + 1) * height;
  let raw: Uint8Array;
  try {
    raw = await (options.inflate ?? inflateBrowser)(chunks.compressed, needed);
  } catch (error) {
    throw fail(`image data does not inflate to the ${needed} bytes a ${width}x${height} image holds: ${(error as Error).message}`);
  }
  if (raw.length < needed) throw fail(`image data is truncated: ${raw.length} bytes inflated, ${needed} needed`);
  if (raw.length > needed) throw fail(`image data inflates to ${raw.length} bytes, more than the ${needed} a ${width}x${height} image holds`);
  const pixels = unfilter(raw, height, stride, samples, fail);
  if (colorType === 3) return expandPalette(pixels, width, height, chunks, fail);
  return { width, height, channels: samples as ChannelCount, data: pixels };
}

function readChunks(bytes: Uint8Array, fail: (message: string) => Error): PngChunks {
  if (!hasPngSignature(bytes)) throw fail('missing PNG signature');
  let header: PngHeader | undefined;
  let palette: Uint8Array | undefined;
  let paletteAlpha: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  let offset = 8;
  for (;;) {
    if (offset + 12 > bytes.length) throw fail('file is truncated: missing IEND chunk');
    const length = readU32BE(bytes, offset);
    const type = chunkTypeName(bytes, offset + 4);
    if (length > 0x7fffffff || offset + 12 + length > bytes.length) {
      throw fail(`chunk ${type} at byte ${offset} is truncated (length ${length})`);
    }
    const data = bytes.subarray(offset + 8, offset + 8 + length);
    if (crc32(bytes.subarray(offset + 4, offset + 8 + length)) !== readU32BE(bytes, offset + 8 + length)) {
      throw fail(`chunk ${type} at byte ${offset} has a bad CRC`);
    }
    offset += 12 + length;
    if (header === undefined && type !== 'IHDR') throw fail(`first chunk must be IHDR, found ${type}`);
    if (header !== undefined && type === 'IHDR') throw fail(`second IHDR chunk at byte ${offset - 12 - length}`);
    if (type === 'IHDR') header = readHeader(data, fail);
    else if (type === 'PLTE') palette = data;
    else if (type === 'tRNS') paletteAlpha = data;
    else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    // Bit 5 of the first letter clear (upper case) marks a critical chunk that must not be skipped.
    else if ((type.charCodeAt(0) & 0x20) === 0) throw fail(`unsupported critical chunk ${type}`);
  }
  if (header === undefined) throw fail('missing IHDR chunk');
  if (idat.length === 0) throw fail('missing IDAT chunk');
  if (header.colorType === 3 && palette === undefined) throw fail('palette image without PLTE chunk');
  if (header.colorType !== 3) paletteAlpha = undefined;
  return { header, palette, paletteAlpha, compressed: concatBytes(idat) };
}

function readHeader(data: Uint8Array, fail: (message: string) => Error): PngHeader {
  if (data.length !== 13) throw fail(`IHDR has length ${data.length}, expected 13`);
  const width = readU32BE(data, 0);
  const height = readU32BE(data, 4);
  const [bitDepth, colorType, compression, filter, interlace] = data.subarray(8, 13);
  if (width === 0 || height === 0) throw fail(`invalid size ${width}x${height}`);
  if (SAMPLES_FOR_COLOR_TYPE[colorType] === undefined) throw fail(`invalid colour type ${colorType}`);
  // Refused before anything is inflated or allocated: the header alone may claim 2^31 x 2^31 pixels.
  if (width * height > MAX_PNG_PIXELS) throw fail(`size ${width}x${height} exceeds the cap of ${MAX_PNG_PIXELS} pixels`);
  if (bitDepth !== 8) throw fail(`bit depth ${bitDepth} is not supported (only 8-bit images)`);
  if (compression !== 0 || filter !== 0) throw fail(`unknown compression ${compression} / filter method ${filter}`);
  if (interlace !== 0) throw fail('interlaced (Adam7) images are not supported');
  return { width, height, colorType };
}

/** Reverses the per-scanline filters (None, Sub, Up, Average, Paeth) in a fresh buffer. */
function unfilter(
  raw: Uint8Array,
  height: number,
  stride: number,
  bpp: number,
  fail: (message: string) => Error,
): Uint8Array {
  const out = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = y * stride;
    const prev = row - stride; // only read when y > 0
    for (let x = 0; x < stride; x++) {
      const left = x >= bpp ? out[row + x - bpp] : 0;
      const up = y > 0 ? out[prev + x] : 0;
      const upLeft = y > 0 && x >= bpp ? out[prev + x - bpp] : 0;
      let predictor: number;
      if (filter === 0) predictor = 0;
      else if (filter === 1) predictor = left;
      else if (filter === 2) predictor = up;
      else if (filter === 3) predictor = (left + up) >>> 1;
      else if (filter === 4) predictor = paeth(left, up, upLeft);
      else throw fail(`scanline ${y} has unknown filter type ${filter}`);
      out[row + x] = (line[x] + predictor) & 0xff;
    }
  }
  return out;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

function expandPalette(
  indices: Uint8Array,
  width: number,
  height: number,
  chunks: PngChunks,
  fail: (message: string) => Error,
): RasterImage {
  const palette = chunks.palette as Uint8Array;
  if (palette.length % 3 !== 0 || palette.length === 0 || palette.length > 768) {
    throw fail(`PLTE has invalid length ${palette.length}`);
  }
  const entries = palette.length / 3;
  const alpha = chunks.paletteAlpha;
  const channels: ChannelCount = alpha ? 4 : 3;
  const out = new Uint8Array(indices.length * channels);
  for (let p = 0; p < indices.length; p++) {
    const index = indices[p];
    if (index >= entries) throw fail(`pixel ${p} uses palette index ${index} but PLTE has ${entries} entries`);
    out[p * channels] = palette[index * 3];
    out[p * channels + 1] = palette[index * 3 + 1];
    out[p * channels + 2] = palette[index * 3 + 2];
    // Entries beyond the tRNS list are fully opaque.
    if (alpha) out[p * channels + 3] = index < alpha.length ? alpha[index] : 255;
  }
  return { width, height, channels, data: out };
}
