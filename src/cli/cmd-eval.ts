/**
 * `awm eval`: a model's clean accuracy on a dataset's test split and, when an attack is known (a spec
 * file, or the spec `awm attack` stores in the model's metadata), its attack success rate and robust
 * accuracy with the same trigger applied to every test image.
 */
import { writeFileAtomic } from '../io/atomic-write.node.js';
import type { ParsedFlags } from './args.js';
import { emitResult, type Command, type CommandIO } from './command.js';
import {
  assertModelFitsData, backendFlags, dataSource, datasetFlags, describeDataset, intAtLeast, isDatasetName,
  loadSplit, openBackend, openModel, percent, readModelMetadata, stringFlag, backendLine, type GeometryDefaults,
} from './common.js';
import type { DatasetName } from '../data/node.js';
import type { ImageDataset } from '../data/dataset.js';
import type { Backend } from '../tensor/backend.js';
import type { Classifier } from '../nn/classifier.js';
import { evaluateClassifier, predictClasses } from '../train/train.js';
import { describeAttack, evaluateBackdoor, type BackdoorMetrics } from '../attacks/index.js';
import { checkOutputPaths, forceFlag, requireInputFile, type NamedPath } from './outputs.js';
import { chooseAttack, type AttackChoice } from './attack-choice.js';
import { chooseTriggered, triggeredFlags } from './triggered-choice.js';
import { evaluateTriggered, type TriggeredImages } from '../attacks/triggered.js';

export const evalCommand: Command = {
  name: 'eval',
  summary: "measure a model's clean accuracy (and attack success rate) on a test split",
  flags: {
    model: { type: 'string', required: true, help: 'model file (.safetensors)' },
    ...datasetFlags(false),
    attack: { type: 'string', help: "attack spec JSON or preset name; without it, the attack stored in the model's metadata, else <model>.attack.json beside it, is used when there is one" },
    ...triggeredFlags,
    'clean-only': { type: 'boolean', help: 'measure clean accuracy only, even when the model records an attack' },
    'batch-size': { type: 'int', default: 256, help: 'images per forward pass' },
    report: { type: 'string', help: 'also write the results as JSON to this file' },
    ...forceFlag,
    ...backendFlags,
  },
  run: runEval,
};

/** Dataset named by the flag, else the one the model was trained on. */
function chooseDataset(flags: ParsedFlags, metadata: Record<string, string>, modelPath: string): DatasetName {
  const named = stringFlag(flags, 'dataset');
  if (named !== undefined) return named as DatasetName;
  const trainedOn = metadata.dataset;
  if (trainedOn !== undefined && isDatasetName(trainedOn)) return trainedOn;
  throw new Error(`--dataset is required: ${modelPath} does not record the dataset it was trained on`);
}

/** `image_shape` ("CxHxW", written by awm train) sizes folder and GTSRB images as in training. */
function trainedGeometry(metadata: Record<string, string>): GeometryDefaults {
  const m = /^(\d+)x(\d+)x(\d+)$/.exec(metadata.image_shape ?? '');
  if (!m || m[2] !== m[3]) return {};
  return { channels: Number(m[1]), size: Number(m[2]) };
}

interface EvalReport {
  model: string;
  spec: Classifier['spec'];
  dataset: DatasetName;
  dataDir: string;
  split: 'test';
  n: number;
  backend: string;
  cleanAccuracy: number;
  attack?: { name: string; source: string; description: string } & Omit<BackdoorMetrics, 'n' | 'cleanAccuracy'>;
}

/** What ASR is measured against: a trigger this project applies, or a file of triggered images. */
type AttackSource = { kind: 'spec'; choice: AttackChoice } | { kind: 'triggered'; images: TriggeredImages };

