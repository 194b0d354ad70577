/**
 * Fuzz targets for the byte formats in src/io: safetensors, PNG, binary PGM/PPM and the sniffing
 * decodeImage. Inputs are valid files (written by the project's own encoders or by hand), the same
 * files damaged, headers made of random JSON, and random bytes.
 */
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { inflateNode } from '../../src/io/decompress.node.js';
import { ParseError } from '../../src/io/parse-error.js';
import { decodeImage } from '../../src/io/image.js';
import { decodePng } from '../../src/io/png-decode.js';
import { encodePng } from '../../src/io/png-encode.js';
import { encodePnm, parsePnm } from '../../src/io/pnm.js';
import type { ChannelCount, RasterImage } from '../../src/io/raster.js';
import { parseSafetensors, serializeSafetensors, DTYPE_BYTES, type SafetensorsFile, type SafetensorsInput } from '../../src/io/safetensors.js';
import { concat, encodePnmWith, ihdr, pngFile, readPngChunks, sameShape, sameValues } from './formats.js';
import { INTERESTING_U32, anyMutation, mutated, position, type Mutation } from './mutate.js';
import { holds, rejection, type FuzzTarget, type Outcome } from './target.js';

// --- safetensors -------------------------------------------------------------------------------

const dims = fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 });

const tensorInput: fc.Arbitrary<SafetensorsInput> = dims.chain((shape) => {
  const n = shape.reduce((a, b) => a * b, 1);
  const size = { minLength: n, maxLength: n };
  return fc.oneof(
    fc.float32Array(size).map((data) => ({ shape, data })),
    fc.float64Array(size).map((data) => ({ shape, data })),
    fc.int32Array(size).map((data) => ({ shape, data })),
    fc.int32Array(size).map((data) => ({ shape, data, dtype: 'I64' as const })),
    fc.uint8Array(size).map((data) => ({ shape, data })),
  );
});

const tensorName = fc.string({ maxLength: 12, unit: 'binary' }).filter((name) => name !== '__metadata__');

export const validSafetensors = fc.record({
  tensors: fc.dictionary(tensorName, tensorInput, { maxKeys: 5 }),
  metadata: fc.option(fc.dictionary(fc.string({ maxLength: 8, unit: 'binary' }), fc.string({ maxLength: 16, unit: 'binary' }), { maxKeys: 3 }), { nil: undefined }),
});

function prefixed(header: string, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const hugeDims = fc.constantFrom(2 ** 31, 2 ** 32, 2 ** 40, 2 ** 53 - 1, 2 ** 53, -1, 1.5, 1e300);

/** Headers whose entries look like tensors but carry any dtype, shape and offsets. */
const rawHeaderFile = fc
  .tuple(
    fc.dictionary(
      fc.oneof(fc.constant('__metadata__'), fc.string({ maxLength: 6 })),
      fc.oneof(
        fc.record(
          {
            dtype: fc.oneof(fc.constantFrom(...Object.keys(DTYPE_BYTES)), fc.string({ maxLength: 4 })),
            shape: fc.oneof(fc.array(fc.oneof(fc.nat(6), hugeDims), { maxLength: 4 }), fc.jsonValue({ maxDepth: 2 })),
            data_offsets: fc.oneof(fc.tuple(fc.nat(64), fc.nat(64)), fc.tuple(fc.nat(8), hugeDims), fc.jsonValue({ maxDepth: 2 })),
          },
          { requiredKeys: [] },
        ),
        fc.jsonValue({ maxDepth: 3 }),
      ),
      { maxKeys: 4 },
    ),
    fc.uint8Array({ maxLength: 96 }),
  )
  .map(([header, data]) => prefixed(JSON.stringify(header), data));

/** Headers that tile their data correctly over random bytes: every dtype's decoding (NaN patterns, I64 beyond int32). */
const coherentFile = fc
  .array(fc.tuple(fc.constantFrom(...Object.keys(DTYPE_BYTES)), dims), { maxLength: 4 })
  .chain((entries) => {
    let offset = 0;
    const header: Record<string, unknown> = {};
    entries.forEach(([dtype, shape], i) => {
      const end = offset + shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype]!;
      header[`t${i}`] = { dtype, shape, data_offsets: [offset, end] };
      offset = end;
    });
    return fc.uint8Array({ minLength: offset, maxLength: offset }).map((data) => prefixed(JSON.stringify(header), data));
  });

/** The 8-byte header length set to a boundary value (either half of the u64). */
const headerLengthSet: fc.Arbitrary<Mutation> = fc.tuple(fc.constantFrom(...INTERESTING_U32), fc.boolean()).map(([value, high]) => (bytes) => {
  if (bytes.length < 8) return bytes;
  const out = bytes.slice();
  new DataView(out.buffer).setUint32(high ? 4 : 0, value, true);
  return out;
});

