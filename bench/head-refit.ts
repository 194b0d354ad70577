/**
 * Head calibration on a finished AWM+ output (`npm run bench head-refit -- [flags]`; never part of `npm test`).
 *
 *   npm run bench head-refit -- --original models/fmnist_resnet18w16_blend.safetensors \
 *     --purified x.safetensors --clean fashion-mnist --per-class 1 --seed 2 --out x-linear.safetensors
 *
 * AWM+ masks convolutions only, so an output's head is the original model's plus whatever `--calibrate-head` fitted.
 * This puts the original head back and fits it again exactly as `awm purify --calibrate-head` would for that seed
 * (same clean images, same calibration crops, same teacher), with `--head-fit`, `--calibration-scale`, `--calibration-noise`, `--calibration-triggers`, `--suspect-shift` (with `--report`) and `--l2` (awm purify's `--head-l2`) as given.
 * So one masking run can be scored with each kind of fit (python3 bench/asr_breakdown.py on the outputs); the masks
 * do not depend on the calibration (test/cli/purify.test.ts checks that they are bit-identical with and without it).
 */
import { parseFlags } from '../src/cli/args.js';
import { createBackend } from '../src/backends/index.js';
import { openModel } from '../src/cli/common.js';
import { chooseCleanSource } from '../src/cli/purify-sources.js';
import { applyHeadCalibration, applySuspectShift, prepareHeadCalibration, resolveAwmPlusOptions, AWM_PLUS_DEFAULTS, type HeadFitMode } from '../src/awm/awm-plus.js';
import { headLinear } from '../src/awm/head-calibration.js';
import { saveModel } from '../src/nn/model-file.js';
import { tensorSlot } from '../src/nn/state-dict.js';
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../src/io/atomic-write.node.js';

const FLAGS = {
  original: { type: 'string', help: 'the model that was purified' },
  purified: { type: 'string', help: 'the awm purify --method awm+ output' },
  clean: { type: 'string', default: 'fashion-mnist', help: 'the clean source given to awm purify' },
  'per-class': { type: 'int', default: 1, help: 'as given to awm purify' },
  'data-dir': { type: 'string', help: 'as given to awm purify' },
  seed: { type: 'int', default: 0, help: "awm purify's --seed" },
  'head-fit': { type: 'string', default: AWM_PLUS_DEFAULTS.headFit, help: 'linear or bias' },
  'calibration-scale': { type: 'number', default: AWM_PLUS_DEFAULTS.calibrationScale, help: "the calibration crops' smallest share of the image area" },
  'calibration-noise': { type: 'number', default: AWM_PLUS_DEFAULTS.calibrationNoise, help: 'blend weight of the noise-blended calibration copies (0: off)' },
  'calibration-triggers': { type: 'int', default: AWM_PLUS_DEFAULTS.calibrationTriggers, help: 'rounds of triggered calibration copies (0: off)' },
  'suspect-shift': { type: 'number', default: 0, help: "lower the suspected target's bias by this much (needs --report; awm purify's default is 1)" },
  report: { type: 'string', help: "the awm purify run's JSON report: its self-check before masking and suspect search name the suspected class" },
  l2: { type: 'number', default: AWM_PLUS_DEFAULTS.headL2, help: "the linear fit's pull towards the original layer" },
  backend: { type: 'string', default: 'auto', help: 'auto, webgpu or cpu' },
  out: { type: 'string', help: 'where to write the re-fitted model' },
} as const;

const flags = parseFlags(process.argv.slice(2), FLAGS);
for (const name of ['original', 'purified', 'out'] as const) if (!flags[name]) throw new Error(`--${name} is required`);
const backend = await createBackend(String(flags.backend) as 'auto', { onFallback: (m) => console.warn(m) });
const original = await openModel(backend, String(flags.original));
const purified = await openModel(backend, String(flags.purified));
const seed = Number(flags.seed);
const { clean, description } = await chooseCleanSource(flags, original.spec, seed);
console.log(`clean images: ${description}`);
// The options as awm purify resolves them (checks, and the flip rule for colour images, included).
const o = resolveAwmPlusOptions({
  seed, headFit: String(flags['head-fit']) as HeadFitMode, headL2: Number(flags.l2),
  calibrationScale: Number(flags['calibration-scale']), calibrationNoise: Number(flags['calibration-noise']), calibrationTriggers: Number(flags['calibration-triggers']),
}, { clean, seed });
const calibration = await prepareHeadCalibration(original.model, backend, clean, o);

// Every parameter but the head must be the original's with masks folded in: the head itself must match up to the fit.
const from = headLinear(original.model);
const to = headLinear(purified.model);
if (from.inFeatures !== to.inFeatures || from.outFeatures !== to.outFeatures) throw new Error(`${flags.purified} has another head than ${flags.original}: not an output of it`);
for (const [src, dst] of [[from.weight, to.weight], [from.bias!, to.bias!]] as const) tensorSlot(dst).write({ shape: src.shape, data: await src.data() });
await applyHeadCalibration(purified.model, backend, calibration, o, (line) => console.log(line));
if (Number(flags['suspect-shift']) > 0) {
  if (!flags.report) throw new Error('--suspect-shift needs --report (the purify run\'s self-check before masking names the class)');
  const details = JSON.parse(readFileSync(String(flags.report), 'utf8')).details;
  const before = details?.selfCheck?.before;
  if (!before) throw new Error(`${flags.report} has no self-check before masking (details.selfCheck.before)`);
  // The suspect search of the run, where the report has one (a run with --suspect-starts 0 has none: then the self-check's own trigger flip counts).
  const search = details?.suspectShift?.search;
  await applySuspectShift(purified.model, before, Number(flags['suspect-shift']), (line) => console.log(line), search);
}
await writeFileAtomic(String(flags.out), await saveModel(purified.model, purified.metadata));
console.log(`wrote ${flags.out}`);
process.exit(0);
