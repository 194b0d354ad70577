/**
 * The whole purification job shared by the CLI, the demo, the benchmark and the browser page:
 * evaluate the model (when test data and an attack spec are given), run a defense on the clean set,
 * evaluate again, and gather everything a report needs.
 */
import type { Backend } from '../tensor/backend.js';
import type { Classifier } from '../nn/classifier.js';
import type { ImageDataset } from '../data/dataset.js';
import type { AttackSpec } from '../attacks/types.js';
import { der, evaluateBackdoor, type BackdoorMetrics } from '../attacks/metrics.js';
import { evaluateTriggered, type TriggeredImages } from '../attacks/triggered.js';
import { accuracyOf, predictClasses } from '../train/train.js';
import { perClassCounts, validateCleanSet, type CleanSet } from './clean-set.js';
import { reportProgress, type DefenseContext, type DefenseMethod, type DefenseOutcome, type DefenseProgress } from './defense.js';
import { awmDefense, type AwmPartial } from './awm-defense.js';
import { awmPlusDefense, type AwmPlusPartial } from './awm-plus.js';
import { awmDualDefense, type AwmDualPartial } from './dual.js';
import { fineTuneDefense, type FineTuneOptions } from './finetune.js';
import { anpDefense, type AnpOptions } from './anp.js';
import { maskHistogram } from './pictures.js';
import { MemoryWatch, sampleLabel, type MemorySummary } from './memory-watch.js';
import { FOUND_FACTOR, footprintShare, triggerFootprint } from './trigger-footprint.js';

export interface PurifyOptions {
  method: DefenseMethod;
  seed: number;
  awm?: AwmPartial;
  awmPlus?: AwmPlusPartial;
  awmDual?: AwmDualPartial;
  ft?: Partial<FineTuneOptions>;
  anp?: Partial<AnpOptions>;
}

/**
 * What the model is measured on before and after: clean accuracy on `testSet`, and ASR either from a known `attack`
 * (its trigger applied to every test image) or from `triggered` images someone else made (one of the two).
 */
export type PurifyEvaluation = {
  testSet: ImageDataset;
  batchSize?: number;
} & ({ attack: AttackSpec; triggered?: undefined } | { triggered: TriggeredImages; attack?: undefined });

export interface LayerMaskStats {
  layer: string;
  size: number;
  mean: number;
  min: number;
  max: number;
  /** Fraction of entries below 0.5 (how much of the layer AWM switched off). */
  below05: number;
  histogram: number[];
}

export interface PurifyReport {
  method: DefenseMethod;
  seed: number;
  backend: string;
  model: { arch: string; width: number; inChannels: number; numClasses: number };
  /**
   * The clean images the defense was given: how many, per class, and the share the model got right before and after
   * the defense (absent from reports made outside purifyModel, e.g. the browser page's).
   */
  clean: { images: number; perClass: number[]; accuracyBefore?: number; accuracyAfter?: number };
  settings: Record<string, number | string | boolean>;
  seconds: number;
  before?: BackdoorMetrics;
  after?: BackdoorMetrics;
  der?: number;
  evaluationImages?: number;
  maskStats?: LayerMaskStats[];
  /**
   * Evaluation only (the defense never sees the attack): with a known attack whose trigger covers part of the image,
   * each round's recovered trigger's share of its L1 mass on those pixels, and how many rounds held at least
   * FOUND_FACTOR times an even spread's share there.
   */
  triggerOnAttack?: TriggerOnAttack;
  details: Record<string, unknown>;
  /** Live storages and the resident set over the defense (src/awm/memory-watch.ts). */
  memory?: MemorySummary;
}

export interface TriggerOnAttack {
  /** The attack's trigger pixels as a share of the image. */
  areaShare: number;
  perRound: number[];
  /** Rounds whose share is at least FOUND_FACTOR x areaShare. */
  found: number;
}

/** Where each recovered trigger lies against the attack's own trigger, when the attack is known and local (a patch). */
export function triggerOnAttack(attack: AttackSpec, triggers: readonly Float32Array[], shape: { c: number; h: number; w: number }): TriggerOnAttack | undefined {
  const footprint = triggerFootprint(attack, shape);
  if (!footprint || triggers.length === 0) return undefined;
  const shares = triggers.map((t) => footprintShare(t, shape.c, shape.h, shape.w, footprint));
  const areaShare = shares[0]!.areaShare;
  const perRound = shares.map((s) => s.share);
  return { areaShare, perRound, found: perRound.filter((s) => s >= FOUND_FACTOR * areaShare).length };
}

