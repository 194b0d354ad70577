/**
 * `awm attack`: poisons a dataset's train split with a preset or a spec file, trains a model on it, measures
 * clean accuracy, ASR and robust accuracy on the test split, and writes three files atomically: the model
 * (its metadata carries the attack, so `awm eval` and `awm purify` find the trigger), `<stem>.attack.json`
 * and `<stem>.metrics.json`. The metrics file is written last, so its presence means the run finished.
 */
import { existsSync } from 'node:fs';
import { UsageError, type ParsedFlags } from './args.js';
import { emitResult, epochProgress, type Command, type CommandIO } from './command.js';
import { checkOutputPaths } from './outputs.js';
import { augmentOptions, DATASET_DEFAULTS, recipeMetadata, recipeModelSpec, trainingFlags, type Augment } from './training-recipe.js';
import {
  assertModelFitsData, backendFlags, backendLine, dataSource, datasetFlags, describeDataset, intAtLeast, numberFlag,
  openBackend, openModel, percent, positiveNumber, stringFlag, loadSplit,
} from './common.js';
import type { DatasetName } from '../data/node.js';
import type { ImageDataset } from '../data/dataset.js';
import { type Arch, type ModelSpec } from '../nn/spec.js';
import type { Classifier } from '../nn/classifier.js';
import type { Backend } from '../tensor/backend.js';
import { writeModel } from '../nn/model-file.node.js';
import { writeFileAtomic } from '../io/atomic-write.node.js';
import type { EpochStats } from '../train/train.js';
import {
  ATTACK_PRESETS, attackPreset, attackToMetadata, describeAttack, isAttackPreset, serializeAttackSpec, validateAttackForData,
  type AttackSpec, type PresetOptions,
} from '../attacks/index.js';
import { loadPatternFile, readAttackSpecFile } from '../attacks/files.node.js';
import { trainBackdoored, type BackdoorTrainingResult, type TrainingPhase } from '../attacks/train-poisoned.js';
import { sidecarPath } from './attack-choice.js';

/** Flags that shape a preset; a spec file already says all of this. */
const PRESET_FLAGS = ['target', 'rate', 'all-to-all', 'pattern'] as const;

export const attackCommand: Command = {
  name: 'attack',
  summary: 'poison a training set, train a backdoored model, and save it with its attack and metrics',
  flags: {
    ...datasetFlags(true),
    attack: { type: 'string', required: true, help: `attack preset (${ATTACK_PRESETS.join(', ')}) or an attack spec JSON file` },
    'all-to-all': { type: 'boolean', help: 'preset: relabel y -> (y + 1) mod C instead of one target (not clb or multi)' },
    target: { type: 'int', help: "preset: target class (default: the preset's)" },
    rate: { type: 'number', help: "preset: poisoning rate in (0, 1] (default: the preset's)" },
    pattern: { type: 'string', help: 'blend: trigger image from this safetensors file instead of seeded noise' },
    'pattern-key': { type: 'string', default: 'pattern', help: 'tensor name of the --pattern image' },
    'poison-seed': { type: 'int', help: 'seed that chooses the poisoned images (default: --seed)' },
    'clean-model': { type: 'string', help: 'clb: run PGD against this clean model instead of training one first' },
    'clean-epochs': { type: 'int', help: 'clb: epochs of the clean model trained for PGD (default: --epochs)' },
    ...trainingFlags('output model file (.safetensors); the attack and metrics JSON go beside it'),
    ...backendFlags,
  },
  run: runAttack,
};


interface AttackPlan {
  arch: Arch;
  width?: number;
  epochs: number;
  cleanEpochs?: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  schedule: 'cosine' | 'step' | 'none';
  batchSize: number;
  seed: number;
  poisonSeed: number;
  augment: Augment;
  maxSteps?: number;
  out: string;
}

