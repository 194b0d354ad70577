import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { writeU32BE } from '../../src/io/bytes.js';
import { inflateNode } from '../../src/io/decompress.node.js';
import {
  adler32,
  crc32,
  decodeImage,
  decodePng,
  encodePng,
  encodePnm,
  parsePnm,
  zlibStored,
  type RasterImage,
} from '../../src/io/png.js';
import { decodePngNode, encodePngCompressed } from '../../src/io/png.node.js';

const ascii = (text: string) => new TextEncoder().encode(text);

function gradient(width: number, height: number, channels: 1 | 2 | 3 | 4): RasterImage {
  const data = new Uint8Array(width * height * channels);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + (i >> 3)) & 0xff;
  return { width, height, channels, data };
}

/** Assembles a PNG from raw chunks so tests can build inputs the encoder never produces. */
function pngFromChunks(chunks: [string, Uint8Array][]): Uint8Array {
  const parts: number[] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  for (const [type, data] of chunks) {
    const chunk = new Uint8Array(12 + data.length);
    writeU32BE(chunk, 0, data.length);
    chunk.set(ascii(type), 4);
    chunk.set(data, 8);
    writeU32BE(chunk, 8 + data.length, crc32(chunk.subarray(4, 8 + data.length)));
    parts.push(...chunk);
  }
  return new Uint8Array(parts);
}

function ihdr(width: number, height: number, bitDepth: number, colorType: number, interlace = 0): Uint8Array {
  const data = new Uint8Array(13);
  writeU32BE(data, 0, width);
  writeU32BE(data, 4, height);
  data.set([bitDepth, colorType, 0, 0, interlace], 8);
  return data;
}

/** Re-filters filter-0 scanlines with the given filter type per row, as a real encoder would. */
function applyFilters(scanlines: Uint8Array, stride: number, bpp: number, filters: number[]): Uint8Array {
  const height = scanlines.length / (stride + 1);
  const out = new Uint8Array(scanlines.length);
  const pixel = (y: number, x: number) => (y < 0 || x < 0 ? 0 : scanlines[y * (stride + 1) + 1 + x]);
  for (let y = 0; y < height; y++) {
    const filter = filters[y % filters.length];
    out[y * (stride + 1)] = filter;
    for (let x = 0; x < stride; x++) {
      const a = pixel(y, x - bpp);
      const b = pixel(y - 1, x);
      const c = pixel(y - 1, x - bpp);
      const p = a + b - c;
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      const predictor = [0, a, b, (a + b) >> 1, paeth][filter];
      out[y * (stride + 1) + 1 + x] = (pixel(y, x) - predictor) & 0xff;
    }
  }
  return out;
}

/** Fast byte-array equality (deep toEqual walks large typed arrays element by element). */
function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual.length).toBe(expected.length);
  expect(Buffer.compare(actual, expected)).toBe(0);
}