/** The log line of triggerOnAttack. */
export function formatTriggerOnAttack(t: TriggerOnAttack): string {
  return `recovered triggers on the attack's own trigger pixels (${(100 * t.areaShare).toFixed(1)} % of the image; evaluation only): ` +
    `${t.found} of ${t.perRound.length} rounds held at least ${FOUND_FACTOR}x an even share there (${t.perRound.map((s) => (100 * s).toFixed(1)).join(', ')} %)`;
}

export function maskStatistics(masks: Map<string, Float32Array>): LayerMaskStats[] {
  return [...masks].map(([layer, m]) => {
    let sum = 0;
    let min = Infinity;
    let max = -Infinity;
    let below = 0;
    for (let i = 0; i < m.length; i++) {
      const v = m[i]!;
      sum += v;
      min = Math.min(min, v);
      max = Math.max(max, v);
      if (v < 0.5) below++;
    }
    return { layer, size: m.length, mean: sum / m.length, min, max, below05: below / m.length, histogram: maskHistogram(m) };
  });
}

export async function evaluateModel(model: Classifier, backend: Backend, ev: PurifyEvaluation): Promise<BackdoorMetrics> {
  const s = ev.testSet;
  const predict = (images: Float32Array, n: number) => predictClasses(model, backend, images, [n, s.c, s.h, s.w], ev.batchSize ?? 256);
  return ev.triggered ? evaluateTriggered(predict, s, ev.triggered, { batchSize: 2000 }) : evaluateBackdoor(predict, s, ev.attack, { batchSize: 2000 });
}

/** The share of the clean set's own images the model answers with their labels (eval mode). */
export async function cleanSetAccuracy(model: Classifier, backend: Backend, clean: CleanSet): Promise<number> {
  return accuracyOf(await predictClasses(model, backend, clean.images, [clean.n, clean.c, clean.h, clean.w]), clean.labels);
}

/**
 * The warning purifyModel logs when the defense lost accuracy on the very images it was given: more than 10 points and
 * at least two images. Why: with no evaluation data this is the only sign a user gets that a defense (ANP's defaults at
 * 1-10 images per class, in docs/defenses.md) has wrecked the model; a defense fitted to these images should keep them.
 */
export function cleanAccuracyWarning(method: DefenseMethod, n: number, before: number, after: number): string | undefined {
  if (!(after < before - Math.max(0.1, 2 / n))) return undefined;
  const count = (x: number) => `${Math.round(x * n)} of ${n}`;
  const hint = method === 'anp'
    ? "; ANP's defaults were made for hundreds of clean images: prune fewer channels (--prune-count K) or try --method awm+"
    : '';
  return `warning: the purified model answers ${count(after)} clean images right, against ${count(before)} before the defense: it lost accuracy on the very images it was given, so expect worse elsewhere; check it on held-out data before use${hint}`;
}

/** Where a purify run reports: lines, progress, the evaluations as they are made, and live views of a masking run. */
export interface PurifyIO {
  log: (line: string) => void;
  shouldStop?: () => boolean;
  progress?: (p: DefenseProgress) => void;
  evaluated?: (when: 'before' | 'after', metrics: BackdoorMetrics) => void;
  awmHooks?: DefenseContext['awmHooks'];
}

