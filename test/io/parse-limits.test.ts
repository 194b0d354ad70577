/**
 * Every parser refuses bad input with ParseError, and refuses before allocating what a header merely
 * claims: nesting deeper than JSON.stringify can walk, a PNG header claiming 2^31 x 2^31 pixels, and
 * image data that inflates far beyond what the header allows (a decompression bomb).
 */
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parseAttackSpec } from '../../src/attacks/parse.js';
import { parseCifar10Batch, parseCifar10ClassNames } from '../../src/data/cifar10.js';
import { parseGtsrbCsv } from '../../src/data/gtsrb.js';
import { idxDataset, parseIdxDataset, parseIdxImages, parseIdxLabels } from '../../src/data/idx.js';
import { writeU32BE } from '../../src/io/bytes.js';
import { pngChunk } from '../../src/io/png-encode.js';
import { inflateNode } from '../../src/io/decompress.node.js';
import { ParseError } from '../../src/io/index.js';
import { decodeImage, decodePng, encodePng, parsePnm } from '../../src/io/png.js';
import { parseSafetensors } from '../../src/io/safetensors.js';
import { specFromMetadata } from '../../src/nn/model-file.js';

function rawSafetensors(headerText: string): Uint8Array {
  const json = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + json.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  return out;
}

function png(width: number, height: number, idat: Uint8Array): Uint8Array {
  const ihdr = new Uint8Array(13);
  writeU32BE(ihdr, 0, width);
  writeU32BE(ihdr, 4, height);
  ihdr[8] = 8;
  const parts = [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr), pngChunk('IDAT', idat), pngChunk('IEND', new Uint8Array(0))];
  return Uint8Array.from(parts.flatMap((p) => Array.from(p)));
}

async function refusal(run: () => unknown): Promise<unknown> {
  try {
    await run();
  } catch (e) {
    return e;
  }
  return null;
}

describe('every parser refuses with ParseError', () => {
  const ascii = (text: string) => new TextEncoder().encode(text);
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['safetensors', () => parseSafetensors(new Uint8Array(3), 'm.safetensors'), /safetensors \(m\.safetensors\): file is 3 bytes/],
    ['png', () => decodePng(ascii('not a png'), { source: 'a.png' }), /png \(a\.png\): missing PNG signature/],
    ['pnm', () => parsePnm(ascii('P6\n0 1\n255\n'), 'a.ppm'), /pnm \(a\.ppm\): invalid size 0x1/],
    ['image sniffing', () => decodeImage(ascii('GIF89a'), { source: 'a.gif' }), /image \(a\.gif\): unrecognised format/],
    ['idx images', () => parseIdxImages(new Uint8Array([0, 0, 8, 3, 0]), 'i.idx'), /idx \(i\.idx\): file is truncated/],
    ['idx labels', () => parseIdxLabels(new Uint8Array([0, 0, 8, 1, 0, 0, 0, 1, 7, 7]), 'l.idx'), /1 unexpected bytes after the data/],
    ['idx label range', () => idxDataset(new Uint8Array([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 5]), new Uint8Array([0, 0, 8, 1, 0, 0, 0, 1, 10])), /label 10 at index 0 is outside \[0, 10\)/],
    ['idx gzip', () => parseIdxDataset(new Uint8Array([0x1f, 0x8b, 1, 2]), new Uint8Array(0), { imagesSource: 'i.gz' }), /idx \(i\.gz\): gzip data is corrupt/],
    ['cifar10 batch', () => parseCifar10Batch(new Uint8Array(3073).fill(11), 'b.bin'), /cifar10 \(b\.bin\): record 0 has label 11/],
    ['cifar10 names', () => parseCifar10ClassNames('a\nb\n', 'meta.txt'), /expected 10 class names, found 2/],
    ['gtsrb csv', () => parseGtsrbCsv('Filename;Width\n', 'GT.csv'), /gtsrb \(GT\.csv\): header "Filename;Width" does not match/],
    ['attack spec JSON', () => parseAttackSpec('{'), /attack spec: not valid JSON/],
    ['attack spec field', () => parseAttackSpec({ name: 'x', backdoors: [] }), /attack spec: spec\.backdoors must list at least one backdoor/],
    ['model metadata', () => specFromMetadata({ normalize_mean: '[1', normalize_std: '[1]' }), /metadata "normalize_mean" must be a JSON array of numbers/],
  ];
  for (const [what, run, message] of cases) {
    it(what, async () => {
      const e = await refusal(run);
      expect(e).toBeInstanceOf(ParseError);
      expect((e as Error).name).toBe('ParseError');
      expect((e as Error).message).toMatch(message);
    });
  }
});

