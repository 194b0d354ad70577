/** Which training images are poisoned: pure, seeded selections. */
import { Rng } from '../data/rng.js';
import type { Eligibility } from './types.js';

export interface SelectOptions {
  /** Default 'all'. 'non-target' and 'target-only' need `target`. */
  eligible?: Eligibility;
  target?: number | null;
  /** What `rate` is a fraction of: every image (default, BackdoorBench) or only the eligible ones. */
  rateOf?: 'all' | 'eligible';
  /** Indices that may not be chosen (another backdoor's poisoned set). */
  exclude?: ArrayLike<number>;
}

/** Number of images a rate picks: round(rate * base), half up. */
export function poisonCount(rate: number, base: number): number {
  return Math.floor(rate * base + 0.5);
}

/**
 * round(rate * base) indices drawn uniformly without replacement from the eligible images (a seeded
 * Fisher-Yates shuffle of the eligible list, first entries kept), returned in ascending order.
 */
export function selectPoisonIndices(labels: ArrayLike<number>, rate: number, seed: number, options: SelectOptions = {}): Int32Array {
  const eligible = options.eligible ?? 'all';
  const target = options.target ?? null;
  if (!(rate >= 0 && rate <= 1)) throw new Error(`selectPoisonIndices: rate must be in [0, 1], got ${rate}`);
  if (eligible !== 'all' && target === null) throw new Error(`selectPoisonIndices: eligible "${eligible}" needs a target class`);
  const excluded = new Set<number>();
  if (options.exclude) for (let i = 0; i < options.exclude.length; i++) excluded.add(options.exclude[i]!);
  const pool: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    if (excluded.has(i)) continue;
    const isTarget = labels[i] === target;
    if (eligible === 'non-target' && isTarget) continue;
    if (eligible === 'target-only' && !isTarget) continue;
    pool.push(i);
  }
  const count = poisonCount(rate, (options.rateOf ?? 'all') === 'all' ? labels.length : pool.length);
  if (count > pool.length) {
    throw new Error(`selectPoisonIndices: rate ${rate} asks for ${count} images but only ${pool.length} are eligible (${eligible})`);
  }
  const picked = new Rng(seed).shuffle(pool).slice(0, count);
  return Int32Array.from(picked).sort();
}
