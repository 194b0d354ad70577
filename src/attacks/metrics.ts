/**
 * Backdoor metrics in one pass over a test set (docs/algorithms.md, "The metrics"):
 * - clean accuracy: clean images classified as their label;
 * - ASR (BackdoorBench, ANP): triggered images classified as the attack's label, over images whose true
 *   label is not the target; asrAll (the AWM paper's convention) counts every image, so its floor is near 1/C;
 * - robust accuracy: triggered images classified as their true label, over the same non-target images as ASR;
 * - two figures that split ASR into what the trigger does and what was there without it: asrOfCorrect, ASR over
 *   the non-target images the model classifies correctly when clean (flips the trigger causes), and
 *   cleanToTarget, the share of non-target images put in the target class with no trigger at all. After a
 *   defense has cost accuracy, misclassifications into the target class count as attack successes in ASR
 *   (measured: most of the Blend model's residual ASR after AWM+ at seed 2 was shirts called T-shirts, the target, with or without the trigger).
 * For all-to-all the attack's label is (y + 1) mod C, never y, so no image is left out and asr = asrAll.
 * Multiple backdoors are measured one trigger at a time; the headline rates are the mean over backdoors.
 * To leave out the clean images a defence used (as AWM does), pass subset(testSet, rest).
 */
import { batches, type ImageDataset } from '../data/dataset.js';
import { validateAttackForData } from './data-check.js';
import { toFloatImages } from './image.js';
import { attackTarget, fixedTarget } from './labels.js';
import { compileTrigger } from './triggers.js';
import type { AttackSpec } from './types.js';

/** Predicted classes of n float [0, 1] NCHW images. */
export type Predictor = (images: Float32Array, n: number) => Promise<Int32Array>;

export interface BackdoorRates {
  /** The backdoor's target class, or null for all-to-all. */
  target: number | null;
  asr: number;
  asrAll: number;
  robustAccuracy: number;
  /** ASR over the non-target images the model gets right without the trigger (absent when measured on pre-triggered images, which have no clean twin). */
  asrOfCorrect?: number;
  /** Non-target images the model puts in the target class without the trigger. */
  cleanToTarget: number;
  /** Images whose true label differs from the attack's label: the denominator of asr and robustAccuracy. */
  nonTarget: number;
}

export interface BackdoorMetrics {
  /** Test images seen. */
  n: number;
  cleanAccuracy: number;
  asr: number;
  asrAll: number;
  robustAccuracy: number;
  asrOfCorrect?: number;
  cleanToTarget: number;
  perBackdoor: BackdoorRates[];
  /** When ASR was measured on a file of pre-triggered images (evaluateTriggered): how many. */
  triggeredImages?: number;
}

export interface EvaluateOptions {
  /** Images per predict call. Default 256. */
  batchSize?: number;
}

export async function evaluateBackdoor(predict: Predictor, testSet: ImageDataset, spec: AttackSpec, options: EvaluateOptions = {}): Promise<BackdoorMetrics> {
  validateAttackForData(spec, testSet);
  const triggers = spec.backdoors.map((b) => compileTrigger(b.trigger, testSet));
  const counts = spec.backdoors.map(() => ({ nonTarget: 0, hits: 0, hitsAll: 0, robust: 0, correct: 0, correctHits: 0, cleanHits: 0 }));
  let correct = 0;
  const C = testSet.numClasses;
  for (const batch of batches(testSet, options.batchSize ?? 256)) {
    const n = batch.labels.length;
    const clean = toFloatImages(batch.images);
    const cleanPred = await checkedPredict(predict, clean, n);
    for (let i = 0; i < n; i++) if (cleanPred[i] === batch.labels[i]) correct++;
    for (let k = 0; k < triggers.length; k++) {
      const pred = await checkedPredict(predict, triggers[k]!(clean), n);
      const rule = spec.backdoors[k]!.label;
      const tally = counts[k]!;
      for (let i = 0; i < n; i++) {
        const y = batch.labels[i]!;
        const target = attackTarget(rule, y, C);
        if (pred[i] === target) tally.hitsAll++;
        if (y === target) continue;
        tally.nonTarget++;
        if (pred[i] === target) tally.hits++;
        if (pred[i] === y) tally.robust++;
        if (cleanPred[i] === target) tally.cleanHits++;
        if (cleanPred[i] === y) {
          tally.correct++;
          if (pred[i] === target) tally.correctHits++;
        }
      }
    }
  }
  const perBackdoor = spec.backdoors.map((b, k): BackdoorRates => {
    const t = counts[k]!;
    return {
      target: fixedTarget(b.label),
      asr: ratio(t.hits, t.nonTarget),
      asrAll: ratio(t.hitsAll, testSet.n),
      robustAccuracy: ratio(t.robust, t.nonTarget),
      asrOfCorrect: ratio(t.correctHits, t.correct),
      cleanToTarget: ratio(t.cleanHits, t.nonTarget),
      nonTarget: t.nonTarget,
    };
  });
  const mean = (pick: (r: BackdoorRates) => number): number => perBackdoor.reduce((s, r) => s + pick(r), 0) / perBackdoor.length;
  return {
    n: testSet.n,
    cleanAccuracy: ratio(correct, testSet.n),
    asr: mean((r) => r.asr),
    asrAll: mean((r) => r.asrAll),
    robustAccuracy: mean((r) => r.robustAccuracy),
    asrOfCorrect: mean((r) => r.asrOfCorrect ?? 0),
    cleanToTarget: mean((r) => r.cleanToTarget),
    perBackdoor,
  };
}

/** Calls the predictor and checks it answered one class per image. */
export async function checkedPredict(predict: Predictor, images: Float32Array, n: number): Promise<Int32Array> {
  const pred = await predict(images, n);
  if (pred.length !== n) throw new Error(`backdoor metrics: the predictor returned ${pred.length} classes for ${n} images`);
  return pred;
}

/** 0 for an empty denominator, so reports stay finite JSON. */
export function ratio(a: number, b: number): number {
  return b === 0 ? 0 : a / b;
}

export interface DerInput {
  cleanAccuracy: number;
  asr: number;
  asrAll?: number;
}

/**
 * Defense effectiveness rating: (max(0, ΔASR) − max(0, ΔACC) + 1) / 2 with ΔX = X(before) − X(after),
 * in [0, 1]; 1 means ASR fell from 1 to 0 at no accuracy cost. Uses the target-excluded ASR unless told.
 */
export function der(before: DerInput, after: DerInput, which: 'asr' | 'asrAll' = 'asr'): number {
  const asrOf = (m: DerInput): number => {
    const v = which === 'asr' ? m.asr : m.asrAll;
    if (v === undefined) throw new Error('der: asrAll is missing from the metrics');
    return v;
  };
  const dAsr = asrOf(before) - asrOf(after);
  const dAcc = before.cleanAccuracy - after.cleanAccuracy;
  return (Math.max(0, dAsr) - Math.max(0, dAcc) + 1) / 2;
}
