/**
 * Counter-based random bits, specified once here so the CPU backend and the WGSL kernels
 * (src/shaders/random.ts ports these exact integer steps) produce identical streams:
 * the same seed gives the same numbers on every backend, in any order of evaluation.
 */

/** A 32-bit integer finaliser (lowbias32): good avalanche with two multiplies. */
export function mix32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  return x;
}

/** The key of stream `seed`. */
export function streamKey(seed: number): number {
  return mix32((seed ^ 0x9e3779b9) >>> 0);
}

/** Random bits at position `i` (uint32) of the stream with key `key`. */
export function randomBits(key: number, i: number): number {
  return mix32(((mix32((i ^ key) >>> 0) + key) >>> 0));
}

/** Uniform in [0, 1) with 24 random bits: exactly representable in float32. */
export function uniformAt(key: number, i: number): number {
  return (randomBits(key, i) >>> 8) / 16777216;
}

/** Standard normal by Box-Muller from positions 2i and 2i+1 (u1 in (0,1] so log is finite). */
export function normalAt(key: number, i: number): number {
  const u1 = ((randomBits(key, (2 * i) >>> 0) >>> 8) + 1) / 16777216;
  const u2 = (randomBits(key, (2 * i + 1) >>> 0) >>> 8) / 16777216;
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** randperm(n, seed): indices sorted by (randomBits(key, i), i) ascending. */
export function randpermHost(n: number, seed: number): Int32Array {
  const key = streamKey(seed >>> 0);
  const keys = new Uint32Array(n);
  for (let i = 0; i < n; i++) keys[i] = randomBits(key, i);
  const idx = Array.from({ length: n }, (_, i) => i);
  idx.sort((a, b) => keys[a]! - keys[b]! || a - b);
  return Int32Array.from(idx);
}
