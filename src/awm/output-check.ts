/**
 * AWM+'s output check, and its fallback to the faithful AWM.
 *
 * Why: on the WaNet small CNN (docs/defenses.md, "What the output check sees") AWM+'s masks, fitted to crops of ten images, and the head
 * calibration after them sent 46 % of clean test images to the backdoor's target while the self-check, on crops of the
 * same ten images, saw 98 % agreement. Composites of two clean images (cut-and-paste and mixtures, clean-set.ts) are
 * inputs no crop makes: that output sent 70 % of the mixtures the original put elsewhere to the target; the sound
 * outputs measured, on the small CNNs and the PyTorch ResNets, stayed at 7-15 %. Over the limit, the head and masks are
 * put back as the model came, the faithful AWM runs on the same clean images (it erased that backdoor at 3.8 points),
 * and whichever output moves fewer composites into one class is kept.
 */
import type { CleanSet } from './clean-set.js';
import { augmentOneShot } from './clean-set.js';
import { compositeFlip, type CompositeProbe } from './self-check.js';
import { describeAwmRun, resolveAwmOptions, type AwmDefenseOptions, type AwmPartial } from './awm-defense.js';
import { runAwm, type AwmHooks, type AwmResult } from './awm.js';
import { stepsPerPhase } from './options.js';
import { headLinear } from './head-calibration.js';
import { tensorSlot } from '../nn/state-dict.js';
import { clearMasks, setMasks } from '../nn/masks.js';
import type { Classifier } from '../nn/classifier.js';
import type { Backend } from '../tensor/backend.js';

/** The composite flip above which AWM+'s output is taken as wrecked (measured: 70-82 % on three wrecked outputs, at most 14.4 % on 17 sound ones; docs/defenses.md). */
export const COMPOSITE_FLIP_LIMIT = 0.25;

/** What the output check found and did. */
export interface OutputCheck {
  /** AWM+'s output (masks, head calibration and suspect shift on): its composite flip and the class it went to. */
  compositeFlip: number;
  compositeClass: number;
  limit: number;
  /** Over the limit: the faithful AWM's composite flip and class. */
  faithful?: { compositeFlip: number; compositeClass: number };
  kept: 'awm+' | 'awm';
}

/** With kept 'awm': the faithful run (its masks are on the model), its options and its pool size. */
export interface OutputCheckRun {
  check: OutputCheck;
  faithfulRun?: { result: AwmResult; options: AwmDefenseOptions; poolSize: number };
}

/** The last linear layer's weight and bias as they are now, and a way to write them back. */
export interface HeadSnapshot {
  restore(): void;
}

export async function snapshotHead(model: Classifier): Promise<HeadSnapshot> {
  const head = headLinear(model);
  const saved = await Promise.all([head.weight, ...(head.bias ? [head.bias] : [])].map(async (t) => [t, Float32Array.from(await t.data())] as const));
  return { restore: () => { for (const [t, v] of saved) tensorSlot(t).write({ shape: t.shape, data: v }); } };
}

/**
 * Checks the model as AWM+ leaves it (masks `masks` on, head as fitted) on the composites; over the limit, runs the
 * faithful AWM (its defaults, or the one-shot preset at one image per class, with `faithful`'s settings over them:
 * AWM+ passes its seed) from the model as it came (`original` head, no masks) and keeps the output with the smaller
 * composite flip, on the model, unfolded.
 */
export async function checkOutput(
  model: Classifier, backend: Backend, clean: CleanSet, probe: CompositeProbe,
  state: { faithful: AwmPartial; masks: ReadonlyMap<string, Float32Array>; original: HeadSnapshot },
  log: (line: string) => void, hooksFor: (stepsPerPhase: number) => AwmHooks,
): Promise<OutputCheckRun> {
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  const out = await compositeFlip(model, backend, probe, clean);
  const check: OutputCheck = { compositeFlip: out.rate, compositeClass: out.cls, limit: COMPOSITE_FLIP_LIMIT, kept: 'awm+' };
  const kinds = `${probe.cutPaste} cut-and-paste, ${probe.reference.length - probe.cutPaste} mixtures`;
  log(`output check on composites of the clean images (${kinds}): ${pct(out.rate)} of one kind moved into class ${out.cls} (limit ${pct(COMPOSITE_FLIP_LIMIT)})`);
  if (out.rate <= COMPOSITE_FLIP_LIMIT) return { check };

  log(`warning: AWM+'s output moves ${pct(out.rate)} of the composites into class ${out.cls}: its masks may have turned a backdoor on for images they were not fitted to; running the faithful AWM on the same clean images instead`);
  const fitted = await snapshotHead(model);
  clearMasks(model);
  state.original.restore();
  const options = resolveAwmOptions(state.faithful, { clean, seed: state.faithful.seed ?? 1 });
  // The same copies the faithful `--method awm` makes, so the fallback is that method's run.
  const set = options.augmentCopies > 0 ? await augmentOneShot(backend, clean, { copies: options.augmentCopies, flip: options.augmentFlip, seed: options.seed ^ 0x5eed }) : clean;
  log(describeAwmRun(clean.n, set.n, options));
  const result = await runAwm(model, backend, set, options, hooksFor(stepsPerPhase(set.n, options.batchSize, options.inner)));
  const faithful = await compositeFlip(model, backend, probe, clean);
  check.faithful = { compositeFlip: faithful.rate, compositeClass: faithful.cls };
  if (faithful.rate < out.rate) {
    check.kept = 'awm';
    log(`output check: the faithful AWM moves ${pct(faithful.rate)} of the composites into class ${faithful.cls}; its masks are kept (AWM+'s masks and head fit are not)`);
    return { check, faithfulRun: { result, options, poolSize: set.n } };
  }
  clearMasks(model);
  setMasks(model, state.masks);
  fitted.restore();
  log(`warning: the faithful AWM moves ${pct(faithful.rate)} of the composites into class ${faithful.cls}, no fewer; AWM+'s output is kept, but check it on held-out images before use`);
  return { check };
}

/** One sentence for the report: what the output check measured and which output was kept. */
export function formatOutputCheck(c: OutputCheck): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  const first = `AWM+'s output moved ${pct(c.compositeFlip)} of one kind of composite of the clean images (cut-and-paste or mixtures) into class ${c.compositeClass} (limit ${pct(c.limit)})`;
  if (!c.faithful) return `${first}.`;
  const f = `the faithful AWM, run on the same clean images, moved ${pct(c.faithful.compositeFlip)} into class ${c.faithful.compositeClass}`;
  return c.kept === 'awm'
    ? `${first}; ${f}, and its masks are the output (AWM+'s masks, head fit and suspect shift were undone; the rounds above are the faithful run's).`
    : `${first}; ${f}, no fewer, so AWM+'s output was kept: check it on held-out images before use.`;
}
