/**
 * Arbitraries that damage valid files the way storage, transfer and hostile editors do: bit flips,
 * overwritten bytes, truncation, inserted and deleted runs, and length fields set to values that
 * claim far more (or less) than the file holds. Positions are fractions of the length, so one
 * mutation applies to a file of any size and shrinks towards the start of the file.
 */
import fc from 'fast-check';

export type Mutation = (bytes: Uint8Array) => Uint8Array;

/** Values a length or size field is worth trying: zero, one, sign and width boundaries, 2^32 - 1. */
export const INTERESTING_U32 = [0, 1, 2, 3, 7, 8, 255, 256, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/**
 * A place in [0, 1): mostly uniform, sometimes biased to the ends as fast-check likes (the first and
 * last bytes matter too). fast-check's plain doubles cluster at the ends, which would leave the
 * middle of every file untouched.
 */
export const position: fc.Arbitrary<number> = fc.oneof(
  { weight: 3, arbitrary: fc.noBias(fc.integer({ min: 0, max: 2 ** 30 - 1 })).map((n) => n / 2 ** 30) },
  { weight: 1, arbitrary: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }) },
);
const at = (bytes: Uint8Array, where: number): number => Math.floor(where * bytes.length);

function splice(bytes: Uint8Array, start: number, deleteCount: number, insert: Uint8Array = new Uint8Array(0)): Uint8Array {
  const end = Math.min(bytes.length, start + deleteCount);
  const out = new Uint8Array(start + insert.length + bytes.length - end);
  out.set(bytes.subarray(0, start));
  out.set(insert, start);
  out.set(bytes.subarray(end), start + insert.length);
  return out;
}

export const bitFlip: fc.Arbitrary<Mutation> = fc.tuple(position, fc.integer({ min: 0, max: 7 })).map(
  ([where, bit]) => (bytes) => {
    if (bytes.length === 0) return bytes;
    const out = bytes.slice();
    out[at(bytes, where)] ^= 1 << bit;
    return out;
  },
);

export const byteSet: fc.Arbitrary<Mutation> = fc.tuple(position, fc.oneof(fc.constantFrom(0, 1, 0x7f, 0x80, 0xff), fc.integer({ min: 0, max: 255 }))).map(
  ([where, value]) => (bytes) => {
    if (bytes.length === 0) return bytes;
    const out = bytes.slice();
    out[at(bytes, where)] = value;
    return out;
  },
);

export const truncate: fc.Arbitrary<Mutation> = position.map((where) => (bytes) => bytes.slice(0, at(bytes, where)));

export const insertBytes: fc.Arbitrary<Mutation> = fc.tuple(position, fc.uint8Array({ minLength: 1, maxLength: 32 })).map(
  ([where, inserted]) => (bytes) => splice(bytes, at(bytes, where), 0, inserted),
);

export const deleteRun: fc.Arbitrary<Mutation> = fc.tuple(position, fc.integer({ min: 1, max: 64 })).map(
  ([where, count]) => (bytes) => splice(bytes, at(bytes, where), count),
);

export const duplicateRun: fc.Arbitrary<Mutation> = fc.tuple(position, fc.integer({ min: 1, max: 64 })).map(
  ([where, count]) => (bytes) => {
    const start = at(bytes, where);
    return splice(bytes, start, 0, bytes.slice(start, start + count));
  },
);

/** A 32-bit field anywhere in the file, either byte order, set to a boundary value or any value. */
export const u32Set: fc.Arbitrary<Mutation> = fc.tuple(position, fc.oneof(fc.constantFrom(...INTERESTING_U32), fc.nat({ max: 0xffffffff })), fc.boolean()).map(
  ([where, value, littleEndian]) => (bytes) => {
    if (bytes.length < 4) return bytes;
    const out = bytes.slice();
    new DataView(out.buffer).setUint32(Math.min(at(bytes, where), bytes.length - 4), value, littleEndian);
    return out;
  },
);

/** Mutations that know nothing of the format. */
export const anyMutation: fc.Arbitrary<Mutation> = fc.oneof(bitFlip, byteSet, truncate, insertBytes, deleteRun, duplicateRun, u32Set);

/** `valid` with one to four mutations applied in turn (format-aware ones from `extra` mixed in). */
export function mutated(valid: fc.Arbitrary<Uint8Array>, extra: Array<fc.Arbitrary<Mutation>> = []): fc.Arbitrary<Uint8Array> {
  const one = extra.length ? fc.oneof(anyMutation, ...extra) : anyMutation;
  return fc.tuple(valid, fc.array(one, { minLength: 1, maxLength: 4 })).map(([bytes, mutations]) => mutations.reduce((b, m) => m(b), bytes));
}

/** Text edits for line formats: characters from the format's own alphabet inserted, replaced, removed; lines repeated or dropped. */
export function mutatedText(valid: fc.Arbitrary<string>, alphabet: string): fc.Arbitrary<string> {
  const char = fc.oneof(fc.constantFrom(...alphabet.split('')), fc.string({ minLength: 1, maxLength: 1, unit: 'binary' }));
  const edit: fc.Arbitrary<(text: string) => string> = fc.oneof(
    fc.tuple(position, char).map(([where, c]) => (t: string) => t.slice(0, Math.floor(where * t.length)) + c + t.slice(Math.floor(where * t.length))),
    fc.tuple(position, char).map(([where, c]) => (t: string) => t.slice(0, Math.floor(where * t.length)) + c + t.slice(Math.floor(where * t.length) + 1)),
    fc.tuple(position, fc.integer({ min: 1, max: 8 })).map(([where, n]) => (t: string) => t.slice(0, Math.floor(where * t.length)) + t.slice(Math.floor(where * t.length) + n)),
    position.map((where) => (t: string) => t.slice(0, Math.floor(where * t.length))),
    fc.tuple(position, fc.boolean()).map(([where, repeat]) => (t: string) => {
      const lines = t.split('\n');
      const i = Math.floor(where * lines.length);
      if (repeat) lines.splice(i, 0, lines[i] ?? '');
      else lines.splice(i, 1);
      return lines.join('\n');
    }),
  );
  return fc.tuple(valid, fc.array(edit, { minLength: 1, maxLength: 4 })).map(([text, edits]) => edits.reduce((t, e) => e(t), text));
}
