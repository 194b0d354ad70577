/**
 * How far recovered triggers move a model's answers: the flip statistic the self-check and the suspect search share,
 * and their searches from zero and from random starts.
 */
import type { Backend } from '../tensor/backend.js';
import type { Module } from '../nn/module.js';
import { Rng } from '../data/rng.js';
import type { CleanSet } from './clean-set.js';
import { addTrigger, recoverSparseTrigger, type TriggerSearchOptions } from './trigger-search.js';
import { predictClasses } from '../train/train.js';

/**
 * The largest share, over classes k, of the images the model put outside k (`base`) that are now in k
 * (`after`); `base` is tiled when `after` holds several probes per image. Returns that share and k.
 */
export function maxClassFlip(base: Int32Array, after: Int32Array, numClasses: number): { rate: number; cls: number } {
  const outside = new Float64Array(numClasses);
  const moved = new Float64Array(numClasses);
  for (let i = 0; i < after.length; i++) {
    const b = base[i % base.length]!;
    for (let k = 0; k < numClasses; k++) if (b !== k) outside[k]!++;
    if (after[i] !== b) moved[after[i]!]!++;
  }
  let best = { rate: 0, cls: 0 };
  for (let k = 0; k < numClasses; k++) {
    const rate = outside[k]! > 0 ? moved[k]! / outside[k]! : 0;
    if (rate > best.rate) best = { rate, cls: k };
  }
  return best;
}

/** The share of the images the model put outside `cls` (`base`) that are now in it (`after`, one probe per image). */
export function classFlip(base: Int32Array, after: Int32Array, cls: number): number {
  if (base.length !== after.length) throw new Error(`classFlip: ${after.length} answers for ${base.length} images`);
  let outside = 0;
  let moved = 0;
  for (let i = 0; i < base.length; i++) {
    if (base[i] === cls) continue;
    outside++;
    if (after[i] === cls) moved++;
  }
  return outside > 0 ? moved / outside : 0;
}

/**
 * How the searches after the first start: a uniform random start of this amplitude, with this much noise blended into
 * the batches. Why: from zero the ascent follows the clean images' local gradient, which a patch backdoor gated behind
 * ReLUs need not show at all (docs/defenses.md, "Finding the suspect").
 */
export const RANDOM_START = { startScale: 0.1, inputNoise: 0.2 } as const;

export interface SearchFlipsOptions extends Omit<TriggerSearchOptions, 'startScale' | 'inputNoise'> {
  /** Searches from random starts after the one from zero. */
  extraStarts: number;
  /** The searches' generators derive from this. */
  seed: number;
  /**
   * The search from zero's result when the caller has it: the self-check with the same options and seed runs exactly
   * that search (its triggerFlip and triggerClass), so its callers pass it on rather than running it twice.
   */
  fromZero?: { flip: number; cls: number };
}

/** One search's flip into its class, and the trigger it recovered (C*H*W values; absent for a `fromZero` taken as given). */
export interface SearchFlip {
  flip: number;
  cls: number;
  trigger?: Float32Array;
}

/**
 * Runs 1 + extraStarts trigger searches against `model` on the check images and returns each one's flip (maxClassFlip
 * against `own`, the model's answers): the first from zero with a generator seeded `seed` (the self-check's own
 * search), the others from RANDOM_START, each with its own generator. `fromZero`, when given, is the first search's
 * result, taken as is rather than run again.
 */
export async function searchFlips(
  model: Module, backend: Backend, check: CleanSet, own: Int32Array, o: SearchFlipsOptions,
): Promise<SearchFlip[]> {
  const dims: [number, number, number, number] = [check.n, check.c, check.h, check.w];
  const out: SearchFlip[] = [];
  for (let s = 0; s <= o.extraStarts; s++) {
    if (s === 0 && o.fromZero) {
      out.push({ flip: o.fromZero.flip, cls: o.fromZero.cls });
      continue;
    }
    const search: TriggerSearchOptions = { tau: o.tau, triggerLr: o.triggerLr, steps: o.steps, batchSize: o.batchSize, ...(s > 0 ? RANDOM_START : {}) };
    const trigger = await recoverSparseTrigger(model, backend, check, search, new Rng((o.seed + 0x9e3779b1 * s) >>> 0));
    const f = maxClassFlip(own, await predictClasses(model, backend, addTrigger(check.images, trigger), dims), check.numClasses);
    out.push({ flip: f.rate, cls: f.cls, trigger });
  }
  return out;
}