describe('checksums', () => {
  it('match the published check values', () => {
    expect(crc32(ascii('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(ascii('56789'), crc32(ascii('1234')))).toBe(0xcbf43926);
    expect(adler32(ascii('Wikipedia'))).toBe(0x11e60398);
    expect(adler32(new Uint8Array(0))).toBe(1);
  });

  it('adler32 stays exact on long inputs', () => {
    const data = new Uint8Array(200_000).fill(255);
    let a = 1;
    let b = 0;
    for (const byte of data) {
      a = (a + byte) % 65521;
      b = (b + a) % 65521;
    }
    expect(adler32(data)).toBe(((b << 16) | a) >>> 0);
  });
});

describe('zlibStored', () => {
  it('produces streams that zlib inflates back, across the 65535-byte block limit', () => {
    for (const length of [0, 1, 65535, 65536, 150_001]) {
      const data = new Uint8Array(length).map((_, i) => (i * 7) & 0xff);
      expectSameBytes(new Uint8Array(inflateSync(zlibStored(data))), data);
    }
  });
});

describe('PNG round trip', () => {
  for (const channels of [1, 2, 3, 4] as const) {
    it(`encodes and decodes ${channels}-channel images`, async () => {
      const image = gradient(7, 5, channels);
      expect(await decodePng(encodePng(image))).toEqual(image); // DecompressionStream path
      expect(await decodePngNode(encodePngCompressed(image), 'x.png')).toEqual(image);
    });
  }

  it('handles images larger than one stored block', async () => {
    const image = gradient(300, 250, 3);
    const decoded = await decodePng(encodePng(image), { inflate: inflateNode });
    expect([decoded.width, decoded.height, decoded.channels]).toEqual([300, 250, 3]);
    expectSameBytes(decoded.data, image.data);
  });

  it('reverses Sub, Up, Average and Paeth filters', async () => {
    const image = gradient(9, 8, 3);
    const png = encodePng(image, { compress: (scan) => zlibStored(applyFilters(scan, 27, 3, [0, 1, 2, 3, 4, 4, 3, 1])) });
    expect(await decodePngNode(png)).toEqual(image);
  });

  it('expands palette images, with and without tRNS', async () => {
    const palette = new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255]);
    const idat = zlibStored(new Uint8Array([0, 0, 1, 2, 0, 2, 1, 0]));
    const rgb = await decodePngNode(pngFromChunks([['IHDR', ihdr(3, 2, 8, 3)], ['PLTE', palette], ['IDAT', idat], ['IEND', new Uint8Array(0)]]));
    expect(rgb.channels).toBe(3);
    expect(Array.from(rgb.data)).toEqual([255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 255, 0, 255, 0, 255, 0, 0]);
    const rgba = await decodePngNode(
      pngFromChunks([['IHDR', ihdr(3, 2, 8, 3)], ['PLTE', palette], ['tRNS', new Uint8Array([10])], ['IDAT', idat], ['IEND', new Uint8Array(0)]]),
    );
    expect(rgba.channels).toBe(4);
    expect(Array.from(rgba.data.subarray(0, 8))).toEqual([255, 0, 0, 10, 0, 255, 0, 255]);
  });

  it('skips ancillary chunks and joins split IDAT chunks', async () => {
    const idat = zlibStored(new Uint8Array([0, 11, 22, 0, 33, 44]));
    const png = pngFromChunks([
      ['IHDR', ihdr(2, 2, 8, 0)],
      ['tEXt', ascii('Comment\0hi')],
      ['IDAT', idat.subarray(0, 5)],
      ['IDAT', idat.subarray(5)],
      ['IEND', new Uint8Array(0)],
    ]);
    expect(await decodePngNode(png)).toEqual({ width: 2, height: 2, channels: 1, data: new Uint8Array([11, 22, 33, 44]) });
  });
});

describe('PNG errors', () => {
  const good = encodePng(gradient(4, 4, 3));
  const decode = (bytes: Uint8Array) => decodePng(bytes, { source: 'img.png', inflate: inflateNode });

  it('rejects a missing signature, bad CRCs and truncation, naming the file', async () => {
    await expect(decode(ascii('GIF89a........'))).rejects.toThrow(/png \(img\.png\): missing PNG signature/);
    const corrupted = good.slice();
    corrupted[40] ^= 0xff;
    await expect(decode(corrupted)).rejects.toThrow(/img\.png.*bad CRC/);
    await expect(decode(good.subarray(0, 50))).rejects.toThrow(/img\.png.*truncated/);
    await expect(decode(good.subarray(0, good.length - 12))).rejects.toThrow(/missing IEND/);
  });

  it('rejects unsupported variants', async () => {
    const idat = zlibStored(new Uint8Array(10));
    const end: [string, Uint8Array] = ['IEND', new Uint8Array(0)];
    await expect(decode(pngFromChunks([['IHDR', ihdr(2, 2, 16, 0)], ['IDAT', idat], end]))).rejects.toThrow(/bit depth 16 is not supported/);
    await expect(decode(pngFromChunks([['IHDR', ihdr(2, 2, 8, 0, 1)], ['IDAT', idat], end]))).rejects.toThrow(/interlaced/);
    await expect(decode(pngFromChunks([['IHDR', ihdr(2, 2, 8, 5)], ['IDAT', idat], end]))).rejects.toThrow(/invalid colour type 5/);
    await expect(decode(pngFromChunks([['IHDR', ihdr(2, 2, 8, 0)], ['ABCD', new Uint8Array(1)], ['IDAT', idat], end]))).rejects.toThrow(/unsupported critical chunk ABCD/);
    await expect(decode(pngFromChunks([['IHDR', ihdr(2, 2, 8, 0)], ['IDAT', zlibStored(new Uint8Array([0, 1, 2, 9, 1, 2]))], end]))).rejects.toThrow(/scanline 1 has unknown filter type 9/);
    await expect(decode(pngFromChunks([['IHDR', ihdr(4, 4, 8, 0)], ['IDAT', zlibStored(new Uint8Array(5))], end]))).rejects.toThrow(/image data is truncated/);
    await expect(decode(pngFromChunks([['IHDR', ihdr(2, 2, 8, 0)], ['IDAT', new Uint8Array([1, 2, 3])], end]))).rejects.toThrow(/does not inflate/);
    await expect(decode(pngFromChunks([['IHDR', ihdr(2, 2, 8, 0)], ['IHDR', ihdr(4, 4, 8, 0)], ['IDAT', idat], end]))).rejects.toThrow(/second IHDR chunk at byte 33/);
    await expect(decode(pngFromChunks([['IHDR', ihdr(2, 1, 8, 3)], ['PLTE', new Uint8Array(3)], ['IDAT', zlibStored(new Uint8Array([0, 0, 4]))], end]))).rejects.toThrow(/palette index 4 but PLTE has 1 entries/);
  });

  it('reports corrupt data through the DecompressionStream path too', async () => {
    const end: [string, Uint8Array] = ['IEND', new Uint8Array(0)];
    const png = pngFromChunks([['IHDR', ihdr(2, 2, 8, 0)], ['IDAT', new Uint8Array([0x78, 0x01, 0xff, 0xff])], end]);
    await expect(decodePng(png, { source: 'bad.png' })).rejects.toThrow(/bad\.png.*does not inflate/);
  });
});

describe('PNM', () => {
  it('parses P6 with comments and P5', () => {
    const p6 = new Uint8Array([...ascii('P6\n# made by hand\n2 1 # width height\n255\n'), 1, 2, 3, 4, 5, 6]);
    expect(parsePnm(p6)).toEqual({ width: 2, height: 1, channels: 3, data: new Uint8Array([1, 2, 3, 4, 5, 6]) });
    const p5 = new Uint8Array([...ascii('P5 3 1 255\n'), 9, 10, 11]);
    expect(parsePnm(p5)).toEqual({ width: 3, height: 1, channels: 1, data: new Uint8Array([9, 10, 11]) });
  });

  it('keeps a raster that starts with a whitespace byte value', () => {
    const p5 = new Uint8Array([...ascii('P5\n2 1\n255\n'), 0x0a, 0x20]);
    expect(Array.from(parsePnm(p5).data)).toEqual([0x0a, 0x20]);
  });

  it('rescales maxval below 255', () => {
    const p5 = new Uint8Array([...ascii('P5\n3 1\n15\n'), 0, 8, 15]);
    expect(Array.from(parsePnm(p5).data)).toEqual([0, 136, 255]);
  });

  it('round trips through encodePnm', () => {
    const image = gradient(5, 3, 3);
    expect(parsePnm(encodePnm(image))).toEqual(image);
  });

  it('reports bad headers and truncated data, naming the file', () => {
    expect(() => parsePnm(ascii('P3\n1 1\n255\n1 2 3'), 'a.ppm')).toThrow(/pnm \(a\.ppm\): not a binary PGM\/PPM/);
    expect(() => parsePnm(ascii('P6\n2 x\n255\n'), 'a.ppm')).toThrow(/a\.ppm.*malformed height/);
    expect(() => parsePnm(ascii('P6\n1 1\n65535\n'), 'a.ppm')).toThrow(/maxval 65535 is not supported/);
    expect(() => parsePnm(new Uint8Array([...ascii('P6\n2 2\n255\n'), 1, 2, 3]), 'a.ppm')).toThrow(/a\.ppm.*truncated: 3 bytes, 12 needed/);
  });

  it('decodeImage sniffs the format', async () => {
    const image = gradient(3, 2, 3);
    expect(await decodeImage(encodePnm(image))).toEqual(image);
    expect(await decodeImage(encodePng(image), { inflate: inflateNode })).toEqual(image);
    await expect(decodeImage(ascii('hello'), { source: 'x.jpg' })).rejects.toThrow(/image \(x\.jpg\): unrecognised format/);
  });
});