function readPlan(flags: ParsedFlags, dataset: DatasetName): AttackPlan {
  const out = stringFlag(flags, 'out')!;
  const inputs = (['clean-model', 'pattern'] as const).flatMap((f) => {
    const path = stringFlag(flags, f);
    return path === undefined ? [] : [{ what: `--${f}`, path }];
  });
  checkOutputPaths([
    { what: '--out', path: out }, { what: 'the attack spec beside it', path: sidecarPath(out, 'attack') }, { what: 'the metrics beside it', path: sidecarPath(out, 'metrics') },
  ], inputs, flags.force === true);
  const momentum = numberFlag(flags, 'momentum')!;
  if (momentum < 0 || momentum >= 1) throw new UsageError(`--momentum must be in [0, 1), got ${momentum}`);
  const weightDecay = numberFlag(flags, 'weight-decay')!;
  if (weightDecay < 0) throw new UsageError('--weight-decay must not be negative');
  const seed = numberFlag(flags, 'seed')!;
  const width = intAtLeast(flags, 'width', 1);
  const cleanEpochs = intAtLeast(flags, 'clean-epochs', 1);
  const maxSteps = intAtLeast(flags, 'max-steps', 1);
  return {
    arch: stringFlag(flags, 'arch') as Arch,
    ...(width !== undefined ? { width } : {}),
    epochs: intAtLeast(flags, 'epochs', 1) ?? DATASET_DEFAULTS[dataset].epochs,
    ...(cleanEpochs !== undefined ? { cleanEpochs } : {}),
    lr: positiveNumber(flags, 'lr')!,
    momentum,
    weightDecay,
    schedule: stringFlag(flags, 'schedule') as AttackPlan['schedule'],
    batchSize: intAtLeast(flags, 'batch-size', 1)!,
    seed,
    poisonSeed: numberFlag(flags, 'poison-seed') ?? seed,
    augment: (stringFlag(flags, 'augment') as Augment | undefined) ?? DATASET_DEFAULTS[dataset].augment,
    ...(maxSteps !== undefined ? { maxSteps } : {}),
    out,
  };
}

/** The attack named by --attack: a preset shaped by the preset flags, or a spec file taken as it is. */
async function readAttack(flags: ParsedFlags): Promise<{ spec: AttackSpec; source: string }> {
  const name = stringFlag(flags, 'attack')!;
  if (!isAttackPreset(name)) {
    if (!existsSync(name)) throw new UsageError(`--attack '${name}' is neither a preset (${ATTACK_PRESETS.join(', ')}) nor an existing spec file`);
    const given = PRESET_FLAGS.filter((f) => flags[f] !== undefined && flags[f] !== false);
    if (given.length) throw new UsageError(`${given.map((f) => `--${f}`).join(', ')} shape a preset; edit the spec file ${name} instead`);
    return { spec: await readAttackSpecFile(name), source: name };
  }
  const options: PresetOptions = {};
  const target = intAtLeast(flags, 'target', 0);
  if (target !== undefined) options.target = target;
  const rate = numberFlag(flags, 'rate');
  if (rate !== undefined) {
    if (!(rate > 0 && rate <= 1)) throw new UsageError(`--rate must be in (0, 1], got ${rate}`);
    options.rate = rate;
  }
  if (flags['all-to-all'] === true) options.allToAll = true;
  const pattern = stringFlag(flags, 'pattern');
  if (pattern !== undefined) {
    if (!existsSync(pattern)) throw new Error(`--pattern file ${pattern} does not exist`);
    options.pattern = await loadPatternFile(pattern, stringFlag(flags, 'pattern-key'));
  }
  try {
    return { spec: attackPreset(name, options), source: `preset ${name}` };
  } catch (e) {
    throw new UsageError(`--attack ${name}: ${(e as Error).message.replace(/^attackPreset: /, '')}`);
  }
}