/**
 * An edit of one header entry, written back with a correct length prefix: its dtype, a dimension, an
 * offset, a metadata value, or the entry gone. The data stays as it was, so sizes stop agreeing.
 */
export const headerEdit: fc.Arbitrary<Mutation> = fc
  .record({
    where: position,
    op: fc.constantFrom('dtype', 'shape', 'offset', 'metadata', 'delete'),
    dtype: fc.constantFrom(...Object.keys(DTYPE_BYTES), 'F8', ''),
    value: fc.oneof(fc.nat(8), hugeDims),
    text: fc.constantFrom('small-cnn', 'resnet18', 'preact-resnet18', '[0.5]', '[0.5, 0.5]', '[0]', '[-1, 1, 1]', '[1e999]', '[]', '{"name":"x"}', '', 'pt'),
  })
  .map(({ where, op, dtype, value, text }) => (bytes) => {
    if (bytes.length < 8) return bytes;
    const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
    if (8 + length > bytes.length) return bytes;
    let header: Record<string, Record<string, unknown>>;
    try {
      header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
    } catch {
      return bytes;
    }
    if (typeof header !== 'object' || header === null) return bytes;
    const keys = Object.keys(header).filter((k) => k !== '__metadata__');
    const key = keys[Math.floor(where * keys.length)];
    const entry = key === undefined ? undefined : header[key];
    if (op === 'metadata') {
      const metadata = typeof header.__metadata__ === 'object' && header.__metadata__ !== null ? header.__metadata__ : (header.__metadata__ = {});
      const metaKeys = Object.keys(metadata);
      metadata[metaKeys.length ? metaKeys[Math.floor(where * metaKeys.length)]! : 'arch'] = text;
    } else if (key === undefined) return bytes;
    else if (op === 'delete') delete header[key];
    else if (typeof entry === 'object' && entry !== null) {
      if (op === 'dtype') entry.dtype = dtype;
      else if (op === 'shape' && Array.isArray(entry.shape) && entry.shape.length) entry.shape[Math.floor(where * 5) % entry.shape.length] = value;
      else if (op === 'offset' && Array.isArray(entry.data_offsets)) entry.data_offsets[Math.floor(where * 2) % 2] = value;
    }
    return concat([prefixed(JSON.stringify(header), new Uint8Array(0)), bytes.subarray(8 + length)]);
  });

export const safetensorsBytes = fc.oneof(
  validSafetensors.map(({ tensors, metadata }) => serializeSafetensors(tensors, metadata)),
  mutated(validSafetensors.map(({ tensors, metadata }) => serializeSafetensors(tensors, metadata)), [headerLengthSet, headerEdit, headerEdit]),
  rawHeaderFile,
  mutated(rawHeaderFile),
  coherentFile,
  mutated(coherentFile, [headerLengthSet, headerEdit]),
  fc.uint8Array({ maxLength: 64 }),
);

/** The parsed file written again with the dtypes the writer has: floats as F32/F64, integers as I32 (I64 kept). */
function rewrite(file: SafetensorsFile): Uint8Array {
  const tensors: Record<string, SafetensorsInput> = {};
  for (const [name, t] of file.tensors) {
    tensors[name] = t.data instanceof Int32Array && t.dtype === 'I64' ? { shape: t.shape, data: t.data, dtype: 'I64' } : { shape: t.shape, data: t.data };
  }
  return serializeSafetensors(tensors, file.metadata);
}

function checkSafetensors(file: SafetensorsFile): void {
  for (const [name, t] of file.tensors) {
    holds(DTYPE_BYTES[t.dtype] !== undefined, `tensor "${name}" has dtype ${t.dtype}`);
    holds(t.data.length === t.shape.reduce((a, b) => a * b, 1), `tensor "${name}" has ${t.data.length} values for shape [${t.shape}]`);
    const kind = t.dtype === 'F64' ? Float64Array : t.dtype.startsWith('F') || t.dtype === 'BF16' ? Float32Array : Int32Array;
    holds(t.data instanceof kind, `tensor "${name}" (${t.dtype}) decoded to a ${t.data.constructor.name}`);
  }
  for (const [key, value] of Object.entries(file.metadata)) holds(typeof value === 'string', `metadata "${key}" is not a string`);
  const back = parseSafetensors(rewrite(file));
  holds(back.tensors.size === file.tensors.size, 'the rewritten file has a different tensor count');
  for (const [name, t] of file.tensors) {
    const b = back.tensors.get(name);
    holds(b !== undefined && sameShape(b.shape, t.shape) && sameValues(b.data, t.data), `tensor "${name}" changed in the round trip`);
  }
  holds(JSON.stringify(back.metadata) === JSON.stringify(file.metadata), 'metadata changed in the round trip');
}

