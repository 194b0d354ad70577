/**
 * AWM behind the Defense interface: resolves defaults and the one-shot preset, scales tau to the
 * input size, makes the one-shot augmented copies, runs the rounds and folds the masks into the
 * weights.
 */
import { reportProgress, type Defense, type DefenseContext, type DefenseOutcome } from './defense.js';
import { augmentOneShot, perClassCounts } from './clean-set.js';
import { AWM_DEFAULTS, AWM_ONE_SHOT, scaleTau, stepsPerPhase, type AwmOptions } from './options.js';
import { runAwm, type AwmHooks, type AwmResult, type AwmRoundStats } from './awm.js';
import { foldMasks } from '../nn/masks.js';
import type { Module } from '../nn/module.js';

export interface AwmDefenseOptions extends AwmOptions {
  /** Extra random-resized-crop copies per clean image, made once (one-shot preset: 9). */
  augmentCopies: number;
  /** Horizontal flips in those copies (off for digits, signs and grayscale clothing by default). */
  augmentFlip: boolean;
  /** Whether the one-shot preset was applied (one image per class). */
  oneShot: boolean;
  /** tau as given for a 3x32x32 input, before scaling (NaN when given absolutely). */
  tau3072: number;
}

export interface AwmPartial extends Partial<AwmDefenseOptions> {
  /** An absolute tau overrides the scaled one. */
  tauAbsolute?: number;
}

/** One image per class in the clean set (the paper's one-shot setting). */
export function isOneShot(counts: Int32Array): boolean {
  return counts.length > 0 && counts.every((c) => c <= 1);
}

export function resolveAwmOptions(partial: AwmPartial, ctx: Pick<DefenseContext, 'clean' | 'seed'>): AwmDefenseOptions {
  const { c, h, w } = ctx.clean;
  const oneShot = partial.oneShot ?? isOneShot(perClassCounts(ctx.clean));
  const preset = oneShot ? AWM_ONE_SHOT : { batchSize: AWM_DEFAULTS.batchSize, alpha: AWM_DEFAULTS.alpha, tau3072: AWM_DEFAULTS.tau3072 };
  const tau3072 = partial.tau3072 ?? preset.tau3072;
  return {
    outer: partial.outer ?? AWM_DEFAULTS.outer,
    inner: partial.inner ?? AWM_DEFAULTS.inner,
    batchSize: partial.batchSize ?? preset.batchSize,
    alpha: partial.alpha ?? preset.alpha,
    gamma: partial.gamma ?? AWM_DEFAULTS.gamma,
    tau: partial.tauAbsolute ?? scaleTau(tau3072, c, h, w),
    tau3072: partial.tauAbsolute !== undefined ? Number.NaN : tau3072,
    triggerLr: partial.triggerLr ?? AWM_DEFAULTS.triggerLr,
    maskLr: partial.maskLr ?? AWM_DEFAULTS.maskLr,
    lrDecay: partial.lrDecay ?? AWM_DEFAULTS.lrDecay,
    seed: partial.seed ?? ctx.seed,
    augmentCopies: partial.augmentCopies ?? (oneShot ? 9 : 0),
    augmentFlip: partial.augmentFlip ?? c === 3,
    oneShot,
  };
}

/** The line announcing an AWM run: images, rounds, steps and the main hyper-parameters. */
export function describeAwmRun(cleanImages: number, setSize: number, o: AwmDefenseOptions): string {
  return `AWM: ${setSize} clean images${o.augmentCopies ? ` (${cleanImages} + ${o.augmentCopies} augmented copies each)` : ''}, ` +
    `${o.outer} rounds x 2 phases x ${stepsPerPhase(setSize, o.batchSize, o.inner)} steps, batch ${o.batchSize}, alpha ${o.alpha}, tau ${o.tau.toFixed(2)}${o.oneShot ? ' (one-shot preset)' : ''}`;
}

export function formatRound(s: AwmRoundStats, etaSeconds: number): string {
  return `round ${String(s.round).padStart(2)}/${s.rounds}  loss ${s.loss.toFixed(4)} (clean ${s.cleanLoss.toFixed(4)}, triggered ${s.triggeredLoss.toFixed(4)})  ` +
    `trigger L1 ${s.triggerL1.toFixed(1)} -> ${s.triggerL1Rescaled.toFixed(1)}  mean mask ${s.meanMask.toFixed(4)}  ` +
    `${s.blendPatternLoss !== undefined ? `blend-pattern CE ${(-s.blendPatternLoss).toFixed(3)}  ` : ''}${s.denseTriggerLoss !== undefined ? `dense-trigger CE ${(-s.denseTriggerLoss).toFixed(3)}  ` : ''}${s.targetedLoss !== undefined ? `targeted CE ${s.targetedLoss.toFixed(3)}  ` : ''}${s.seconds.toFixed(1)} s  ETA ${Math.round(etaSeconds)} s`;
}

export const awmDefense: Defense<AwmDefenseOptions> = {
  method: 'awm',
  resolveOptions: (partial, ctx) => resolveAwmOptions(partial, ctx),
  async run(ctx: DefenseContext, o: AwmDefenseOptions): Promise<DefenseOutcome> {
    const t0 = performance.now();
    const set = o.augmentCopies > 0 ? await augmentOneShot(ctx.backend, ctx.clean, { copies: o.augmentCopies, flip: o.augmentFlip, seed: o.seed ^ 0x5eed }) : ctx.clean;
    ctx.log(describeAwmRun(ctx.clean.n, set.n, o));
    const result = await runAwm(ctx.model, ctx.backend, set, o, roundLogger(ctx, t0, stepsPerPhase(set.n, o.batchSize, o.inner)));
    return foldedOutcome(ctx.model, 'awm', t0, o, result, set.n);
  },
};

/**
 * Hooks that report one progress line per round with an ETA, merged with the caller's live views (ctx.awmHooks, given
 * the run's mask steps per phase).
 */
export function roundLogger(ctx: DefenseContext, t0: number, stepsPerPhase: number): AwmHooks {
  const extra = ctx.awmHooks?.(stepsPerPhase) ?? {};
  return {
    ...extra,
    shouldStop: ctx.shouldStop,
    onRound: async (s) => {
      const mean = (performance.now() - t0) / 1000 / s.round;
      const etaSeconds = mean * (s.rounds - s.round);
      reportProgress(ctx, { done: s.round, total: s.rounds, etaSeconds, unit: 'round', line: formatRound(s, etaSeconds) });
      await extra.onRound?.(s);
    },
  };
}

/** Folds the masks into the weights and packages a masking run (AWM or AWM+) as a DefenseOutcome. */
export function foldedOutcome(model: Module, method: 'awm' | 'awm+' | 'awm-dual', t0: number, options: object, result: AwmResult, cleanImages: number): DefenseOutcome {
  foldMasks(model);
  const settings: Record<string, number | string | boolean> = {};
  for (const [k, v] of Object.entries(options)) settings[k] = v as number | boolean;
  return {
    method,
    seconds: (performance.now() - t0) / 1000,
    settings,
    details: { rounds: result.rounds.map(({ trigger: _t, ...rest }) => rest), stepsPerPhase: result.stepsPerPhase, cleanImages, gemmGflop: result.flops / 1e9, gemmGflopPerSecond: result.flops / 1e9 / result.seconds },
    masks: result.masks,
    triggers: result.rounds.map((r) => r.trigger),
  };
}