function epochLine(s: EpochStats, phase: TrainingPhase): string {
  const test = s.testAccuracy !== undefined ? `  test acc ${percent(s.testAccuracy)}` : '';
  return `${phase === 'clean' ? 'clean model ' : ''}epoch ${s.epoch}/${s.epochs}  loss ${s.loss.toFixed(4)}  train acc ${percent(s.trainAccuracy)}${test}  ` +
    `${Math.round(s.imagesPerSecond)} img/s  ${s.msPerStep.toFixed(1)} ms/step  lr ${s.lr.toPrecision(3)}  ${s.seconds.toFixed(1)} s`;
}

/** Strings only, as safetensors metadata requires; the keys `awm train` writes, plus the attack and its rates. */
function modelMetadata(dataset: DatasetName, plan: AttackPlan, train: ImageDataset, spec: AttackSpec, r: BackdoorTrainingResult): Record<string, string> {
  const last = r.history[r.history.length - 1]!;
  const m = r.metrics;
  return {
    ...recipeMetadata('awm attack', dataset, plan, train, last),
    poison_seed: String(plan.poisonSeed),
    test_accuracy: m.cleanAccuracy.toFixed(6),
    asr: m.asr.toFixed(6),
    asr_all: m.asrAll.toFixed(6),
    robust_accuracy: m.robustAccuracy.toFixed(6),
    ...attackToMetadata(spec),
  };
}

function printResults(io: CommandIO, r: BackdoorTrainingResult): void {
  const m = r.metrics;
  io.log(`clean accuracy: ${percent(m.cleanAccuracy)} (${m.n} test images)`);
  io.log(`ASR ${percent(m.asr)} (target class excluded), ASR over all images ${percent(m.asrAll)}, robust accuracy ${percent(m.robustAccuracy)}`);
  if (m.perBackdoor.length > 1) {
    m.perBackdoor.forEach((b, i) => io.log(`  backdoor ${i} (target ${b.target ?? 'all-to-all'}): ASR ${percent(b.asr)}, robust accuracy ${percent(b.robustAccuracy)}`));
  }
}

