/**
 * A backdoor self-check that needs no knowledge of the trigger, for a model with or without AWM masks.
 * On a check set (fresh augmented copies of the clean images, never trained on) it measures:
 * - agreement: how often the model still gives the ORIGINAL model's answer (a stand-in for clean accuracy);
 * - trigger flip: a new universal trigger is recovered by gradient ascent against the model as it is now and
 *   sparsified into the L1 budget, as AWM+ does; the flip rate is the largest share of images, among those the
 *   model puts outside a class, that the trigger sends into that one class (a patch backdoor's signature);
 * - noise flip: the same rate for random-noise blends x -> (1 - a) x + a u (a dense, Blend-like backdoor
 *   fires on any such blend, and ascent under an L1 budget never finds one).
 * - composite flip (with a CompositeProbe): the same rate on composites of two clean images (cut-and-paste and
 *   mixtures), against the original model's answers on them, the larger of the two kinds': masks fitted to a few images
 *   can turn a backdoor on for inputs they never saw (AWM+ on the WaNet small CNN sent 46 % of clean test images to the
 *   target while agreeing on 98 % of the crops); a composite is such an input, and no crop of one image makes one.
 *   Reported, not scored: AWM+'s output check (output-check.ts) acts on it, and the score stays the one AWM+'s
 *   measured defaults were chosen with.
 * A clean model resists both perturbations; a backdoored one sends most images to its target. The score,
 * max(trigger flip, noise flip) + (1 - agreement), is what AWM+ minimises when it picks among candidate runs.
 */
import type { Backend } from '../tensor/backend.js';
import type { Module } from '../nn/module.js';
import { Rng } from '../data/rng.js';
import type { CleanSet } from './clean-set.js';
import { addTrigger, recoverSparseTrigger } from './trigger-search.js';
import { classFlip, maxClassFlip, searchFlips } from './trigger-flips.js';
import { targetedTriggerSearch, type TargetedSearchOptions } from './targeted-search.js';
import { predictClasses } from '../train/train.js';

export { maxClassFlip } from './trigger-flips.js';

export interface SelfCheckOptions {
  /** L1 budget of the recovered trigger (AWM's tau). */
  tau: number;
  triggerLr: number;
  /** Ascent steps, each on `batchSize` images drawn from the check set. */
  steps: number;
  batchSize: number;
  /** Blend weight of the noise probes. */
  noiseBlend: number;
  /** Noise probes per check image. */
  noiseDraws: number;
  seed: number;
  /**
   * Trigger searches from random starts after the one from zero (trigger-flips.ts; default 0); the strongest counts.
   * AWM+'s --check-starts: a search from zero can miss a patch that is still there, and round selection then keeps a
   * round that only looks clean (docs/defenses.md, "Finding the suspect").
   */
  extraStarts?: number;
  /**
   * AWM+'s --suspect-target: also search a trigger towards this class from zero inside a small budget
   * (targeted-search.ts, its own generator), and count its flip into the class in the score. Why: on the page's small
   * CNN the untargeted search saw under 20 % after runs that left 80 % ASR (docs/defenses.md, "Options off by default").
   */
  targeted?: TargetedSearchOptions;
}

/**
 * Composites of the clean images and the ORIGINAL model's answers on them: the first `cutPaste` are cut-and-paste
 * composites (clean-set.ts cutMixImages), the rest mixtures (twoImageMixtures).
 */
export interface CompositeProbe {
  images: Float32Array;
  reference: Int32Array;
  cutPaste: number;
}

export interface SelfCheck {
  /** Share of check images on which the model gives the reference (original model's) answer. */
  agreement: number;
  triggerFlip: number;
  /** The class the recovered trigger sends images to most. */
  triggerClass: number;
  noiseFlip: number;
  noiseClass: number;
  /** With options.targeted: the share of images outside its class that its trigger sends there. */
  targetedFlip?: number;
  /** With a composite probe: the largest share of composites of one kind, among those the original model puts outside a class, that the model sends there. */
  compositeFlip?: number;
  compositeClass?: number;
  /** max(triggerFlip, noiseFlip, targetedFlip) + (1 - agreement); lower is better. */
  score: number;
}

