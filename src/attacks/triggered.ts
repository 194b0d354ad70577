/**
 * Backdoor metrics from images someone else triggered: a file of test images with the trigger already applied and
 * their true labels (the zoo's `<model>.triggered.safetensors`). ASR can then be measured for triggers this project
 * does not implement (a warp, a sinusoid). The label rule (a target, or all-to-all) comes from the model's metadata or
 * the user; the images carry no rule of their own.
 *
 * Clean accuracy and cleanToTarget come from the clean test set; asrOfCorrect needs each triggered image's clean twin,
 * which such a file does not give, so it is left out.
 */
import { batches, type ImageDataset } from '../data/dataset.js';
import { toFloatImages } from './image.js';
import { attackTarget, fixedTarget } from './labels.js';
import { checkedPredict, ratio, type BackdoorMetrics, type BackdoorRates, type Predictor } from './metrics.js';
import type { LabelRule } from './types.js';

export interface TriggeredImages {
  /** N x C x H x W floats in [0, 1], the trigger already applied. */
  images: Float32Array;
  /** The images' true labels (before the trigger). */
  labels: Int32Array;
  n: number;
  c: number;
  h: number;
  w: number;
  /** What a successful attack predicts for a triggered image of label y. */
  rule: LabelRule;
  /** Where the images came from, for logs and reports. */
  source: string;
}

/** Checks the triggered images against a test set's shape and class count; the message names the file. */
export function validateTriggeredImages(t: TriggeredImages, testSet: Pick<ImageDataset, 'c' | 'h' | 'w' | 'numClasses'>): void {
  if (t.n === 0) throw new Error(`${t.source}: holds no images`);
  if (t.c !== testSet.c || t.h !== testSet.h || t.w !== testSet.w) {
    throw new Error(`${t.source}: images are ${t.c}x${t.h}x${t.w} but the test images are ${testSet.c}x${testSet.h}x${testSet.w}`);
  }
  const bad = t.labels.findIndex((y) => !(y >= 0 && y < testSet.numClasses));
  if (bad >= 0) throw new Error(`${t.source}: label ${t.labels[bad]} of image ${bad} is outside 0..${testSet.numClasses - 1}`);
  if (t.rule.type !== 'all-to-all' && !(t.rule.target >= 0 && t.rule.target < testSet.numClasses)) {
    throw new Error(`${t.source}: target class ${t.rule.target} is outside 0..${testSet.numClasses - 1}`);
  }
  for (let i = 0; i < t.images.length; i++) {
    const v = t.images[i]!;
    if (!(v >= 0 && v <= 1)) throw new Error(`${t.source}: pixel ${i} is ${v}; triggered images must be floats in [0, 1]`);
  }
}

/** The rates of one backdoor from predictions on triggered images and on the clean test set. */
export function triggeredRates(
  triggered: Pick<TriggeredImages, 'labels' | 'rule'>, triggeredPred: Int32Array,
  clean: { labels: Int32Array; pred: Int32Array }, numClasses: number,
): BackdoorRates {
  let nonTarget = 0;
  let hits = 0;
  let hitsAll = 0;
  let robust = 0;
  triggered.labels.forEach((y, i) => {
    const target = attackTarget(triggered.rule, y, numClasses);
    const p = triggeredPred[i];
    if (p === target) hitsAll++;
    if (y === target) return;
    nonTarget++;
    if (p === target) hits++;
    if (p === y) robust++;
  });
  let cleanNonTarget = 0;
  let cleanHits = 0;
  clean.labels.forEach((y, i) => {
    const target = attackTarget(triggered.rule, y, numClasses);
    if (y === target) return;
    cleanNonTarget++;
    if (clean.pred[i] === target) cleanHits++;
  });
  return {
    target: fixedTarget(triggered.rule),
    asr: ratio(hits, nonTarget),
    asrAll: ratio(hitsAll, triggered.labels.length),
    robustAccuracy: ratio(robust, nonTarget),
    cleanToTarget: ratio(cleanHits, cleanNonTarget),
    nonTarget,
  };
}

/** Clean accuracy on `testSet`, and ASR and robust accuracy on the triggered images. */
export async function evaluateTriggered(predict: Predictor, testSet: ImageDataset, triggered: TriggeredImages, options: { batchSize?: number } = {}): Promise<BackdoorMetrics> {
  validateTriggeredImages(triggered, testSet);
  const batchSize = options.batchSize ?? 256;
  const cleanPred = new Int32Array(testSet.n);
  let at = 0;
  for (const batch of batches(testSet, batchSize)) {
    const n = batch.labels.length;
    cleanPred.set(await checkedPredict(predict, toFloatImages(batch.images), n), at);
    at += n;
  }
  const per = triggered.c * triggered.h * triggered.w;
  const triggeredPred = new Int32Array(triggered.n);
  for (let i = 0; i < triggered.n; i += batchSize) {
    const n = Math.min(batchSize, triggered.n - i);
    triggeredPred.set(await checkedPredict(predict, triggered.images.slice(i * per, (i + n) * per), n), i);
  }
  let correct = 0;
  testSet.labels.forEach((y, i) => { if (cleanPred[i] === y) correct++; });
  const rates = triggeredRates(triggered, triggeredPred, { labels: testSet.labels, pred: cleanPred }, testSet.numClasses);
  const { asr, asrAll, robustAccuracy, cleanToTarget } = rates;
  return { n: testSet.n, cleanAccuracy: ratio(correct, testSet.n), asr, asrAll, robustAccuracy, cleanToTarget, perBackdoor: [rates], triggeredImages: triggered.n };
}