/** CLB's clean model from --clean-model, checked against the data; other attacks must not be given one. */
async function openCleanModel(flags: ParsedFlags, spec: AttackSpec, backend: Backend, train: ImageDataset): Promise<Classifier | undefined> {
  const usesPgd = spec.backdoors.some((b) => b.pgd !== undefined);
  for (const f of ['clean-model', 'clean-epochs'] as const) {
    if (!usesPgd && flags[f] !== undefined) throw new UsageError(`--${f} is for clean-label attacks with PGD (clb); "${spec.name}" has none`);
  }
  const path = stringFlag(flags, 'clean-model');
  if (path === undefined) return undefined;
  if (flags['clean-epochs'] !== undefined) throw new UsageError('--clean-epochs trains a clean model; --clean-model gives one: pass only one');
  const { model, spec: cleanSpec } = await openModel(backend, path);
  try {
    assertModelFitsData(cleanSpec, train, `clean model ${path}`);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

async function runAttack(flags: ParsedFlags, io: CommandIO): Promise<void> {
  const dataset = stringFlag(flags, 'dataset') as DatasetName;
  const plan = readPlan(flags, dataset);
  const { spec, source: attackSource } = await readAttack(flags);
  const source = dataSource(flags, dataset);
  const train = await loadSplit(source, 'train');
  const test = await loadSplit(source, 'test');
  if (train.c !== test.c || train.h !== test.h || train.w !== test.w || train.numClasses !== test.numClasses) {
    throw new Error(`the test split (${describeDataset(test)}) does not match the train split (${describeDataset(train)})`);
  }
  validateAttackForData(spec, train);
  io.log(`attack (${attackSource}): ${describeAttack(spec)}`);
  io.log(`data: ${dataset} from ${source.dir}: ${train.n} train / ${test.n} test images, ${train.c}x${train.h}x${train.w}, ${train.numClasses} classes`);
  const mspec = recipeModelSpec(plan, train);
  const backend = await openBackend(flags, io);
  const cleanModel = await openCleanModel(flags, spec, backend, train);
  io.log(`model: ${mspec.arch} width ${mspec.width}, ${mspec.inChannels} -> ${mspec.numClasses} classes`);
  io.log(`training: ${plan.epochs} epochs, batch ${plan.batchSize}, lr ${plan.lr}, augment ${plan.augment}, seed ${plan.seed}, poison seed ${plan.poisonSeed}` +
    (plan.maxSteps !== undefined ? `, at most ${plan.maxSteps} steps per epoch` : ''));
  const augment = augmentOptions(plan.augment, train);
  let result: BackdoorTrainingResult;
  try {
    const epochDone = epochProgress(io);
    result = await trainBackdoored({
      backend, train, test, attack: spec, model: mspec, poisonSeed: plan.poisonSeed,
      training: {
        epochs: plan.epochs, lr: plan.lr, batchSize: plan.batchSize, momentum: plan.momentum, weightDecay: plan.weightDecay,
        schedule: plan.schedule, seed: plan.seed, testSet: test,
        ...(augment ? { augment } : {}),
        ...(plan.maxSteps !== undefined ? { maxStepsPerEpoch: plan.maxSteps } : {}),
      },
      ...(cleanModel ? { cleanModel } : {}),
      ...(plan.cleanEpochs !== undefined ? { cleanEpochs: plan.cleanEpochs } : {}),
      onEpoch: (s, phase) => epochDone(s, epochLine(s, phase)),
      onProgress: (m) => io.log(`${m} ...`),
    });
  } finally {
    cleanModel?.dispose();
  }
  try {
    printResults(io, result);
    if (result.poisoning.mode === 'dataset') io.log(`poisoned ${result.poisoning.images} of ${train.n} training images (${percent(result.poisoning.fraction)})`);
    await writeModel(plan.out, result.model, modelMetadata(dataset, plan, train, spec, result));
  } finally {
    result.model.dispose();
  }
  const attackPath = sidecarPath(plan.out, 'attack');
  await writeFileAtomic(attackPath, `${JSON.stringify(JSON.parse(serializeAttackSpec(spec)), null, 2)}\n`);
  const metricsPath = sidecarPath(plan.out, 'metrics');
  const report = attackReport(plan, dataset, source.dir, backendLine(backend), spec, mspec, result, stringFlag(flags, 'clean-model'));
  await writeFileAtomic(metricsPath, `${JSON.stringify(report, null, 2)}\n`);
  emitResult(io, [`wrote ${plan.out}, ${attackPath} and ${metricsPath}`], { ...report, written: [plan.out, attackPath, metricsPath] });
}

function attackReport(
  plan: AttackPlan, dataset: DatasetName, dataDir: string, backend: string, spec: AttackSpec, model: ModelSpec,
  r: BackdoorTrainingResult, cleanModelPath: string | undefined,
): Record<string, unknown> {
  const { n, cleanAccuracy, asr, asrAll, robustAccuracy, asrOfCorrect, cleanToTarget, perBackdoor } = r.metrics;
  return {
    model: plan.out,
    attack: { name: spec.name, description: describeAttack(spec), file: sidecarPath(plan.out, 'attack') },
    dataset, dataDir, backend, spec: model,
    training: {
      epochs: plan.epochs, lr: plan.lr, schedule: plan.schedule, momentum: plan.momentum, weightDecay: plan.weightDecay,
      batchSize: plan.batchSize, seed: plan.seed, poisonSeed: plan.poisonSeed, augment: plan.augment,
      ...(plan.maxSteps !== undefined ? { maxStepsPerEpoch: plan.maxSteps } : {}),
      ...(cleanModelPath !== undefined ? { cleanModel: cleanModelPath } : {}),
      ...(r.cleanHistory ? { cleanEpochs: r.cleanHistory.length } : {}),
    },
    poisoning: r.poisoning,
    n, cleanAccuracy, asr, asrAll, robustAccuracy, asrOfCorrect, cleanToTarget, perBackdoor,
    history: r.history,
    ...(r.cleanHistory ? { cleanHistory: r.cleanHistory } : {}),
    seconds: r.seconds,
  };
}
