/**
 * `awm purify`: removes a backdoor from a model with AWM (default), AWM+, fine-tuning or ANP, using
 * a few clean images, and writes the purified model with the input's key names and shapes (loads
 * in PyTorch with load_state_dict(strict=True)). Every output is prepared first and written
 * atomically at the end, so a failure leaves no output file.
 */
import { basename, dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { writeFilesAtomic } from '../io/atomic-write.node.js';
import { checkOutputPaths, forceFlag, requireInputFile, type NamedPath } from './outputs.js';
import { isAttackPreset } from '../attacks/index.js';
import { encodePngCompressed } from '../io/png.node.js';
import { serializeSafetensors } from '../io/safetensors.js';
import { saveModel } from '../nn/model-file.js';
import { subset, type ImageDataset } from '../data/dataset.js';
import { Rng } from '../data/rng.js';
import { purifyModel, type PurifyOptions } from '../awm/purify.js';
import type { DefenseMethod } from '../awm/defense.js';
import type { MaskOptimizer } from '../awm/awm.js';
import type { HeadFitMode } from '../awm/awm-plus.js';
import { reportMarkdown } from '../awm/report.js';
import { pictureLinks, reportPictures } from '../awm/report-pictures.js';
import type { ParsedFlags } from './args.js';
import { UsageError } from './args.js';
import { emitResult, type Command, type CommandIO } from './command.js';
import { backendFlags, dataSource, isDatasetName, loadSplit, openBackend, openModel, percent, stringFlag } from './common.js';
import { checkCleanInput, chooseCleanSource, cleanSourceFlags } from './purify-sources.js';
import { chooseAttack } from './attack-choice.js';
import { chooseTriggered, triggeredFlags } from './triggered-choice.js';
import type { PurifyEvaluation } from '../awm/purify.js';

type Range = { min?: number; max?: number; above?: number };
const num = (help: string, range: Range = {}) => ({ type: 'number' as const, help, ...range });
const int = (help: string, range: Range = { min: 1 }) => ({ type: 'int' as const, help, ...range });
const SHARE = { min: 0, max: 1 };
const POSITIVE = { above: 0 };
const NON_NEGATIVE = { min: 0 };

export const purifyCommand: Command = {
  name: 'purify',
  summary: 'erase a backdoor from a model with a few clean images (AWM by default)',
  flags: {
    model: { type: 'string', required: true, help: 'the possibly backdoored model (.safetensors)' },
    ...cleanSourceFlags('10'),
    'data-dir': { type: 'string', help: 'dataset folder when --clean or --eval-dataset names a dataset' },
    method: { type: 'string', default: 'awm', choices: ['awm-dual', 'awm', 'awm+', 'ft', 'anp'], help: 'defense' },
    out: { type: 'string', required: true, help: 'where to write the purified model (.safetensors)' },
    report: { type: 'string', help: 'write the report as JSON here, plus .md and .png pictures beside it' },
    masks: { type: 'string', help: 'write the final soft masks (before folding) as safetensors here' },
    'eval-dataset': { type: 'string', help: 'evaluate before and after on this dataset\'s test split (default: the --clean dataset, minus the clean images)' },
    attack: { type: 'string', help: 'attack spec JSON or preset name for ASR; default: the attack in the model\'s metadata, else <model>.attack.json beside it' },
    ...triggeredFlags,
    'eval-count': int('evaluate on this many test images only (seeded; quick checks)'),
    seed: { type: 'int', default: 0, min: 0, help: 'seed for every random choice' },
    // AWM
    outer: int('AWM rounds (default 20; AWM+ 8)'),
    inner: int('AWM steps per phase per pass over the clean set (default 5; AWM+ 1)'),
    'batch-size': int('batch size (AWM default 128; one-shot preset 32; AWM+ 16)'),
    alpha: num('weight of the clean loss (default 0.9; one-shot 0.99; AWM+ 0.3)', SHARE),
    gamma: num('L1 penalty on the masks (default 1e-8)', NON_NEGATIVE),
    tau: num('trigger L1 budget for a 3x32x32 input, scaled to the input size (default 1000; one-shot and AWM+ 100)', POSITIVE),
    'tau-absolute': num('trigger L1 budget as is, not scaled', POSITIVE),
    'trigger-lr': num('trigger ascent learning rate (default 10)', POSITIVE),
    'mask-lr': num('mask Adam learning rate (default 0.01; AWM+ 0.02)', POSITIVE),
    'lr-decay': num('multiply the mask learning rate by this each round (default 1: off)', POSITIVE),
    'augment-copies': int('augmented copies per clean image (default 9 one-shot, else 0; AWM+ 4)', NON_NEGATIVE),
    flip: { type: 'boolean', help: 'horizontal flips in augmented copies (default: on for 3-channel images)' },
    'one-shot': { type: 'boolean', help: 'force the one-shot preset on or off (default: on at one image per class)' },
    'dense-eps': num('AWM-dual: the dense trigger\'s per-pixel bound, pixels in [0, 1] (default 0.1)', { above: 0, max: 1 }),
    mixup: { type: 'int', min: 0, help: 'AWM-dual and AWM+: add this many two-image mixtures to the pool, with the original model\'s soft targets (default 200)' },
    // AWM+
    distill: { type: 'boolean', help: 'AWM+: soft targets from the original model (default true)' },
    'keep-trigger': { type: 'boolean', help: 'AWM+: refine one trigger across rounds (default false)' },
    'trigger-bank': { type: 'boolean', help: 'AWM+: unlearn a random earlier round\'s trigger with each triggered image (default false)' },
    'sparse-trigger': { type: 'boolean', help: 'AWM+: clip and sparsify the trigger into the L1 budget instead of rescaling it (default true; --sparse-trigger=false to rescale)' },
    'mask-eps': { type: 'number', help: 'AWM+: Adam epsilon for the masks (default 1e-8)' },
    'mask-optimizer': { type: 'string', help: 'AWM+: the masks\' optimiser: adam (default) or layer-adam (one second moment per mask tensor)' },
    'known-trigger': { type: 'boolean', help: 'AWM+ diagnostic: unlearn the real trigger from the attack spec instead of a recovered one (an upper bound; not a defense)' },
    'noise-blend': num('AWM+: also unlearn random-noise blends x -> (1-A)x + A*noise, with this A, on a share of the triggered images (default 0.2; 0: off)', SHARE),
    candidates: int('AWM+: run with seeds seed, seed+1, ... this many times and keep the run with the best self-check score (default 1)'),
    'self-check': { type: 'boolean', help: 'AWM+: check the model before and after without the trigger (agreement, recovered-trigger and noise-blend flips; default true)' },
    'select-round': { type: 'boolean', help: 'AWM+: self-check after every round and keep the masks of the best-scoring round (default true, with the self-check)' },
    'blend-ascent': num('AWM+: signed ascent steps per round on a universal blend pattern, unlearned on half the noise-blend rows (default 0: off)', NON_NEGATIVE),
    'blend-ascent-lr': num('AWM+: the blend-pattern search\'s signed step, pixels in [0, 1] (default 0.1)', POSITIVE),
    'noise-blend-max': num('AWM+: draw each noise blend\'s weight uniformly from [--noise-blend, this] (default: every blend at --noise-blend)', SHARE),
    'noise-share': num('AWM+: the share of triggered images that get a noise blend when --noise-blend is on (default 0.5)', SHARE),
    fallback: { type: 'boolean', help: 'AWM+: check the output on composites of the clean images; when it moves over 25 % of them into one class, run the faithful AWM instead and keep the output that moves fewer (default true with the self-check; --fallback=false: off)' },
    'calibrate-head': { type: 'boolean', help: 'AWM+: after the masks, fit the last layer so its answers on fresh crops of the clean images match the original model\'s (default true; --calibrate-head=false: off)' },
    'head-fit': { type: 'string', help: 'AWM+ with --calibrate-head: linear (the whole last layer, pulled to where it was; default) or bias (one shift per class)' },
    'head-l2': num('AWM+ with --calibrate-head --head-fit linear: the pull towards the original last layer (default 0.03; smaller lets the layer move further)', NON_NEGATIVE),
    'calibration-noise': num('AWM+ with --calibrate-head: also fit on a copy of each calibration crop blended with uniform noise at this weight, held to the original model\'s answer on the clean crop (default 0.2; 0: off)', SHARE),
    'calibration-triggers': int('AWM+ with --calibrate-head: rounds of triggered calibration copies; each recovers a trigger against the masked model as fitted, holds the triggered crops to the original model\'s clean answers and fits the head again (default 0: off)', NON_NEGATIVE),
    'suspect-shift': num('AWM+: after the masks (and any head calibration), lower the last layer\'s bias of the suspected target class by this much (default 1; 0: off). Before masking, the suspect is the class two trigger searches each send 95 % of the check images to, or noise blends send 80 % to', NON_NEGATIVE),
    'suspect-starts': int('AWM+: the suspect search\'s trigger searches from random starts, beside the one from zero (default 6; it runs while --suspect-shift or --suspect-trigger is on)', NON_NEGATIVE),
    'suspect-trigger': { type: 'boolean', help: 'AWM+: unlearn the suspect search\'s triggers beside each round\'s recovered one, when its searches name a class (default on whenever the suspect search can run)' },
    'suspect-target': num('AWM+: above 0, each round also unlearns a trigger searched towards the suspect class inside this fraction of tau (default 0: off)', SHARE),
    'suspect-trigger-tau': num('AWM+: with --suspect-trigger, unlearn triggers from as many searches again at this fraction of tau, when two agree on the suspect (default 1: off)', { above: 0, max: 1 }),
    'check-starts': num('AWM+: trigger searches from random starts in the self-checks after each round and after the run, beside the one from zero (default 0)', NON_NEGATIVE),
    'calibration-scale': num('AWM+ with --calibrate-head: the calibration crops\' smallest share of the image area (default 0.6; 0.08 gives small crops)', { above: 0, max: 1 }),
    'class-triggers': { type: 'boolean', help: 'AWM+: recover one targeted trigger per class instead of one universal trigger (default false)' },
    // FT and ANP
    steps: int('FT: training steps (default 200)'),
    lr: num('FT: learning rate (default 0.01)', NON_NEGATIVE),
    iterations: int('ANP: mask iterations (default 2000)'),
    'anp-eps': num('ANP: noise bound (default 0.4)', NON_NEGATIVE),
    'anp-alpha': num('ANP: weight of the clean loss (default 0.2)', SHARE),
    'prune-threshold': num('ANP: prune channels whose mask is below this (default 0.2)', SHARE),
    'prune-count': int('ANP: instead, prune this many lowest-mask channels', NON_NEGATIVE),
    ...forceFlag,
    ...backendFlags,
  },
  run: runPurify,
};

/** The report's Markdown file, beside its JSON. */
function reportMarkdownPath(jsonPath: string): string {
  return join(dirname(jsonPath), `${basename(jsonPath.replace(/\.json$/, ''))}.md`);
}

/** Every input file exists and every output can be written, before the backend starts or any data loads. */
function checkPurifyPaths(flags: ParsedFlags): void {
  const inputs: NamedPath[] = [{ what: '--model', path: String(flags.model) }];
  requireInputFile(inputs[0]!);
  const clean = checkCleanInput(flags);
  if (clean) inputs.push(clean);
  for (const flag of ['triggered', 'attack'] as const) {
    const path = stringFlag(flags, flag);
    if (path === undefined || (flag === 'attack' && isAttackPreset(path))) continue;
    if (!existsSync(path)) throw new Error(`--${flag} ${path}: no such file`);
    inputs.push({ what: `--${flag}`, path });
  }
  const evalName = stringFlag(flags, 'eval-dataset');
  if (evalName !== undefined && !isDatasetName(evalName)) throw new UsageError(`--eval-dataset must be a dataset name, got '${evalName}'`);
  const outputs: NamedPath[] = [{ what: '--out', path: String(flags.out) }];
  const masks = stringFlag(flags, 'masks');
  if (masks !== undefined) outputs.push({ what: '--masks', path: masks });
  const report = stringFlag(flags, 'report');
  if (report !== undefined) outputs.push({ what: '--report', path: report }, { what: 'the report\'s Markdown', path: reportMarkdownPath(report) });
  checkOutputPaths(outputs, inputs, flags.force === true);
}

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function purifyOptions(flags: ParsedFlags, method: DefenseMethod, seed: number): PurifyOptions {
  const f = (k: string) => flags[k] as number | undefined;
  const b = (k: string) => flags[k] as boolean | undefined;
  const awm = defined({
    outer: f('outer'), inner: f('inner'), batchSize: f('batch-size'), alpha: f('alpha'), gamma: f('gamma'),
    tau3072: f('tau'), tauAbsolute: f('tau-absolute'), triggerLr: f('trigger-lr'), maskLr: f('mask-lr'), lrDecay: f('lr-decay'),
    augmentCopies: f('augment-copies'), augmentFlip: b('flip'), oneShot: b('one-shot'),
  });
  return {
    method,
    seed,
    awm,
    awmPlus: { ...awm, ...defined({ distill: b('distill'), keepTrigger: b('keep-trigger'), classTriggers: b('class-triggers'), triggerBank: b('trigger-bank'), mixupCount: f('mixup'), noiseBlend: f('noise-blend'), noiseShare: f('noise-share'), noiseBlendMax: f('noise-blend-max'), blendAscent: f('blend-ascent'), blendAscentLr: f('blend-ascent-lr'), candidates: f('candidates'), selfCheck: b('self-check'), selectRound: b('select-round'), calibrateHead: b('calibrate-head'), headFit: flags['head-fit'] as HeadFitMode | undefined, calibrationScale: f('calibration-scale'), headL2: f('head-l2'), calibrationNoise: f('calibration-noise'), calibrationTriggers: f('calibration-triggers'), suspectShift: f('suspect-shift'), suspectStarts: f('suspect-starts'), checkStarts: f('check-starts'), suspectTrigger: b('suspect-trigger'), suspectTriggerTau: f('suspect-trigger-tau'), suspectTarget: f('suspect-target'), fallback: b('fallback'), sparseTrigger: b('sparse-trigger'), maskEps: f('mask-eps'), maskOptimizer: flags['mask-optimizer'] as MaskOptimizer | undefined, knownTrigger: b('known-trigger') }) },
    awmDual: defined({
      outer: f('outer'), inner: f('inner'), batchSize: f('batch-size'), alpha: f('alpha'), gamma: f('gamma'), tau3072: f('tau'), tau: f('tau-absolute'),
      triggerLr: f('trigger-lr'), maskLr: f('mask-lr'), lrDecay: f('lr-decay'), augmentCopies: f('augment-copies'), augmentFlip: b('flip'), mixupCount: f('mixup'), denseEps: f('dense-eps'),
    }),
    ft: defined({ steps: f('steps'), lr: f('lr'), batchSize: f('batch-size') }),
    anp: defined({
      iterations: f('iterations'), eps: f('anp-eps'), alpha: f('anp-alpha'), batchSize: f('batch-size'),
      pruneBy: f('prune-count') !== undefined ? 'number' as const : undefined,
      pruneValue: f('prune-count') ?? f('prune-threshold'),
    }),
  };
}

async function runPurify(flags: ParsedFlags, io: CommandIO): Promise<void> {
  const modelPath = String(flags.model);
  const out = String(flags.out);
  if (!out.endsWith('.safetensors')) throw new UsageError('--out must name a .safetensors file');
  const seed = flags.seed as number;
  const method = flags.method as DefenseMethod;
  checkPurifyPaths(flags);
  const backend = await openBackend(flags, io);
  const { model, spec, metadata } = await openModel(backend, modelPath);
  io.log(`model: ${modelPath} (${spec.arch}, width ${spec.width}, ${spec.inChannels} channel(s), ${spec.numClasses} classes)`);
  const choice = await chooseCleanSource(flags, spec, seed);
  io.log(`clean: ${choice.description}`);

  let evaluation: PurifyEvaluation | undefined;
  const triggered = await chooseTriggered(flags, metadata, modelPath);
  const chosen = triggered ? null : await chooseAttack(flags, metadata, modelPath);
  const attack = chosen?.spec;
  if (chosen) io.log(`attack (for ASR): ${chosen.source}`);
  if (triggered) io.log(`triggered images (for ASR): ${triggered.n} from ${triggered.source}`);
  const evalName = stringFlag(flags, 'eval-dataset');
  let testSet: ImageDataset | undefined = choice.rest;
  if (evalName !== undefined) {
    if (!isDatasetName(evalName)) throw new UsageError(`--eval-dataset must be a dataset name, got '${evalName}'`);
    testSet = await loadSplit(dataSource(flags, evalName, { channels: spec.inChannels, size: spec.inputSize }), 'test');
  }
  const evalCount = flags['eval-count'] as number | undefined;
  if (testSet && evalCount !== undefined && evalCount < testSet.n) {
    testSet = subset(testSet, Array.from(new Rng(seed ^ 0xe7a1).permutation(testSet.n).slice(0, evalCount)).sort((a, b) => a - b));
  }
  if (triggered && testSet) evaluation = { testSet, triggered };
  else if (attack && testSet) evaluation = { testSet, attack };
  else if (testSet) io.warn('no attack spec (--attack, one stored in the model, or <model>.attack.json beside it) and no --triggered images: ASR is not measured');

  const { report, outcome } = await purifyModel(backend, model, choice.clean, purifyOptions(flags, method, seed), io, evaluation);

  // Prepare every output, then write them.
  const files: Array<[string, Uint8Array | string]> = [];
  files.push([out, await saveModel(model, { ...metadata, purified_by: method, purify_seed: String(seed) })]);
  if (flags.masks !== undefined && outcome.masks) {
    const shapes = new Map<string, readonly number[]>();
    for (const [name, mod] of model.namedModules()) {
      const w = (mod as { weight?: { shape: readonly number[] } }).weight;
      if (w) shapes.set(name, w.shape);
    }
    const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [name, m] of outcome.masks) tensors[`${name}.mask`] = { shape: [...(shapes.get(name) ?? [m.length])], data: m };
    files.push([String(flags.masks), serializeSafetensors(tensors, { method })]);
  }
  if (flags.report !== undefined) {
    const jsonPath = String(flags.report);
    const stem = jsonPath.replace(/\.json$/, '');
    const prefix = `${basename(stem)}-`;
    const pictures = reportPictures(report, outcome, choice.clean, { prefix, encode: encodePngCompressed });
    for (const [name, png] of pictures) files.push([join(dirname(jsonPath), name), png]);
    files.push([jsonPath, JSON.stringify(report, null, 2) + '\n']);
    files.push([reportMarkdownPath(jsonPath), reportMarkdown(report, pictureLinks(pictures, prefix))]);
  }
  // The pictures' names are known only now; none of the set is written if one would replace a file without --force.
  checkOutputPaths(files.map(([path]) => ({ what: 'output', path })), [{ what: '--model', path: modelPath }], flags.force === true);
  await writeFilesAtomic(files);
  const summary = report.before && report.after
    ? [`${method}: clean accuracy ${percent(report.before.cleanAccuracy)} -> ${percent(report.after.cleanAccuracy)}, ASR ${percent(report.before.asr)} -> ${percent(report.after.asr)}`]
    : [];
  emitResult(io, [...summary, ...files.map(([path]) => `wrote ${path}`)], { ...report, written: files.map(([path]) => path) });
}
