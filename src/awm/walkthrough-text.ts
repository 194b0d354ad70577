/**
 * The words around a walkthrough's numbers (`awm explain`): what each phase of an AWM round
 * computes, where its gradient comes from, and the file that does it.
 */
import type { ExplainedRound, WalkthroughResult } from './walkthrough.js';
import { FOUND_FACTOR } from './trigger-footprint.js';
import { FD_TOLERANCE } from './gradient-checks.js';

const sci = (v: number) => v.toExponential(2);
const f4 = (v: number) => v.toFixed(4);
const pct = (v: number) => `${(100 * v).toFixed(1)} %`;

/** A check's verdict: agreement to within `bound` (relative). */
function verdict(err: number, bound: number): string {
  return err <= bound ? `agree (relative difference ${sci(err)})` : `DISAGREE (relative difference ${sci(err)}, expected <= ${sci(bound)})`;
}

/** Bounds the checks are held to on a float64 backend; formatWalkthrough marks any figure above them. */
export const WALKTHROUGH_BOUNDS = { identity: 0, universal: 1e-9, chainRule: 1e-9 } as const;

/** Whether every check of the walkthrough is within WALKTHROUGH_BOUNDS. */
export function walkthroughAgrees(r: WalkthroughResult): boolean {
  const b = WALKTHROUGH_BOUNDS;
  return r.maskIdentity <= b.identity && r.trigger.universalGradient <= b.universal && r.firstMaskStep.chainRule <= b.chainRule &&
    r.firstMaskStep.finiteDifferences.every((f) => f.agrees);
}

