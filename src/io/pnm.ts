/** Binary PGM (P5) and PPM (P6) reader for 8-bit images (GTSRB ships P6 .ppm files). */

import { errorPrefix } from './bytes.js';
import { ParseError } from './parse-error.js';
import type { RasterImage } from './raster.js';

/** True when `bytes` start with the P5 or P6 magic. */
export function hasPnmMagic(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x50 && (bytes[1] === 0x35 || bytes[1] === 0x36);
}

/**
 * Parses a binary PGM/PPM. maxval must be at most 255 (one byte per sample); a maxval below 255 is
 * rescaled to 0..255 with rounding. Bytes after the pixel data are ignored, as the format allows several images.
 */
export function parsePnm(bytes: Uint8Array, source?: string): RasterImage {
  const fail = (message: string): Error => new ParseError(errorPrefix('pnm', source) + message);
  if (!hasPnmMagic(bytes)) throw fail('not a binary PGM/PPM file (expected magic P5 or P6)');
  const channels = bytes[1] === 0x36 ? 3 : 1;
  let at = 2;

  const readNumber = (what: string): number => {
    at = skipWhitespaceAndComments(bytes, at);
    const start = at;
    let value = 0;
    while (at < bytes.length && bytes[at] >= 0x30 && bytes[at] <= 0x39) value = value * 10 + (bytes[at++] - 0x30);
    if (at === start) throw fail(`header is missing or has a malformed ${what}`);
    return value;
  };
  const width = readNumber('width');
  const height = readNumber('height');
  const maxval = readNumber('maxval');
  if (width === 0 || height === 0) throw fail(`invalid size ${width}x${height}`);
  if (maxval === 0 || maxval > 255) throw fail(`maxval ${maxval} is not supported (only 1..255, one byte per sample)`);
  // Exactly one whitespace byte separates the header from the raster.
  if (at >= bytes.length || !isWhitespace(bytes[at])) throw fail('header is not followed by whitespace');
  at += 1;

  const size = width * height * channels;
  if (bytes.length - at < size) {
    throw fail(`pixel data is truncated: ${bytes.length - at} bytes, ${size} needed for ${width}x${height}x${channels}`);
  }
  const data = bytes.slice(at, at + size);
  if (maxval !== 255) {
    for (let i = 0; i < data.length; i++) {
      if (data[i] > maxval) throw fail(`sample ${i} = ${data[i]} exceeds maxval ${maxval}`);
      data[i] = Math.round((data[i] * 255) / maxval);
    }
  }
  return { width, height, channels, data };
}

function isWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d || byte === 0x0b || byte === 0x0c;
}

function skipWhitespaceAndComments(bytes: Uint8Array, at: number): number {
  while (at < bytes.length) {
    if (isWhitespace(bytes[at])) at++;
    else if (bytes[at] === 0x23) {
      // '#' starts a comment that runs to the end of the line.
      while (at < bytes.length && bytes[at] !== 0x0a && bytes[at] !== 0x0d) at++;
    } else break;
  }
  return at;
}

/** Encodes an 8-bit gray (P5) or RGB (P6) image, mainly so tests and tools can write PNM fixtures. */
export function encodePnm(image: RasterImage): Uint8Array {
  const { width, height, channels, data } = image;
  if (channels !== 1 && channels !== 3) throw new Error(`encodePnm: channels must be 1 or 3, got ${channels}`);
  if (data.length !== width * height * channels) {
    throw new Error(`encodePnm: expected ${width * height * channels} bytes, got ${data.length}`);
  }
  const header = new TextEncoder().encode(`${channels === 3 ? 'P6' : 'P5'}\n${width} ${height}\n255\n`);
  const out = new Uint8Array(header.length + data.length);
  out.set(header);
  out.set(data, header.length);
  return out;
}
