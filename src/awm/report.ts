/** The purification report as Markdown (the JSON is the PurifyReport object itself). */
import type { PurifyReport } from './purify.js';
import { formatSuspectSearch, type SuspectSearch } from './suspect-search.js';
import { formatOutputCheck, type OutputCheck } from './output-check.js';
import { FOUND_FACTOR } from './trigger-footprint.js';
import type { PictureLinks } from './report-pictures.js';

const pct = (x: number | undefined) => (x === undefined ? '–' : `${(100 * x).toFixed(2)} %`);

/** The report as Markdown; `pictures` are the links of the pictures to embed (see reportPictures and pictureLinks). */
export function reportMarkdown(r: PurifyReport, pictures: PictureLinks = {}): string {
  const lines: string[] = [];
  lines.push(`# Backdoor purification report (${r.method.toUpperCase()})`, '');
  lines.push(`- model: ${r.model.arch}, width ${r.model.width}, ${r.model.inChannels} input channel(s), ${r.model.numClasses} classes`);
  const right = r.clean.accuracyBefore !== undefined && r.clean.accuracyAfter !== undefined
    ? `; the model answered ${pct(r.clean.accuracyBefore)} of them right before the defense, ${pct(r.clean.accuracyAfter)} after`
    : '';
  lines.push(`- clean images used: ${r.clean.images} (per class: ${r.clean.perClass.join(', ')})${right}`);
  lines.push(`- backend: ${r.backend}`);
  const gflop = r.details.gemmGflop;
  const work = typeof gflop === 'number' ? `; conv/matmul work ${gflop.toFixed(1)} GFLOP, ${(gflop / r.seconds).toFixed(2)} GFLOP/s over the whole run` : '';
  lines.push(`- seed: ${r.seed}; time: ${r.seconds.toFixed(1)} s${work}`, '');
  if (pictures.summary) lines.push('## At a glance', '', `![summary](${pictures.summary})`, '');
  if (r.before && r.after) {
    lines.push(`## Effect (${r.evaluationImages} evaluation images)`, '');
    lines.push('| | clean accuracy | ASR (target excluded) | ASR (all images) | robust accuracy | ASR of images right without the trigger | in the target with no trigger |', '|---|---|---|---|---|---|---|');
    for (const [name, m] of [['before', r.before], ['after', r.after]] as const) {
      lines.push(`| ${name} | ${pct(m.cleanAccuracy)} | ${pct(m.asr)} | ${pct(m.asrAll)} | ${pct(m.robustAccuracy)} | ${pct(m.asrOfCorrect)} | ${pct(m.cleanToTarget)} |`);
    }
    if (r.der !== undefined) lines.push('', `DER (defense effectiveness rating) = ${r.der.toFixed(4)}`);
    lines.push('');
  } else {
    lines.push('No evaluation data or attack spec was given, so clean accuracy and ASR were not measured.', '');
  }
  lines.push('## Settings', '', '| setting | value |', '|---|---|');
  for (const [k, v] of Object.entries(r.settings)) lines.push(`| ${k} | ${typeof v === 'number' ? +v.toPrecision(6) : v} |`);
  lines.push('');
  const rounds = r.details.rounds as Array<Record<string, number>> | undefined;
  if (rounds?.length) {
    lines.push('## Rounds', '', '| round | loss | clean CE | triggered CE | trigger L1 (raw → rescaled) | mean mask | seconds |', '|---|---|---|---|---|---|---|');
    for (const s of rounds) {
      lines.push(`| ${s.round} | ${s.loss!.toFixed(4)} | ${s.cleanLoss!.toFixed(4)} | ${s.triggeredLoss!.toFixed(4)} | ${s.triggerL1!.toFixed(1)} → ${s.triggerL1Rescaled!.toFixed(1)} | ${s.meanMask!.toFixed(4)} | ${s.seconds!.toFixed(1)} |`);
    }
    lines.push('');
  }
  const cal = r.details.headCalibration as { mode: string; lossBefore: number; lossAfter: number; weightChange?: number; shift?: number[]; triggerRounds?: { l1: number; flip: number }[] } | undefined;
  if (cal) {
    const what = cal.mode === 'linear' ? `the last layer refitted (weight moved ${(100 * cal.weightChange!).toFixed(1)} %)` : `bias shift per class [${cal.shift!.map((v) => v.toFixed(3)).join(', ')}]`;
    lines.push('## Head calibration', '', `${what}; cross-entropy to the original model on the calibration crops ${cal.lossBefore.toFixed(4)} → ${cal.lossAfter.toFixed(4)}.`, '');
    if (cal.triggerRounds?.length) {
      lines.push('Triggered copies, one recovered trigger per round against the model as last fitted:', '', '| round | trigger L1 | crops moved off the original\'s answer |', '|---|---|---|');
      cal.triggerRounds.forEach((t, i) => lines.push(`| ${i + 1} | ${t.l1.toFixed(1)} | ${(100 * t.flip).toFixed(1)} % |`));
      lines.push('');
    }
  }
  const suspect = r.details.suspectShift as { cls: number | null; flip: number; via?: 'trigger' | 'noise' | null; shift: number; search?: Omit<SuspectSearch, 'triggers'> } | undefined;
  if (suspect) {
    const by = suspect.via === 'noise' ? 'the noise probe of the self-check before masking' : suspect.search ? 'the suspect search\'s strongest trigger' : 'the self-check before masking';
    lines.push('## Suspect-class shift', '', suspect.cls === null
      ? `None: no probe reached its bar (the largest flip into one class was ${(100 * suspect.flip).toFixed(1)} %).`
      : `Class ${suspect.cls}'s bias in the last layer lowered by ${suspect.shift}: ${by} sent ${(100 * suspect.flip).toFixed(1)} % of the check images there.`, '');
    if (suspect.search) lines.push(`Suspect search: ${formatSuspectSearch(suspect.search)}.`, '');
  }
  const unlearned = r.details.suspectTrigger as { cls: number; count: number } | undefined;
  if (unlearned) {
    lines.push('## Suspect triggers unlearned', '', `The suspect search's ${unlearned.count} trigger(s) into class ${unlearned.cls} took every other triggered image of each mask step, beside the round's recovered trigger.`, '');
  }
  const targeted = r.details.suspectTarget as { cls: number; budget: number; steps: number } | undefined;
  if (targeted) {
    lines.push('## Trigger searched towards the suspect', '', `Each round, ${targeted.steps} steps of descent towards class ${targeted.cls} inside L1 ${targeted.budget.toFixed(2)}, against the masked model and from the last round's trigger; the trigger found took every other triggered image (every fourth beside the suspect triggers), and the self-checks searched towards the class as well.`, '');
  }
  const output = r.details.outputCheck as OutputCheck | undefined;
  if (output) lines.push('## Output check', '', formatOutputCheck(output), '');
  if (pictures.triggers) lines.push('## Recovered triggers', '', 'One per round, each captioned with its round and L1 norm (grey = 0, brighter = added, darker = removed; each scaled to its own peak).', '', `![triggers](${pictures.triggers})`, '');
  if (r.triggerOnAttack) {
    const t = r.triggerOnAttack;
    lines.push('## Recovered triggers on the attack\'s own trigger (evaluation only)', '',
      `The attack's trigger covers ${pct(t.areaShare)} of the image; the defense never saw it. ${t.found} of ${t.perRound.length} rounds' triggers held at least ${FOUND_FACTOR}x that share of their L1 mass on those pixels.`, '',
      '| round | share of the trigger\'s L1 mass on the attack\'s pixels |', '|---|---|');
    t.perRound.forEach((share, i) => lines.push(`| ${i + 1} | ${pct(share)} |`));
    lines.push('');
  }
  if (r.maskStats?.length) {
    lines.push('## Masks per layer', '', '| layer | entries | mean | min | fraction < 0.5 |', '|---|---|---|---|---|');
    for (const m of r.maskStats) lines.push(`| ${m.layer} | ${m.size} | ${m.mean.toFixed(4)} | ${m.min.toFixed(4)} | ${(100 * m.below05).toFixed(2)} % |`);
    lines.push('');
    if (pictures.masks) lines.push('Histograms of mask values over [0, 1] per layer, in the table\'s order, all on the same axes (share of the layer\'s entries, log scale; red bins are below 0.5):', '', `![masks](${pictures.masks})`, '');
    if (pictures.maskStrips) lines.push('Each layer\'s mask values sorted from lowest to highest, as colours from dark red (0) through white (0.5) to blue (1):', '', `![mask strips](${pictures.maskStrips})`, '');
  }
  return lines.join('\n');
}