export function formatWalkthrough(r: WalkthroughResult, classNames?: readonly string[]): string[] {
  const o = r.options;
  const b = WALKTHROUGH_BOUNDS;
  const name = (c: number) => (classNames?.[c] ? `class ${c} (${classNames[c]})` : `class ${c}`);
  const out: string[] = [];
  const say = (...lines: string[]) => out.push(...lines);

  say('', '== 0. The masks (src/nn/masks.ts, src/nn/conv.ts) ==',
    `AWM puts a soft mask m, the weight's shape, on each of the ${r.layers.length} conv layers: ${r.maskElements} mask entries, all 1 at the start.`,
    'Each conv then computes with w * m instead of w. The weights w stay frozen and BatchNorm stays in eval mode (running statistics),',
    'so the masks are the only thing that learns, and a mask entry near 0 switches its weight off.');
  for (const l of r.layers) say(`   ${l.name.padEnd(24)} [${l.shape.join(', ')}]`);
  say(`Check: with every mask at 1 the model gives the same logits as without masks: max difference ${sci(r.maskIdentity)}${r.maskIdentity <= b.identity ? ' (exactly equal)' : ' (NOT equal)'}.`);

  const t = r.trigger;
  say('', '== 1. Phase 1: recover a universal trigger (src/awm/steps.ts: triggerStep, rescaleTrigger) ==',
    `delta starts at 0 (one ${'image-shaped'} tensor added to every image). Each of the ${r.stepsPerPhase} steps draws a batch of ${o.batchSize} clean images`,
    `(with replacement), takes the model's own answers yhat = argmax f(x) as labels, and moves delta UP the cross-entropy:`,
    `   delta <- delta + ${o.triggerLr} * d CE(f(x + delta), yhat) / d delta`,
    'The gradient flows back through every masked conv to the input. The masks are constants in this phase (no weight gradients).');
  for (const s of t.steps) say(`   step ${String(s.step).padStart(2)}: CE ${f4(s.crossEntropy)}   |delta|_1 ${s.l1.toFixed(2)}`);
  say(`Check: because delta is shared by the whole batch, d CE / d delta is the sum of the per-image input gradients d CE / d x_i: they ${verdict(t.universalGradient, b.universal)}.`,
    `Then delta is rescaled once into the L1 ball of radius tau = ${o.tau.toFixed(2)} (awm purify sets tau for a 3x32x32 input and scales it to the input size, unless given absolutely):`,
    `   |delta|_1 was ${t.l1Before.toFixed(2)}, scale ${t.scale.toFixed(4)} -> ${(t.l1Before * t.scale).toFixed(2)}`,
    `Where it lies: the densest ${t.densest.size}x${t.densest.size} window, at row ${t.densest.row}, column ${t.densest.col}, holds ${pct(t.densest.share)} of its L1 mass (${pct(t.densest.areaShare)} of the pixels).`,
    ...(t.onFootprint ? [`The model's own trigger covers ${pct(t.onFootprint.areaShare)} of the pixels; the recovered trigger holds ${pct(t.onFootprint.share)} of its L1 mass there.`] : []),
    t.changed ? `What it does: it changes the answer on ${t.changed} of the ${t.images} clean images; ${t.towardCount} of them move to ${name(t.towardClass)}, the most to any one class.`
      : `What it does: it changes the answer on none of the ${t.images} clean images.`,
    'AWM\'s bet: a backdoored model has a shortcut to its target class, so a small perturbation that raises the loss on every image tends to use it.',
    ...(t.onFootprint ? [t.onFootprint.share >= FOUND_FACTOR * t.onFootprint.areaShare
      ? `Here it did: ${(t.onFootprint.share / t.onFootprint.areaShare).toFixed(1)} times the mass that area would hold if the trigger were spread evenly.`
      : 'Here it did not (this round, this seed): unlearning this trigger teaches the masks little about the real one, one reason why one image per class is often not enough.'] : []));

  const m = r.firstMaskStep;
  say('', '== 2. Phase 2: learn the masks (src/awm/steps.ts: maskLoss, clampMasks; Adam in src/optim) ==',
    `Each of the ${r.stepsPerPhase} steps draws a fresh batch and descends`,
    `   L = ${o.alpha} * CE(f(x), y) + ${(1 - o.alpha).toFixed(2)} * CE(f(clip(x + delta, 0, 1)), y) + ${o.gamma} * sum |m|`,
    'on the true labels y: keep the clean answers, AND answer correctly with the trigger on, so the masks cut what the trigger uses.',
    `First step: clean term ${f4(m.clean)}, triggered term ${f4(m.triggered)}, sum |m| ${m.maskL1.toFixed(0)}; L = ${f4(m.total)}.`,
    `The triggered images carry ${pct((1 - o.alpha) * m.triggered / m.total)} of L at this step (1 - alpha = ${(1 - o.alpha).toFixed(2)} weighs them): the smaller it is, the less the masks learn from the trigger.`,
    'The mask gradient by the chain rule: the conv sees w * m, so d L / d m = w * d L / d (w * m) + gamma * sign(m).',
    `Check: autograd's d L / d m against w times the weight's own gradient (a second backward with the masks constant, at m = 1): they ${verdict(m.chainRule, b.chainRule)}.`,
    'Check: autograd against central finite differences (L(m + e) - L(m - e)) / 2e on the largest-gradient entry of the first and last masked layers',
    `(allowed: ${FD_TOLERANCE.rtol} relative plus ${FD_TOLERANCE.atol} x max(1, |L|), the differences' own rounding floor in float64):`);
  for (const fd of m.finiteDifferences) {
    say(`   ${fd.layer} [${fd.position.join(', ')}]: autograd ${sci(fd.autograd)}, numeric ${sci(fd.numeric)}: ${fd.agrees ? 'agree' : 'DISAGREE'} (difference ${sci(Math.abs(fd.autograd - fd.numeric))}, allowed ${sci(fd.tolerance)}; relative ${sci(fd.relError)})`);
  }
  say(`Adam (lr ${o.maskLr}) then moves every entry by about lr against its gradient's sign, and the masks are clamped to [0, 1].`,
    `Starting at 1, the upper end, only entries with a positive gradient can move: after the first step ${m.belowOne} entries are below 1,`,
    `and ${m.clampedBack} that Adam pushed above 1 were clamped back.`);
  for (const s of r.maskSteps) say(`   step ${String(s.step).padStart(2)}: L ${f4(s.total)}  clean ${f4(s.clean)}  triggered ${f4(s.triggered)}  mean mask ${s.meanMask.toFixed(5)}  entries below 1: ${s.belowOne}`);

  const ce = r.crossEntropy;
  say('', '== 3. After this round ==',
    `On the clean images (labels y): CE clean ${f4(ce.cleanBefore)} -> ${f4(ce.cleanAfter)}, with this round's trigger ${f4(ce.triggeredBefore)} -> ${f4(ce.triggeredAfter)}.`);
  for (const l of r.after) say(`   ${l.name.padEnd(24)} mean mask ${l.mean.toFixed(5)}, min ${l.min.toFixed(4)}, ${l.belowOne} of ${l.size} below 1`);
  say(`A full run repeats this ${o.outer} times, each round with a fresh trigger against the masks as they are (src/awm/awm.ts: runAwm),`,
    'and at the end folds the masks into the weights (w <- w * m), so the output has the input\'s shapes and no masks.');
  return out;
}

/** The walkthrough's words, the runner check, and the verdict over every check. */
export function formatExplainedRound(e: ExplainedRound, classNames?: readonly string[]): string[] {
  const d = e.runnerDifference;
  return [
    ...formatWalkthrough(e.result, classNames),
    '',
    `Check: the library's runAwm, one round with the same seed on a fresh copy of the model, ends at the same masks: max difference ${sci(d)}${d === 0 ? ' (identical)' : ' (DISAGREE)'}.`,
    explainedRoundAgrees(e) ? 'Every check agrees.' : 'A check DISAGREES (marked above).',
  ];
}

/** Every gradient check within its bound, and the runner's masks identical. */
export function explainedRoundAgrees(e: ExplainedRound): boolean {
  return walkthroughAgrees(e.result) && e.runnerDifference === 0;
}