describe('nesting deeper than JSON.stringify can walk', () => {
  const deep = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

  it('a safetensors shape nested 200000 deep is a ParseError, not a stack overflow', () => {
    const bytes = rawSafetensors(`{"a":{"dtype":"F32","shape":${deep(200_000)},"data_offsets":[0,0]}}`);
    expect(() => parseSafetensors(bytes, 'deep.safetensors')).toThrow(ParseError);
    expect(() => parseSafetensors(bytes, 'deep.safetensors')).toThrow(/tensor "a": shape must be an array of non-negative integers, got an array nested too deeply to show/);
  });

  it('a metadata value nested 200000 deep is a ParseError', () => {
    const bytes = rawSafetensors(`{"__metadata__":{"k":${deep(200_000)}}}`);
    expect(() => parseSafetensors(bytes)).toThrow(/"__metadata__" value for "k" must be a string, got an array nested too deeply to show/);
  });

  it('an attack spec nested 200000 deep is a ParseError', () => {
    expect(() => parseAttackSpec(`{"name":"x","backdoors":[${deep(200_000)}]}`)).toThrow(ParseError);
  });
});

describe('PNG sizes are checked before inflating', () => {
  it('a header claiming 2^31 x 2^31 pixels is refused without calling the inflater', async () => {
    let calls = 0;
    const inflate = async (bytes: Uint8Array) => {
      calls++;
      return inflateNode(bytes);
    };
    const bytes = png(2 ** 31, 2 ** 31, deflateSync(new Uint8Array(10)));
    const e = await refusal(() => decodePng(bytes, { source: 'huge.png', inflate }));
    expect(e).toBeInstanceOf(ParseError);
    expect((e as Error).message).toMatch(/png \(huge\.png\): size 2147483648x2147483648 exceeds the cap of 268435456 pixels/);
    expect(calls).toBe(0);
  });

  it('image data inflating to 64 MiB for a 4x4 image is refused; the inflater is told the 20 bytes allowed', async () => {
    const bomb = deflateSync(new Uint8Array(64 * 2 ** 20));
    expect(bomb.length).toBeLessThan(100_000);
    const asked: Array<number | undefined> = [];
    const inflate = async (bytes: Uint8Array, maxBytes?: number) => {
      asked.push(maxBytes);
      return inflateNode(bytes, maxBytes);
    };
    const bytes = png(4, 4, bomb);
    const e = await refusal(() => decodePng(bytes, { source: 'bomb.png', inflate }));
    expect(asked).toEqual([20]);
    expect(e).toBeInstanceOf(ParseError);
    expect((e as Error).message).toMatch(/png \(bomb\.png\): image data does not inflate to the 20 bytes a 4x4 image holds/);
    // The page's inflater (DecompressionStream) stops at the limit too.
    const page = await refusal(() => decodePng(bytes, { source: 'bomb.png' }));
    expect(page).toBeInstanceOf(ParseError);
    expect((page as Error).message).toMatch(/deflate data expands to more than 20 bytes/);
  });

  it('exactly the scanlines a header needs still decode, with either inflater', async () => {
    const image = { width: 3, height: 2, channels: 3 as const, data: Uint8Array.from({ length: 18 }, (_, i) => i * 13) };
    const compressed = encodePng(image, { compress: (data) => new Uint8Array(deflateSync(data)) });
    expect(await decodePng(compressed, { inflate: inflateNode })).toEqual(image);
    expect(await decodePng(compressed)).toEqual(image);
  });
});
