/**
 * One interface for every backdoor defense (AWM-dual, AWM, AWM+, fine-tuning, ANP):
 * a defense takes a model and a small clean set and changes the model's weights in place.
 */
import type { Backend } from '../tensor/backend.js';
import type { Classifier } from '../nn/classifier.js';
import type { CleanSet } from './clean-set.js';
import type { AttackSpec } from '../attacks/index.js';
import type { AwmHooks } from './awm.js';

export type DefenseMethod = 'awm-dual' | 'awm' | 'awm+' | 'ft' | 'anp';

export interface DefenseContext {
  backend: Backend;
  model: Classifier;
  clean: CleanSet;
  seed: number;
  /** Progress lines (one per round or per logging interval). */
  log: (line: string) => void;
  /** Abort between steps. */
  shouldStop?: () => boolean;
  /** Where given, per-round progress goes here instead of to `log` (a terminal draws a status line from it). */
  progress?: (p: DefenseProgress) => void;
  /**
   * Live views of a masking run (AWM, AWM-dual, AWM+; the page's charts): hooks added to each run's own, given its
   * mask steps per phase. Their onRound runs after the run's progress line.
   */
  awmHooks?: (stepsPerPhase: number) => AwmHooks;
  /**
   * The attack, when the caller knows it (for evaluation). Defenses never use it to clean a model;
   * it serves only diagnostics the user asks for (AWM+ --known-trigger: an upper bound for trigger recovery).
   */
  attack?: AttackSpec;
}

/** How far a run is: `done` of `total` units (rounds, steps), the time left, and the line a log would get. */
export interface DefenseProgress {
  done: number;
  total: number;
  etaSeconds: number;
  unit: string;
  line: string;
}

/** A run's progress after `done` of `total` units, started at `t0` (performance.now()), the time left at the pace so far. */
export function progressAt(done: number, total: number, t0: number, unit: string, line: string): DefenseProgress {
  const elapsed = (performance.now() - t0) / 1000;
  return { done, total, etaSeconds: done > 0 ? (elapsed / done) * (total - done) : Number.NaN, unit, line };
}

/** Progress where the caller takes it, else its line to the log. */
export function reportProgress(sink: { log?: (line: string) => void; progress?: (p: DefenseProgress) => void }, p: DefenseProgress): void {
  if (sink.progress) sink.progress(p);
  else sink.log?.(p.line);
}

export interface DefenseOutcome {
  method: DefenseMethod;
  seconds: number;
  /** Hyper-parameters actually used (after presets and scaling). */
  settings: Record<string, number | string | boolean>;
  /** Method-specific figures for the report (per-round stats, pruned channels, ...). */
  details: Record<string, unknown>;
  /** Soft masks per conv layer (AWM) or per BatchNorm layer (ANP), for the masks file and histograms. */
  masks?: Map<string, Float32Array>;
  /** Recovered triggers, one per round (AWM), each shaped like one input image. */
  triggers?: Float32Array[];
}

export interface Defense<O> {
  readonly method: DefenseMethod;
  /** Fills unspecified options with the method's defaults for this clean set and model. */
  resolveOptions(partial: Partial<O>, ctx: Pick<DefenseContext, 'clean' | 'model' | 'seed'>): O;
  run(ctx: DefenseContext, options: O): Promise<DefenseOutcome>;
}
