/** Conversions from 16-bit float encodings to JS numbers. */

/** Decodes an IEEE 754 binary16 bit pattern (sign 1, exponent 5, mantissa 10). */
export function f16BitsToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24; // zero and subnormals
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

const bf16Scratch = new Float32Array(1);
const bf16ScratchBits = new Uint32Array(bf16Scratch.buffer);

/** Decodes a bfloat16 bit pattern: it is the upper half of a float32, so shifting it back up is exact. */
export function bf16BitsToNumber(bits: number): number {
  bf16ScratchBits[0] = (bits & 0xffff) << 16;
  return bf16Scratch[0];
}
