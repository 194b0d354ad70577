/**
 * One purification run in the page, with live hooks. It follows purifyModel (src/awm/purify.ts) step
 * for step and returns the same PurifyReport, but drives runAwm itself: the Defense interface has no
 * place for per-step hooks, and the views need the trigger, the loss terms, the gradient norms and
 * the masks while the run goes.
 */
import type { Backend } from '../../src/tensor/backend.js';
import type { Classifier } from '../../src/nn/classifier.js';
import { readMasks } from '../../src/nn/masks.js';
import { runAwm, type AwmMaskStepInfo, type AwmResult, type AwmRoundStats } from '../../src/awm/awm.js';
import { describeAwmRun, foldedOutcome, resolveAwmOptions, type AwmDefenseOptions } from '../../src/awm/awm-defense.js';
import { awmPlusOutcome, resolveAwmPlusOptions, runAwmPlusCandidates, type AwmPlusOptions } from '../../src/awm/awm-plus.js';
import { augmentOneShot, perClassCounts, validateCleanSet, type CleanSet } from '../../src/awm/clean-set.js';
import { stepsPerPhase } from '../../src/awm/options.js';
import { evaluateModel, maskStatistics, purifyReport, type LayerMaskStats, type PurifyEvaluation, type PurifyReport } from '../../src/awm/purify.js';
import type { BackdoorMetrics } from '../../src/attacks/metrics.js';
import { PageError } from './errors.js';
import type { Settings } from './settings.js';

export interface JobListener {
  log(line: string): void;
  evaluated(when: 'before' | 'after', metrics: BackdoorMetrics): void;
  maskStep(info: AwmMaskStepInfo): void;
  round(stats: AwmRoundStats, masks: LayerMaskStats[]): void;
  shouldStop(): boolean;
}

export interface JobResult {
  report: PurifyReport;
  triggers: Float32Array[];
}

/** Loss terms and gradient norms at most this often per round: each read waits for the GPU. */
const PROBES_PER_ROUND = 20;

/** Lets the page repaint between steps (the CPU backend never yields by itself). */
const yieldToPage = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

async function currentMaskStats(model: Classifier): Promise<LayerMaskStats[]> {
  return maskStatistics(await readMasks(model));
}

function checkCleanSet(model: Classifier, clean: CleanSet): Int32Array {
  const spec = model.spec;
  try {
    validateCleanSet(clean, { c: spec.inChannels, numClasses: spec.numClasses });
  } catch (e) {
    throw new PageError('shapes', 'The clean images do not fit the model', (e as Error).message);
  }
  const counts = perClassCounts(clean);
  const empty = counts.findIndex((c) => c === 0);
  if (empty >= 0) throw new PageError('images', `Class ${empty} has no clean image`, 'AWM needs at least one clean image of every class the model knows.');
  return counts;
}

export async function runJob(backend: Backend, model: Classifier, clean: CleanSet, settings: Settings, evaluation: PurifyEvaluation | null, listener: JobListener): Promise<JobResult> {
  checkCleanSet(model, clean);
  let before: BackdoorMetrics | undefined;
  if (evaluation) {
    before = await evaluateModel(model, backend, evaluation);
    listener.evaluated('before', before);
  }
  const ctx = { clean, seed: settings.seed };
  const plus = settings.method === 'awm+';
  const o: AwmDefenseOptions | AwmPlusOptions = plus ? resolveAwmPlusOptions(settings.options, ctx) : resolveAwmOptions(settings.options, ctx);
  const t0 = performance.now();
  const hooks = (T: number) => ({
    shouldStop: () => listener.shouldStop(),
    maskStepEvery: Math.ceil(T / PROBES_PER_ROUND),
    maskGradNorms: true,
    onMaskStep: async (info: AwmMaskStepInfo) => {
      listener.maskStep(info);
      await yieldToPage();
    },
    onRound: async (stats: AwmRoundStats) => {
      listener.round(stats, await currentMaskStats(model));
      listener.log(`round ${stats.round}/${stats.rounds}: loss ${stats.loss.toFixed(4)} (clean ${stats.cleanLoss.toFixed(4)}, triggered ${stats.triggeredLoss.toFixed(4)}), ` +
        `trigger L1 ${stats.triggerL1.toFixed(1)} -> ${stats.triggerL1Rescaled.toFixed(1)}, mean mask ${stats.meanMask.toFixed(4)}, ${stats.seconds.toFixed(1)} s`);
      await yieldToPage();
    },
  });
  let outcome;
  if (plus) {
    const r = await runAwmPlusCandidates(model, backend, clean, o as AwmPlusOptions, (l) => listener.log(l), hooks);
    outcome = awmPlusOutcome(model, t0, o as AwmPlusOptions, r);
  } else {
    let set = clean;
    if (o.augmentCopies > 0) set = await augmentOneShot(backend, clean, { copies: o.augmentCopies, flip: o.augmentFlip, seed: o.seed ^ 0x5eed });
    listener.log(describeAwmRun(clean.n, set.n, o as AwmDefenseOptions));
    const result: AwmResult = await runAwm(model, backend, set, o, hooks(stepsPerPhase(set.n, o.batchSize, o.inner)));
    outcome = foldedOutcome(model, settings.method, t0, o, result, set.n);
  }
  outcome.details.ranIn = 'browser';
  let after: BackdoorMetrics | undefined;
  if (evaluation) {
    after = await evaluateModel(model, backend, evaluation);
    listener.evaluated('after', after);
  }
  const report = purifyReport({ outcome, seed: settings.seed, backend, model, clean, before, after, evaluation: evaluation ?? undefined });
  return { report, triggers: outcome.triggers ?? [] };
}
