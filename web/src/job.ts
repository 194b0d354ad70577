/**
 * One purification run in the page: purifyModel (src/awm/purify.ts), the same pipeline as `awm purify`, with the
 * page's live views hooked into the masking run (the trigger, the loss terms, the gradient norms and the masks
 * while it goes) and its errors said in the page's words.
 */
import type { Backend } from '../../src/tensor/backend.js';
import type { Classifier } from '../../src/nn/classifier.js';
import { readMasks } from '../../src/nn/masks.js';
import type { AwmMaskStepInfo, AwmRoundStats } from '../../src/awm/awm.js';
import { perClassCounts, validateCleanSet, type CleanSet } from '../../src/awm/clean-set.js';
import { maskStatistics, purifyModel, type LayerMaskStats, type PurifyEvaluation, type PurifyReport } from '../../src/awm/purify.js';
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
  const { report, outcome } = await purifyModel(backend, model, clean, {
    method: settings.method, seed: settings.seed, awm: settings.options, awmPlus: settings.options,
  }, {
    log: (line) => listener.log(line),
    shouldStop: () => listener.shouldStop(),
    evaluated: (when, metrics) => listener.evaluated(when, metrics),
    awmHooks: (T) => ({
      maskStepEvery: Math.ceil(T / PROBES_PER_ROUND),
      maskGradNorms: true,
      onMaskStep: async (info: AwmMaskStepInfo) => {
        listener.maskStep(info);
        await yieldToPage();
      },
      onRound: async (stats: AwmRoundStats) => {
        listener.round(stats, await currentMaskStats(model));
        await yieldToPage();
      },
    }),
  }, evaluation ?? undefined);
  report.details.ranIn = 'browser';
  return { report, triggers: outcome.triggers ?? [] };
}
