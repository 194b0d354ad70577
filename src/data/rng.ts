/**
 * Seeded pseudo-random generator: sfc32 (Small Fast Counting, 128-bit state), whose four words are
 * initialised from the uint32 seed by splitmix32. Same seed → same stream on every platform.
 */

export interface MutableIndexable<V> {
  length: number;
  [index: number]: V;
}

const TWO_POW_32 = 2 ** 32;

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** `seed` is any integer; it is reduced to uint32 (so -1 and 0xffffffff are the same seed). */
  constructor(seed = 0) {
    if (!Number.isInteger(seed)) throw new Error(`Rng: seed must be an integer, got ${seed}`);
    let state = seed >>> 0;
    const splitmix32 = (): number => {
      state = (state + 0x9e3779b9) >>> 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = splitmix32();
    this.b = splitmix32();
    this.c = splitmix32();
    this.d = splitmix32();
    // A few rounds decorrelate streams from nearby seeds.
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Next uniformly distributed uint32. */
  next(): number {
    const t0 = (this.a + this.b) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.d = (this.d + 1) | 0;
    const t = (t0 + this.d) | 0;
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform float in [lo, hi) with 32 bits of randomness. */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * (this.next() / TWO_POW_32);
  }

  /** Uniform integer in [0, n), unbiased (rejects the top partial range of uint32). */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) throw new Error(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    let r = this.next();
    while (r >= limit) r = this.next();
    return r % n;
  }

  /** Standard normal sample (Box–Muller; 1 - uniform() keeps the logarithm finite). */
  normal(mean = 0, std = 1): number {
    const u = 1 - this.uniform();
    const v = this.uniform();
    return mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Shuffles in place with Fisher–Yates and returns the same array. */
  shuffle<T extends MutableIndexable<unknown>>(array: T): T {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = array[i];
      array[i] = array[j];
      array[j] = tmp;
    }
    return array;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = i;
    return this.shuffle(out);
  }
}
