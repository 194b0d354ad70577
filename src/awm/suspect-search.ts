/**
 * The search that names AWM+'s suspected target class before any masks go on (awm-plus.ts, suspect-class shift).
 *
 * The self-check's single trigger search from zero (self-check.ts) missed BadNets' 3x3 patch at 5 of 12 seeds on the
 * H100: from zero the ascent follows the clean images' local gradient, which a patch gated behind ReLUs need not show.
 * Searches from random starts, with noise blended into their batches, found it at every seed tried, most of them
 * sending 98-100 % of the check images to the target (docs/defenses.md, "Finding the suspect"). More searches also find more of
 * what a clean model has, though: on a clean small CNN one search in five sent up to 94 % of the images to one class.
 * So one strong search is not enough: a suspect needs SUSPECT_MIN_SEARCHES of them to send SUSPECT_MIN_TRIGGER_FLIP
 * of the images into the same class. (A smaller L1 budget was tried as the filter instead: at half of tau the patch
 * reached 90 % in only one search in five.)
 */
import type { Backend } from '../tensor/backend.js';
import type { Module } from '../nn/module.js';
import type { CleanSet } from './clean-set.js';
import { searchFlips, type SearchFlip, type SearchFlipsOptions } from './trigger-flips.js';

/** The flip a search must reach to count towards a suspect... */
export const SUSPECT_MIN_TRIGGER_FLIP = 0.95;
/** ... and how many searches must reach it with the same class. */
export const SUSPECT_MIN_SEARCHES = 2;

export type SuspectSearchOptions = SearchFlipsOptions;

export interface SuspectSearch {
  /** The class most searches sent at least SUSPECT_MIN_TRIGGER_FLIP of the images to (else the strongest search's), and its largest flip. */
  cls: number;
  flip: number;
  /** How many searches sent at least SUSPECT_MIN_TRIGGER_FLIP of the images to `cls`. */
  agreeing: number;
  /** Each search's flip and class, the one from zero first. */
  searches: Array<{ flip: number; cls: number }>;
  /**
   * The triggers of the searches that sent at least SUSPECT_MIN_TRIGGER_FLIP of the images to `cls` (C*H*W values each,
   * in search order; the search from zero's only when it ran here). AWM+'s --suspect-trigger unlearns them. Not data
   * for a report: plainSearch drops them.
   */
  triggers: Float32Array[];
}

/** The search without its triggers, for reports. */
export function plainSearch(s: SuspectSearch): Omit<SuspectSearch, 'triggers'> {
  const { triggers: _, ...plain } = s;
  return plain;
}

/**
 * Runs 1 + extraStarts trigger searches against `model` on the check images (sparsified into tau, as the self-check's)
 * and tallies, per class, the searches that sent at least SUSPECT_MIN_TRIGGER_FLIP of the images outside it (by `own`,
 * the model's answers) into it. Each search has its own generator, so nothing else a caller draws depends on how many ran.
 */
export async function suspectSearch(model: Module, backend: Backend, check: CleanSet, own: Int32Array, o: SuspectSearchOptions): Promise<SuspectSearch> {
  if (own.length !== check.n) throw new Error(`suspect search: ${own.length} answers for ${check.n} check images`);
  const searches = await searchFlips(model, backend, check, own, o);
  return tallySearches(searches);
}

/** The class with the most searches at SUSPECT_MIN_TRIGGER_FLIP or more (ties: the larger flip; none: the strongest search's class). */
export function tallySearches(searches: SearchFlip[]): SuspectSearch {
  if (!searches.length) throw new Error('suspect search: no searches to tally');
  const strongest = (cls: number) => Math.max(...searches.filter((t) => t.cls === cls).map((t) => t.flip));
  const agreeing = (cls: number) => searches.filter((t) => t.cls === cls && t.flip >= SUSPECT_MIN_TRIGGER_FLIP).length;
  const best = searches.reduce((a, b) => (b.flip > a.flip ? b : a));
  let cls = best.cls;
  for (const t of searches) {
    if (agreeing(t.cls) > agreeing(cls) || (agreeing(t.cls) === agreeing(cls) && strongest(t.cls) > strongest(cls))) cls = t.cls;
  }
  const triggers = searches.filter((t) => t.cls === cls && t.flip >= SUSPECT_MIN_TRIGGER_FLIP && t.trigger).map((t) => t.trigger!);
  return { cls, flip: strongest(cls), agreeing: agreeing(cls), searches: searches.map((t) => ({ flip: t.flip, cls: t.cls })), triggers };
}

export function formatSuspectSearch(s: Pick<SuspectSearch, 'searches' | 'agreeing' | 'cls'>): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  return `${s.searches.length} trigger searches (${s.agreeing} sent ${pct(SUSPECT_MIN_TRIGGER_FLIP)} or more to class ${s.cls}): ${s.searches.map((t) => `${pct(t.flip)} to ${t.cls}`).join('; ')}`;
}
