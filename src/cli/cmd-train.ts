/**
 * `awm train`: trains a classifier from scratch on a dataset's train split, reports test accuracy every
 * epoch, and rewrites the output file atomically after each epoch, so an interrupted run leaves the
 * last finished epoch's model (its metadata says how many epochs it had) rather than nothing.
 */
import { UsageError, type ParsedFlags } from './args.js';
import { emitResult, epochProgress, type Command, type CommandIO } from './command.js';
import { checkOutputPaths } from './outputs.js';
import { augmentOptions, DATASET_DEFAULTS, recipeMetadata, recipeModelSpec, trainingFlags, type Augment, type RecipePlan } from './training-recipe.js';
import {
  assertModelFitsData, backendFlags, dataSource, datasetFlags, describeDataset, intAtLeast, numberFlag,
  openBackend, percent, positiveNumber, stringFlag, loadSplit,
} from './common.js';
import type { DatasetName } from '../data/node.js';
import type { ImageDataset } from '../data/dataset.js';
import { DEFAULT_WIDTH, type Arch } from '../nn/spec.js';
import { createModel } from '../nn/models.js';
import { writeModel } from '../nn/model-file.node.js';
import { trainClassifier, type EpochStats } from '../train/train.js';

export const trainCommand: Command = {
  name: 'train',
  summary: 'train a classifier on a dataset and save it as safetensors',
  flags: {
    ...datasetFlags(true),
    ...trainingFlags('output model file (.safetensors), rewritten after every epoch'),
    ...backendFlags,
  },
  run: runTrain,
};

/** The recipe with its width resolved, and where the model goes. */
interface TrainPlan extends RecipePlan {
  width: number;
  out: string;
}

function readPlan(flags: ParsedFlags, dataset: DatasetName): TrainPlan {
  const arch = stringFlag(flags, 'arch') as Arch;
  const out = stringFlag(flags, 'out')!;
  checkOutputPaths([{ what: '--out', path: out }], [], flags.force === true);
  const lr = positiveNumber(flags, 'lr')!;
  const maxSteps = intAtLeast(flags, 'max-steps', 1);
  const momentum = numberFlag(flags, 'momentum')!;
  if (momentum < 0 || momentum >= 1) throw new UsageError(`--momentum must be in [0, 1), got ${momentum}`);
  if (numberFlag(flags, 'weight-decay')! < 0) throw new UsageError(`--weight-decay must not be negative`);
  return {
    arch,
    width: intAtLeast(flags, 'width', 1) ?? DEFAULT_WIDTH[arch],
    epochs: intAtLeast(flags, 'epochs', 1) ?? DATASET_DEFAULTS[dataset].epochs,
    lr,
    batchSize: intAtLeast(flags, 'batch-size', 1)!,
    seed: numberFlag(flags, 'seed')!,
    augment: (stringFlag(flags, 'augment') as Augment | undefined) ?? DATASET_DEFAULTS[dataset].augment,
    ...(maxSteps !== undefined ? { maxSteps } : {}),
    out,
  };
}


function assertSameGeometry(train: ImageDataset, test: ImageDataset): void {
  if (train.c !== test.c || train.h !== test.h || train.w !== test.w || train.numClasses !== test.numClasses) {
    throw new Error(`the test split (${describeDataset(test)}) does not match the train split (${describeDataset(train)})`);
  }
}

function trainingMetadata(dataset: DatasetName, plan: TrainPlan, train: ImageDataset, stats: EpochStats): Record<string, string> {
  return {
    ...recipeMetadata('awm train', dataset, plan, train, stats),
    ...(stats.testAccuracy !== undefined ? { test_accuracy: stats.testAccuracy.toFixed(6) } : {}),
  };
}

function epochLine(s: EpochStats): string {
  const test = s.testAccuracy !== undefined ? `  test acc ${percent(s.testAccuracy)}` : '';
  return `epoch ${s.epoch}/${s.epochs}  loss ${s.loss.toFixed(4)}  train acc ${percent(s.trainAccuracy)}${test}  ` +
    `${Math.round(s.imagesPerSecond)} img/s  ${s.msPerStep.toFixed(1)} ms/step  lr ${s.lr.toPrecision(3)}  ${s.seconds.toFixed(1)} s`;
}

async function runTrain(flags: ParsedFlags, io: CommandIO): Promise<void> {
  const dataset = stringFlag(flags, 'dataset') as DatasetName;
  const plan = readPlan(flags, dataset);
  const source = dataSource(flags, dataset);
  const train = await loadSplit(source, 'train');
  const test = await loadSplit(source, 'test');
  assertSameGeometry(train, test);
  io.log(`data: ${dataset} from ${source.dir}: ${train.n} train / ${test.n} test images, ${train.c}x${train.h}x${train.w}, ${train.numClasses} classes`);
  const spec = recipeModelSpec(plan, train);
  const backend = await openBackend(flags, io);
  const model = createModel(backend, spec, { seed: plan.seed });
  try {
    assertModelFitsData(model.spec, train, `the ${spec.arch} model`);
    const params = model.parameters().reduce((sum, p) => sum + p.size, 0);
    io.log(`model: ${spec.arch} width ${spec.width}, ${spec.inChannels} -> ${spec.numClasses} classes, ${(params / 1e6).toFixed(2)}M parameters`);
    io.log(`training: ${plan.epochs} epochs, batch ${plan.batchSize}, lr ${plan.lr}, augment ${plan.augment}, seed ${plan.seed}` +
      (plan.maxSteps !== undefined ? `, at most ${plan.maxSteps} steps per epoch` : ''));
    const augment = augmentOptions(plan.augment, train);
    const epochDone = epochProgress(io);
    const history = await trainClassifier(model, backend, train, {
      epochs: plan.epochs,
      lr: plan.lr,
      batchSize: plan.batchSize,
      momentum: numberFlag(flags, 'momentum'),
      weightDecay: numberFlag(flags, 'weight-decay'),
      schedule: stringFlag(flags, 'schedule') as 'cosine' | 'step' | 'none',
      seed: plan.seed,
      ...(augment ? { augment } : {}),
      testSet: test,
      ...(plan.maxSteps !== undefined ? { maxStepsPerEpoch: plan.maxSteps } : {}),
      onEpoch: async (stats) => {
        epochDone(stats, epochLine(stats));
        await writeModel(plan.out, model, trainingMetadata(dataset, plan, train, stats));
      },
    });
    const last = history[history.length - 1]!;
    emitResult(io, [`wrote ${plan.out} (test accuracy ${percent(last.testAccuracy ?? 0)} after ${last.epoch} epochs)`], {
      written: [plan.out], dataset, epochs: history.map((s) => ({ ...s })), testAccuracy: last.testAccuracy ?? null,
    });
  } finally {
    model.dispose();
  }
}