async function measure(model: Classifier, backend: Backend, test: ImageDataset, batchSize: number, attack: AttackSource | null): Promise<Pick<EvalReport, 'cleanAccuracy' | 'attack'>> {
  if (!attack) return { cleanAccuracy: (await evaluateClassifier(model, backend, test, { batchSize })).accuracy };
  const shape = (n: number) => [n, test.c, test.h, test.w] as const;
  const predict = (images: Float32Array, n: number) => predictClasses(model, backend, images, shape(n), batchSize);
  const metrics = attack.kind === 'spec'
    ? await evaluateBackdoor(predict, test, attack.choice.spec, { batchSize })
    : await evaluateTriggered(predict, test, attack.images, { batchSize });
  const { cleanAccuracy, n: _n, ...rates } = metrics;
  const named = attack.kind === 'spec'
    ? { name: attack.choice.spec.name, source: attack.choice.source, description: describeAttack(attack.choice.spec) }
    : { name: 'triggered images', source: attack.images.source, description: `${attack.images.n} pre-triggered images` };
  return { cleanAccuracy, attack: { ...named, ...rates } };
}

function resultLines(r: EvalReport): string[] {
  const lines = [`clean accuracy: ${percent(r.cleanAccuracy)} (${r.n} test images)`];
  if (!r.attack) return lines;
  const a = r.attack;
  lines.push(`attack from ${a.source}: ${a.description}`);
  lines.push(`ASR ${percent(a.asr)} (target class excluded), ASR over all images ${percent(a.asrAll)}, robust accuracy ${percent(a.robustAccuracy)}`);
  const flipped = a.asrOfCorrect === undefined ? '' : `${percent(a.asrOfCorrect)} of the images classified correctly without the trigger are flipped by it; `;
  lines.push(`  of that ASR: ${flipped}${percent(a.cleanToTarget)} go to the target with no trigger`);
  if (a.perBackdoor.length > 1) {
    a.perBackdoor.forEach((b, i) => lines.push(`  backdoor ${i} (target ${b.target ?? 'all-to-all'}): ASR ${percent(b.asr)}, robust accuracy ${percent(b.robustAccuracy)}`));
  }
  return lines;
}

async function runEval(flags: ParsedFlags, io: CommandIO): Promise<void> {
  const modelPath = stringFlag(flags, 'model')!;
  const batchSize = intAtLeast(flags, 'batch-size', 1)!;
  requireInputFile({ what: '--model', path: modelPath });
  const inputs: NamedPath[] = [{ what: '--model', path: modelPath }];
  const triggeredPath = stringFlag(flags, 'triggered');
  if (triggeredPath !== undefined) inputs.push({ what: '--triggered', path: triggeredPath });
  const reportPath = stringFlag(flags, 'report');
  if (reportPath !== undefined) checkOutputPaths([{ what: '--report', path: reportPath }], inputs, flags.force === true);
  // The dataset and its folder come from the flags and the model's metadata: both are checked before the backend starts.
  const stored = await readModelMetadata(modelPath);
  const dataset = chooseDataset(flags, stored, modelPath);
  const source = dataSource(flags, dataset, trainedGeometry(stored));
  const backend = await openBackend(flags, io);
  const { model, spec, metadata } = await openModel(backend, modelPath);
  try {
    const triggered = await chooseTriggered(flags, metadata, modelPath);
    const attackChoice = flags['clean-only'] === true || triggered ? null : await chooseAttack(flags, metadata, modelPath);
    const attack: AttackSource | null = flags['clean-only'] === true ? null
      : triggered ? { kind: 'triggered', images: triggered } : attackChoice ? { kind: 'spec', choice: attackChoice } : null;
    const test = await loadSplit(source, 'test');
    io.log(`model: ${modelPath}: ${spec.arch} width ${spec.width}, ${spec.inChannels} -> ${spec.numClasses} classes`);
    io.log(`data: ${dataset} test split from ${source.dir}: ${describeDataset(test)}`);
    assertModelFitsData(spec, test, `model ${modelPath}`);
    const results = await measure(model, backend, test, batchSize, attack);
    const report: EvalReport = {
      model: modelPath, spec, dataset, dataDir: source.dir, split: 'test', n: test.n, backend: backendLine(backend), ...results,
    };
    const lines = resultLines(report);
    if (reportPath !== undefined) {
      await writeFileAtomic(reportPath, `${JSON.stringify(report, null, 2)}\n`);
      lines.push(`wrote ${reportPath}`);
    }
    emitResult(io, lines, { ...report, ...(reportPath !== undefined ? { written: [reportPath] } : {}) });
  } finally {
    model.dispose();
  }
}
