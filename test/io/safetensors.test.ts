import { describe, expect, it } from 'vitest';
import { parseSafetensors, serializeSafetensors } from '../../src/io/safetensors.js';

/** Builds a file from an arbitrary header (object or raw text) and data bytes, bypassing the writer's checks. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const json = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

function u16Bytes(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setUint16(i * 2, v, true));
  return out;
}

describe('safetensors round trip', () => {
  it('writes and reads F32, F64, I32, I64, U8 and metadata', () => {
    const bytes = serializeSafetensors(
      {
        weight: { shape: [2, 3], data: new Float32Array([1, -2.5, 3, 0, 1e-8, -1e30]) },
        double: { shape: [2], data: new Float64Array([Math.PI, -1e-300]) },
        ints: { shape: [3], data: new Int32Array([-5, 0, 2147483647]) },
        longs: { shape: [3], data: new Int32Array([-1, 7, -2147483648]), dtype: 'I64' },
        bytes: { shape: [2, 2], data: new Uint8Array([0, 1, 254, 255]) },
        empty: { shape: [0, 4], data: new Float32Array(0) },
      },
      { format: 'pt', note: 'ünïcode ✓' },
    );
    const parsed = parseSafetensors(bytes);
    expect(parsed.metadata).toEqual({ format: 'pt', note: 'ünïcode ✓' });
    const get = (name: string) => parsed.tensors.get(name)!;
    expect(get('weight')).toEqual({ dtype: 'F32', shape: [2, 3], data: new Float32Array([1, -2.5, 3, 0, 1e-8, -1e30]) });
    expect(get('double').data).toEqual(new Float64Array([Math.PI, -1e-300]));
    expect(get('double').data).toBeInstanceOf(Float64Array);
    expect(get('ints')).toEqual({ dtype: 'I32', shape: [3], data: new Int32Array([-5, 0, 2147483647]) });
    expect(get('longs')).toEqual({ dtype: 'I64', shape: [3], data: new Int32Array([-1, 7, -2147483648]) });
    expect(get('bytes')).toEqual({ dtype: 'U8', shape: [2, 2], data: new Int32Array([0, 1, 254, 255]) });
    expect(get('empty')).toEqual({ dtype: 'F32', shape: [0, 4], data: new Float32Array(0) });
  });

  it('sorts keys (integer-like ones too), lays data out in that order and pads the header to 8 bytes', () => {
    const bytes = serializeSafetensors(
      { b: { shape: [1], data: new Float32Array([2]) }, '10': { shape: [1], data: new Float32Array([10]) }, '2': { shape: [1], data: new Float32Array([3]) } },
      { z: '1', a: '2' },
    );
    const headerLength = new DataView(bytes.buffer).getUint32(0, true);
    expect(headerLength % 8).toBe(0);
    expect(new DataView(bytes.buffer).getUint32(4, true)).toBe(0);
    const header = new TextDecoder().decode(bytes.subarray(8, 8 + headerLength));
    expect(header.trimEnd()).toBe(
      '{"__metadata__":{"a":"2","z":"1"},' +
        '"10":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},' +
        '"2":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},' +
        '"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}',
    );
    expect(/^ *$/.test(header.slice(header.trimEnd().length))).toBe(true);
    expect(bytes.length).toBe(8 + headerLength + 12);
  });

  it('reads files whose tensors are stored in a different order than their keys', () => {
    const data = new Uint8Array([...f32Bytes([7]), ...f32Bytes([8, 9])]);
    const file = rawFile(
      { b: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, a: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } },
      data,
    );
    const parsed = parseSafetensors(file);
    expect(parsed.tensors.get('a')!.data).toEqual(new Float32Array([8, 9]));
    expect(parsed.tensors.get('b')!.data).toEqual(new Float32Array([7]));
    expect(parsed.metadata).toEqual({});
  });

  it('accepts a null __metadata__ and an empty file with no tensors', () => {
    expect(parseSafetensors(rawFile({ __metadata__: null })).tensors.size).toBe(0);
    expect(parseSafetensors(serializeSafetensors({})).tensors.size).toBe(0);
  });
});

describe('safetensors half-precision decoding', () => {
  it('decodes F16 bit patterns to known values', () => {
    const patterns = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x3555, 0x0000, 0x8000, 0x7c00, 0xfc00, 0x7e00];
    const file = rawFile({ h: { dtype: 'F16', shape: [patterns.length], data_offsets: [0, patterns.length * 2] } }, u16Bytes(patterns));
    const { data, dtype } = parseSafetensors(file).tensors.get('h')!;
    expect(dtype).toBe('F16');
    expect(data).toBeInstanceOf(Float32Array);
    const values = Array.from(data);
    expect(values.slice(0, 7)).toEqual([1, -2, 65504, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, 0.333251953125]);
    expect(Object.is(values[7], 0)).toBe(true);
    expect(Object.is(values[8], -0)).toBe(true);
    expect(values[9]).toBe(Infinity);
    expect(values[10]).toBe(-Infinity);
    expect(values[11]).toBeNaN();
  });

  it('decodes BF16 bit patterns to known values', () => {
    const patterns = [0x3f80, 0xc049, 0x4049, 0x0001, 0x7f80, 0xff80, 0x7fc0, 0x3e80];
    const file = rawFile({ b: { dtype: 'BF16', shape: [2, 4], data_offsets: [0, 16] } }, u16Bytes(patterns));
    const { data, shape } = parseSafetensors(file).tensors.get('b')!;
    expect(shape).toEqual([2, 4]);
    const values = Array.from(data);
    expect(values.slice(0, 3)).toEqual([1, -3.140625, 3.140625]);
    expect(values[3]).toBe(2 ** -133); // smallest bf16 subnormal
    expect(values[4]).toBe(Infinity);
    expect(values[5]).toBe(-Infinity);
    expect(values[6]).toBeNaN();
    expect(values[7]).toBe(0.25);
  });

  it('widens the small integer dtypes and BOOL to Int32Array', () => {
    const data = new Uint8Array([0xff, 0x80, 0x01, 0x00, 0x02, 0xfe, 0xff, 0xff, 0x7f]);
    const file = rawFile(
      {
        i8: { dtype: 'I8', shape: [2], data_offsets: [0, 2] },
        flags: { dtype: 'BOOL', shape: [2], data_offsets: [2, 4] },
        u8: { dtype: 'U8', shape: [1], data_offsets: [4, 5] },
        i16: { dtype: 'I16', shape: [2], data_offsets: [5, 9] },
      },
      data,
    );
    const tensors = parseSafetensors(file).tensors;
    expect(tensors.get('i8')!.data).toEqual(new Int32Array([-1, -128]));
    expect(tensors.get('flags')!.data).toEqual(new Int32Array([1, 0]));
    expect(tensors.get('u8')!.data).toEqual(new Int32Array([2]));
    expect(tensors.get('i16')!.data).toEqual(new Int32Array([-2, 0x7fff]));
  });
});

describe('safetensors validation', () => {
  const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const okData = f32Bytes([1, 2]);
  const expectError = (bytes: Uint8Array, pattern: RegExp) =>
    expect(() => parseSafetensors(bytes, 'model.safetensors')).toThrow(pattern);

  it('names the source file in errors', () => {
    expectError(new Uint8Array(3), /safetensors \(model\.safetensors\): file is 3 bytes, shorter than the 8-byte/);
  });

  it('rejects header lengths above the cap or beyond the file', () => {
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setUint32(0, 100_000_001, true);
    expectError(huge, /header length 100000001 exceeds the cap of 100000000 bytes/);
    const highWord = new Uint8Array(16);
    new DataView(highWord.buffer).setUint32(4, 1, true);
    expectError(highWord, /header length 4294967296 exceeds the cap/);
    const tooLong = new Uint8Array(16);
    new DataView(tooLong.buffer).setUint32(0, 9, true);
    expectError(tooLong, /header length 9 exceeds the 8 bytes that follow the prefix/);
  });

  it('rejects headers that are not a JSON object', () => {
    expectError(rawFile('{"a": '), /header is not valid JSON/);
    expectError(rawFile('[1, 2]'), /header must start with "\{"/);
    expectError(rawFile('"text"'), /header must start with "\{"/);
    const badUtf8 = rawFile('{"a":1}');
    badUtf8[10] = 0xff;
    expectError(badUtf8, /header is not valid UTF-8/);
  });

  it('rejects malformed tensor entries', () => {
    expectError(rawFile({ a: 5 }), /tensor "a": entry must be an object/);
    expectError(rawFile({ a: { dtype: 'F8_E4M3', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)), /tensor "a": unknown dtype "F8_E4M3"/);
    expectError(rawFile({ a: { dtype: 7, shape: [1], data_offsets: [0, 4] } }, okData), /tensor "a": dtype must be a string/);
    expectError(rawFile({ a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, okData), /shape must be an array of non-negative integers/);
    expectError(rawFile({ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 8] } }, okData), /shape must be an array of non-negative integers/);
    expectError(rawFile({ a: { dtype: 'F32', shape: '2', data_offsets: [0, 8] } }, okData), /shape must be an array of non-negative integers/);
    expectError(rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0] } }, okData), /data_offsets must be \[start, end\]/);
    expectError(rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [-1, 8] } }, okData), /data_offsets must be \[start, end\]/);
  });

  it('rejects offsets outside the buffer, reversed offsets and wrong byte lengths', () => {
    expectError(rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 12] } }, okData), /tensor "a": data_offsets \[0, 12\] reach past the 8-byte data buffer/);
    expectError(rawFile({ a: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, okData), /tensor "a": data_offsets end 0 is before start 8/);
    expectError(rawFile({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, okData), /tensor "a": byte length 8 does not match shape \[3\] × 4 bytes \(F32\) = 12/);
  });

  it('rejects overlapping tensors and uncovered bytes', () => {
    const overlap = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } };
    expectError(rawFile(overlap, okData), /tensor "b" \[4, 8\] overlaps tensor "a" ending at 8/);
    const hole = { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } };
    expectError(rawFile(hole, new Uint8Array(12)), /data bytes \[4, 8\) before tensor "b" are not covered by any tensor/);
    const leading = { b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } };
    expectError(rawFile(leading, okData), /data bytes \[0, 4\) before tensor "b"/);
    expectError(rawFile(ok, new Uint8Array(12)), /data bytes \[8, 12\) at the end of the buffer are not covered/);
    expect(parseSafetensors(rawFile(ok, okData)).tensors.get('a')!.data).toEqual(new Float32Array([1, 2]));
  });

  it('requires string metadata values', () => {
    expectError(rawFile({ __metadata__: { epoch: 3 } }), /"__metadata__" value for "epoch" must be a string, got 3/);
    expectError(rawFile({ __metadata__: ['x'] }), /"__metadata__" must be an object/);
  });

  it('rejects I64 and U32 values outside the int32 range', () => {
    const big = new Uint8Array(8);
    new DataView(big.buffer).setBigInt64(0, 2n ** 31n, true);
    expectError(rawFile({ n: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, big), /tensor "n": I64 element 0 = 2147483648 is outside the int32 range/);
    const negative = new Uint8Array(8);
    new DataView(negative.buffer).setBigInt64(0, -(2n ** 40n), true);
    expectError(rawFile({ n: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, negative), /I64 element 0 = -1099511627776/);
    const u32 = new Uint8Array([0, 0, 0, 0x80]);
    expectError(rawFile({ n: { dtype: 'U32', shape: [1], data_offsets: [0, 4] } }, u32), /U32 element 0 = 2147483648 is outside/);
  });
});

describe('safetensors writer validation', () => {
  it('rejects inconsistent inputs', () => {
    expect(() => serializeSafetensors({ a: { shape: [3], data: new Float32Array(2) } })).toThrow(/tensor "a": shape \[3\] has 3 elements but data has 2/);
    expect(() => serializeSafetensors({ a: { shape: [-1], data: new Float32Array(0) } })).toThrow(/shape must be an array of non-negative integers/);
    expect(() => serializeSafetensors({ __metadata__: { shape: [0], data: new Float32Array(0) } })).toThrow(/reserved for metadata/);
    expect(() => serializeSafetensors({ a: { shape: [1], data: new Float32Array(1), dtype: 'I64' } })).toThrow(/dtype I64 cannot be written from a Float32Array/);
    expect(() => serializeSafetensors({}, { epoch: 3 as unknown as string })).toThrow(/metadata value for "epoch" must be a string/);
  });
});

describe('Node Buffer input', () => {
  it('decodes tensors from a Buffer view of a larger allocation, not the whole file', async () => {
    const { parseSafetensors, serializeSafetensors } = await import('../../src/io/safetensors.js');
    const bytes = serializeSafetensors({ a: { shape: [2], data: new Float32Array([1, 2]) }, b: { shape: [3], data: new Float32Array([3, 4, 5]) } });
    const buf = Buffer.from(bytes);
    const parsed = parseSafetensors(buf);
    expect(Array.from(parsed.tensors.get('a')!.data)).toEqual([1, 2]);
    expect(Array.from(parsed.tensors.get('b')!.data)).toEqual([3, 4, 5]);
  });
});