export const safetensorsTarget: FuzzTarget<Uint8Array> = {
  name: 'safetensors',
  parser: 'parseSafetensors (src/io/safetensors-parse.ts)',
  input: () => safetensorsBytes,
  run: async (bytes) => {
    let file: SafetensorsFile;
    try {
      file = parseSafetensors(bytes, 'fuzz.safetensors');
    } catch (e) {
      return rejection(e, [ParseError], /^safetensors \(fuzz\.safetensors\): ./);
    }
    checkSafetensors(file);
    return 'accepted';
  },
};

// --- images --------------------------------------------------------------------------------------

export const rasterImage = (channels: readonly ChannelCount[]): fc.Arbitrary<RasterImage> =>
  fc.record({ width: fc.integer({ min: 1, max: 9 }), height: fc.integer({ min: 1, max: 9 }), channels: fc.constantFrom(...channels) }).chain(({ width, height, channels: c }) =>
    fc.uint8Array({ minLength: width * height * c, maxLength: width * height * c }).map((data) => ({ width, height, channels: c, data })),
  );

/** Scanlines under any of the five filters (every byte string is a valid filtered row). */
const filteredPng = rasterImage([1, 2, 3, 4]).chain((image) => {
  const stride = image.width * image.channels;
  return fc.array(fc.integer({ min: 0, max: 4 }), { minLength: image.height, maxLength: image.height }).map((filters) => {
    const raw = new Uint8Array((stride + 1) * image.height);
    for (let y = 0; y < image.height; y++) {
      raw[y * (stride + 1)] = filters[y]!;
      raw.set(image.data.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
    }
    const colorType = { 1: 0, 2: 4, 3: 2, 4: 6 }[image.channels];
    return pngFile([['IHDR', ihdr(image.width, image.height, colorType)], ['IDAT', deflateSync(raw)], ['IEND', new Uint8Array(0)]]);
  });
});

/** Palette images, with or without tRNS, indices possibly past the palette. */
const palettePng = fc
  .record({
    width: fc.integer({ min: 1, max: 8 }),
    height: fc.integer({ min: 1, max: 8 }),
    entries: fc.integer({ min: 1, max: 8 }),
    alpha: fc.option(fc.uint8Array({ maxLength: 8 }), { nil: undefined }),
  })
  .chain(({ width, height, entries, alpha }) =>
    fc.tuple(fc.uint8Array({ minLength: entries * 3, maxLength: entries * 3 }), fc.uint8Array({ minLength: width * height, maxLength: width * height, max: entries })).map(([palette, indices]) => {
      const raw = new Uint8Array((width + 1) * height);
      for (let y = 0; y < height; y++) raw.set(indices.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
      const chunks: Array<[string, Uint8Array]> = [['IHDR', ihdr(width, height, 3)], ['PLTE', palette]];
      if (alpha) chunks.push(['tRNS', alpha]);
      chunks.push(['IDAT', deflateSync(raw)], ['IEND', new Uint8Array(0)]);
      return pngFile(chunks);
    }),
  );

export const validPng = fc.oneof(
  rasterImage([1, 2, 3, 4]).map((image) => encodePng(image)),
  rasterImage([1, 2, 3, 4]).map((image) => encodePng(image, { compress: (data) => new Uint8Array(deflateSync(data)) })),
  filteredPng,
  palettePng,
);

/** Damage inside one chunk (or to IHDR's sizes) with the CRC made right again, so the damage reaches the decoder. */
const chunkMutation: fc.Arbitrary<Mutation> = fc.tuple(position, anyMutation).map(([where, mutation]) => (bytes) => {
  const chunks = readPngChunks(bytes);
  if (!chunks || chunks.length === 0) return bytes;
  const i = Math.floor(where * chunks.length);
  chunks[i] = [chunks[i]![0], mutation(chunks[i]![1])];
  return pngFile(chunks);
});

const sizeMutation: fc.Arbitrary<Mutation> = fc.tuple(fc.constantFrom(...INTERESTING_U32), fc.boolean()).map(([value, height]) => (bytes) => {
  const chunks = readPngChunks(bytes);
  const header = chunks?.find(([type]) => type === 'IHDR');
  if (!chunks || !header || header[1].length < 8) return bytes;
  new DataView(header[1].buffer, header[1].byteOffset).setUint32(height ? 4 : 0, value, false);
  return pngFile(chunks);
});

const chunkDrop: fc.Arbitrary<Mutation> = fc.tuple(position, fc.boolean()).map(([where, duplicate]) => (bytes) => {
  const chunks = readPngChunks(bytes);
  if (!chunks || chunks.length === 0) return bytes;
  const i = Math.floor(where * chunks.length);
  if (duplicate) chunks.splice(i, 0, chunks[i]!);
  else chunks.splice(i, 1);
  return pngFile(chunks);
});

export const pngBytes = fc.oneof(
  validPng,
  mutated(validPng, [chunkMutation, chunkMutation, sizeMutation, chunkDrop]),
  fc.uint8Array({ maxLength: 64 }).map((tail) => concat([new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), tail])),
  fc.uint8Array({ maxLength: 64 }),
);

/** A decoded image is well formed, and encoding and decoding it again gives it back. */
async function checkImage(image: RasterImage): Promise<void> {
  const { width, height, channels, data } = image;
  holds(Number.isSafeInteger(width) && width > 0 && Number.isSafeInteger(height) && height > 0, `size ${width}x${height}`);
  holds([1, 2, 3, 4].includes(channels), `${channels} channels`);
  holds(data instanceof Uint8Array && data.length === width * height * channels, `${data.length} samples for ${width}x${height}x${channels}`);
  const back = await decodePng(encodePng(image), { inflate: inflateNode });
  holds(back.width === width && back.height === height && back.channels === channels && sameValues(back.data, data), 'the image changed in a PNG round trip');
}

export const pngTarget: FuzzTarget<Uint8Array> = {
  name: 'png',
  parser: 'decodePng (src/io/png-decode.ts)',
  input: () => pngBytes,
  run: async (bytes) => {
    let image: RasterImage;
    try {
      image = await decodePng(bytes, { source: 'fuzz.png', inflate: inflateNode });
    } catch (e) {
      return rejection(e, [ParseError], /^png \(fuzz\.png\): ./);
    }
    await checkImage(image);
    return 'accepted';
  },
};

const separator = fc.constantFrom(' ', '\n', '\t', '\r\n', '  ', '\n# a comment\n', ' #c\r', '\x0b', '\x0c');

/** Binary PGM/PPM with any header layout and maxval; samples stay within maxval; bytes may follow the raster. */
export const validPnm = fc
  .record({ image: rasterImage([1, 3]), maxval: fc.oneof(fc.constant(255), fc.integer({ min: 1, max: 255 })), separators: fc.array(separator, { minLength: 3, maxLength: 3 }), trailing: fc.uint8Array({ maxLength: 4 }) })
  .map(({ image, maxval, separators, trailing }) => {
    const data = image.data.map((v) => v % (maxval + 1));
    return encodePnmWith({ ...image, data }, maxval, separators, trailing);
  });

const pnmHeaderNoise = fc
  .tuple(fc.constantFrom('P5', 'P6'), fc.array(fc.oneof(separator, fc.stringMatching(/^\d{1,24}$/), fc.string({ maxLength: 4, unit: 'binary-ascii' })), { maxLength: 6 }), fc.uint8Array({ maxLength: 64 }))
  .map(([magic, tokens, data]) => concat([new TextEncoder().encode(magic + tokens.join('')), data]));

export const pnmBytes = fc.oneof(validPnm, mutated(validPnm), pnmHeaderNoise, mutated(pnmHeaderNoise), fc.uint8Array({ maxLength: 64 }));

export const pnmTarget: FuzzTarget<Uint8Array> = {
  name: 'pnm',
  parser: 'parsePnm (src/io/pnm.ts)',
  input: () => pnmBytes,
  run: async (bytes) => {
    let image: RasterImage;
    try {
      image = parsePnm(bytes, 'fuzz.ppm');
    } catch (e) {
      return rejection(e, [ParseError], /^pnm \(fuzz\.ppm\): ./);
    }
    holds(image.channels === 1 || image.channels === 3, `${image.channels} channels`);
    const back = parsePnm(encodePnm(image));
    holds(back.width === image.width && back.height === image.height && sameValues(back.data, image.data), 'the image changed in a PNM round trip');
    await checkImage(image);
    return 'accepted';
  },
};

export const imageTarget: FuzzTarget<Uint8Array> = {
  name: 'image',
  parser: 'decodeImage (src/io/image.ts)',
  input: () => fc.oneof(pngBytes, pnmBytes),
  run: async (bytes): Promise<Outcome> => {
    let image: RasterImage;
    try {
      image = await decodeImage(bytes, { source: 'fuzz.img', inflate: inflateNode });
    } catch (e) {
      return rejection(e, [ParseError], /^(png|pnm|image) \(fuzz\.img\): ./);
    }
    await checkImage(image);
    return 'accepted';
  },
};