export async function purifyModel(
  backend: Backend,
  model: Classifier,
  clean: CleanSet,
  options: PurifyOptions,
  io: PurifyIO,
  evaluation?: PurifyEvaluation,
): Promise<{ report: PurifyReport; outcome: DefenseOutcome }> {
  const spec = model.spec;
  validateCleanSet(clean, { c: spec.inChannels, numClasses: spec.numClasses });
  if (spec.arch === 'small-cnn' && (clean.h !== spec.inputSize || clean.w !== spec.inputSize)) {
    throw new Error(`the clean images are ${clean.h}x${clean.w} but the model (small-cnn) expects ${spec.inputSize}x${spec.inputSize}`);
  }
  const counts = perClassCounts(clean);
  const empty = [...counts].findIndex((c) => c === 0);
  if (empty >= 0) throw new Error(`class ${empty} has no clean image: every class needs at least one`);

  let before: BackdoorMetrics | undefined;
  if (evaluation) {
    before = await evaluateModel(model, backend, evaluation);
    io.evaluated?.('before', before);
    io.log(`before: clean accuracy ${(100 * before.cleanAccuracy).toFixed(2)}%, ASR ${(100 * before.asr).toFixed(2)}% (target excluded), ${(100 * before.asrAll).toFixed(2)}% (all images)`);
  }
  const cleanBefore = await cleanSetAccuracy(model, backend, clean);
  const watch = new MemoryWatch(backend);
  const log = (line: string): void => {
    watch.sample(sampleLabel(line));
    io.log(line);
  };
  const progress = (p: DefenseProgress): void => {
    watch.sample(sampleLabel(p.line));
    reportProgress(io, p);
  };
  const ctx = { backend, model, clean, seed: options.seed, log, progress, shouldStop: io.shouldStop, awmHooks: io.awmHooks, attack: evaluation?.attack };
  let outcome: DefenseOutcome;
  switch (options.method) {
    case 'awm-dual':
      outcome = await awmDualDefense.run(ctx, awmDualDefense.resolveOptions(options.awmDual ?? {}, ctx));
      break;
    case 'awm':
      outcome = await awmDefense.run(ctx, awmDefense.resolveOptions(options.awm ?? {}, ctx));
      break;
    case 'awm+':
      outcome = await awmPlusDefense.run(ctx, awmPlusDefense.resolveOptions(options.awmPlus ?? {}, ctx));
      break;
    case 'ft':
      outcome = await fineTuneDefense.run(ctx, fineTuneDefense.resolveOptions(options.ft ?? {}, ctx));
      break;
    case 'anp':
      outcome = await anpDefense.run(ctx, anpDefense.resolveOptions(options.anp ?? {}, ctx));
      break;
    default:
      throw new Error(`unknown method '${String(options.method)}' (awm-dual, awm, awm+, ft or anp)`);
  }
  const memory = watch.finish();
  await assertFiniteWeights(model);
  const cleanAfter = await cleanSetAccuracy(model, backend, clean);
  io.log(`clean images right: ${Math.round(cleanBefore * clean.n)} of ${clean.n} before the defense, ${Math.round(cleanAfter * clean.n)} after`);
  const warning = cleanAccuracyWarning(options.method, clean.n, cleanBefore, cleanAfter);
  if (warning) io.log(warning);
  let after: BackdoorMetrics | undefined;
  if (evaluation) {
    after = await evaluateModel(model, backend, evaluation);
    io.evaluated?.('after', after);
    const flipped = after.asrOfCorrect === undefined ? '' : `${(100 * after.asrOfCorrect).toFixed(2)}% of those right without the trigger flipped by it, `;
    io.log(`after:  clean accuracy ${(100 * after.cleanAccuracy).toFixed(2)}%, ASR ${(100 * after.asr).toFixed(2)}% (target excluded), ${(100 * after.asrAll).toFixed(2)}% (all images); ` +
      `${flipped}${(100 * after.cleanToTarget).toFixed(2)}% in the target class with no trigger`);
  }
  const report = purifyReport({ outcome, seed: options.seed, backend, model, clean, before, after, evaluation, cleanAccuracy: { before: cleanBefore, after: cleanAfter }, memory });
  if (report.triggerOnAttack) io.log(formatTriggerOnAttack(report.triggerOnAttack));
  return { report, outcome };
}

/** The report of a finished defense run; shared by `awm purify` and the browser page. */
export function purifyReport(r: {
  outcome: DefenseOutcome; seed: number; backend: Backend; model: Classifier; clean: CleanSet;
  before?: BackdoorMetrics; after?: BackdoorMetrics; evaluation?: PurifyEvaluation;
  /** The share of the clean images the model answered right before and after the defense, when measured. */
  cleanAccuracy?: { before: number; after: number };
  memory?: MemorySummary;
}): PurifyReport {
  const spec = r.model.spec;
  return {
    method: r.outcome.method,
    seed: r.seed,
    backend: r.backend.info.description,
    model: { arch: spec.arch, width: spec.width, inChannels: spec.inChannels, numClasses: spec.numClasses },
    clean: {
      images: r.clean.n, perClass: [...perClassCounts(r.clean)],
      ...(r.cleanAccuracy ? { accuracyBefore: r.cleanAccuracy.before, accuracyAfter: r.cleanAccuracy.after } : {}),
    },
    settings: r.outcome.settings,
    seconds: r.outcome.seconds,
    before: r.before,
    after: r.after,
    der: r.before && r.after ? der(r.before, r.after) : undefined,
    evaluationImages: r.evaluation?.testSet.n,
    maskStats: r.outcome.masks ? maskStatistics(r.outcome.masks) : undefined,
    triggerOnAttack: r.evaluation?.attack && r.outcome.triggers ? triggerOnAttack(r.evaluation.attack, r.outcome.triggers, r.clean) : undefined,
    details: r.outcome.details,
    ...(r.memory ? { memory: r.memory } : {}),
  };
}

/** A defense that diverged leaves NaN or Inf in the weights; refuse to hand such a model on. */
async function assertFiniteWeights(model: Classifier): Promise<void> {
  for (const [name, t] of model.namedParameters()) {
    const d = await t.data();
    for (let i = 0; i < d.length; i++) {
      if (!Number.isFinite(d[i]!)) throw new Error(`the defense produced a non-finite value in ${name}; no output was written`);
    }
  }
}
