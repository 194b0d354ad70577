/**
 * AWM's hyper-parameters, their defaults (the official code's) and the one-shot preset, and the
 * scaling of the trigger's L1 budget tau to the input size.
 */

export interface AwmOptions {
  /** Rounds of (trigger recovery, mask update). */
  outer: number;
  /** Steps per phase per pass over the clean set: T = max(1, floor(n / batch)) * inner. */
  inner: number;
  batchSize: number;
  /** Weight of the clean loss; 1 - alpha weighs the loss on triggered images. */
  alpha: number;
  /** L1 penalty on the masks. */
  gamma: number;
  /** L1 budget of the recovered trigger, absolute (already scaled to the input size). */
  tau: number;
  triggerLr: number;
  maskLr: number;
  /** Multiply the mask learning rate by this after every round (1 = off; the first release used 0.9). */
  lrDecay: number;
  seed: number;
}

export const AWM_DEFAULTS: Readonly<Omit<AwmOptions, 'tau' | 'seed'>> & { tau3072: number } = {
  outer: 20,
  inner: 5,
  batchSize: 128,
  alpha: 0.9,
  gamma: 1e-8,
  tau3072: 1000,
  triggerLr: 10,
  maskLr: 1e-2,
  lrDecay: 1,
};

/** The official one-shot settings (one clean image per class). */
export const AWM_ONE_SHOT = { batchSize: 32, alpha: 0.99, tau3072: 100 } as const;

/** tau is specified for a 3x32x32 input; scale the budget by (C*H*W)/3072 for other sizes. */
export function scaleTau(tau3072: number, c: number, h: number, w: number): number {
  return (tau3072 * c * h * w) / 3072;
}

/** Steps per phase: never 0 (the official code's bug when the clean set is smaller than a batch). */
export function stepsPerPhase(n: number, batchSize: number, inner: number): number {
  return Math.max(1, Math.floor(n / batchSize)) * inner;
}

export function validateAwmOptions(o: AwmOptions): void {
  const positiveInt = (name: keyof AwmOptions) => {
    const v = o[name];
    if (!Number.isInteger(v) || (v as number) < 1) throw new Error(`AWM: ${name} must be a positive integer, got ${v}`);
  };
  positiveInt('outer');
  positiveInt('inner');
  positiveInt('batchSize');
  if (!(o.alpha >= 0 && o.alpha <= 1)) throw new Error(`AWM: alpha must be in [0, 1], got ${o.alpha}`);
  for (const k of ['gamma', 'tau', 'triggerLr', 'maskLr', 'lrDecay'] as const) {
    if (!(Number.isFinite(o[k]) && o[k] >= 0)) throw new Error(`AWM: ${k} must be a finite non-negative number, got ${o[k]}`);
  }
}