export async function selfCheck(model: Module, backend: Backend, check: CleanSet, reference: Int32Array, o: SelfCheckOptions, composites?: CompositeProbe): Promise<SelfCheck> {
  if (reference.length !== check.n) throw new Error(`self-check: ${reference.length} reference answers for ${check.n} check images`);
  model.eval();
  const { c, h, w, n, numClasses: k } = check;
  const own = await predictClasses(model, backend, check.images, [n, c, h, w]);
  const agreement = own.reduce((s, p, i) => s + (p === reference[i] ? 1 : 0), 0) / n;

  // A fresh trigger, recovered against the model as it is now.
  const rng = new Rng(o.seed);
  const d = await recoverSparseTrigger(model, backend, check, o, rng);
  let trig = maxClassFlip(own, await predictClasses(model, backend, addTrigger(check.images, d), [n, c, h, w]), k);
  if ((o.extraStarts ?? 0) > 0) {
    // Their own generators: the noise probes below draw what they draw without them.
    const more = await searchFlips(model, backend, check, own, { ...o, extraStarts: o.extraStarts!, fromZero: { flip: trig.rate, cls: trig.cls } });
    const best = more.reduce((a, b) => (b.flip > a.flip ? b : a));
    trig = { rate: best.flip, cls: best.cls };
  }

  const noisy = new Float32Array(o.noiseDraws * check.images.length);
  for (let r = 0; r < o.noiseDraws; r++) {
    for (let i = 0; i < check.images.length; i++) noisy[r * check.images.length + i] = (1 - o.noiseBlend) * check.images[i]! + o.noiseBlend * rng.uniform();
  }
  const noise = o.noiseDraws > 0 ? maxClassFlip(own, await predictClasses(model, backend, noisy, [o.noiseDraws * n, c, h, w]), k) : { rate: 0, cls: 0 };
  let targetedFlip: number | undefined;
  if (o.targeted) {
    const { trigger } = await targetedTriggerSearch(model, backend, check, new Float32Array(c * h * w), o.targeted, new Rng(o.seed ^ 0x7a26));
    targetedFlip = classFlip(own, await predictClasses(model, backend, addTrigger(check.images, trigger), [n, c, h, w]), o.targeted.cls);
  }
  const composite = composites ? await compositeFlip(model, backend, composites, check) : undefined;
  return {
    agreement, triggerFlip: trig.rate, triggerClass: trig.cls, noiseFlip: noise.rate, noiseClass: noise.cls,
    ...(targetedFlip !== undefined ? { targetedFlip } : {}),
    ...(composite ? { compositeFlip: composite.rate, compositeClass: composite.cls } : {}),
    score: Math.max(trig.rate, noise.rate, targetedFlip ?? 0) + (1 - agreement),
  };
}

/**
 * The composite probe's flip: for each kind (cut-and-paste, mixtures), the largest share of its composites, among those
 * the original model puts outside a class, that `model` sends there; the larger of the two, with its class.
 */
export async function compositeFlip(model: Module, backend: Backend, probe: CompositeProbe, shape: Pick<CleanSet, 'c' | 'h' | 'w' | 'numClasses'>): Promise<{ rate: number; cls: number }> {
  const { c, h, w, numClasses } = shape;
  const m = probe.reference.length;
  if (probe.images.length !== m * c * h * w) throw new Error(`self-check: ${probe.images.length} composite values for ${m} reference answers of ${c}x${h}x${w} images`);
  if (!(Number.isInteger(probe.cutPaste) && probe.cutPaste >= 0 && probe.cutPaste <= m)) throw new Error(`self-check: ${probe.cutPaste} cut-and-paste composites of ${m}`);
  const answers = await predictClasses(model, backend, probe.images, [m, c, h, w]);
  const kinds = [[0, probe.cutPaste], [probe.cutPaste, m]].filter(([a, b]) => b! > a!);
  const flips = kinds.map(([a, b]) => maxClassFlip(probe.reference.subarray(a, b), answers.subarray(a, b), numClasses));
  return flips.reduce((x, y) => (y.rate > x.rate ? y : x), { rate: 0, cls: 0 });
}

export function formatSelfCheck(s: SelfCheck): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  return `agreement with the original ${pct(s.agreement)}, recovered-trigger flip ${pct(s.triggerFlip)} (to class ${s.triggerClass}), noise-blend flip ${pct(s.noiseFlip)} (to class ${s.noiseClass}), ${s.targetedFlip !== undefined ? `targeted flip ${pct(s.targetedFlip)}, ` : ''}${s.compositeFlip !== undefined ? `composite flip ${pct(s.compositeFlip)} (to class ${s.compositeClass}), ` : ''}score ${s.score.toFixed(3)}`;
}
