/**
 * Attack benchmark (`npm run bench attacks [-- flags]`; never part of `npm test`): on Fashion-MNIST with the
 * small CNN, trains one clean model and one backdoored model per attack with the same recipe and seed, and
 * records clean accuracy, ASR (target excluded and over all images), robust accuracy and time, plus the clean
 * model's ASR under each trigger (on the first 2000 test images) as a floor. The goal each attack is held to:
 * ASR >= 90 % with at most 3 points of clean accuracy lost against the clean model.
 *
 * On SwiftShader (2 CPU cores) a batch-128 step of the small CNN takes seconds, so an epoch is on the order
 * of an hour and a test pass minutes: hence 3 epochs by default and no per-epoch test pass unless asked.
 *
 * Writes bench/results/attacks.json after every model (a later run with the same settings merges into it,
 * so `--attacks clb --clean-model bench/models/smallcnn-clean.safetensors` redoes one row), prints a
 * Markdown table, and keeps the models in bench/models/smallcnn-<attack>.safetensors with their attack
 * spec beside them, for the defence benchmark.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseFlags, type ParsedFlags } from '../src/cli/args.js';
import { sidecarPath } from '../src/cli/attack-choice.js';
import { backendLine } from '../src/cli/common.js';
import { createBackend, type BackendChoice } from '../src/backends/index.js';
import type { Backend } from '../src/tensor/backend.js';
import { loadDataset } from '../src/data/node.js';
import { subset, type ImageDataset } from '../src/data/dataset.js';
import { createModel, type Classifier, type ModelSpec } from '../src/nn/index.js';
import { readModel, writeModel } from '../src/nn/model-file.node.js';
import { writeFileAtomic } from '../src/io/atomic-write.node.js';
import { evaluateClassifier, predictClasses, trainClassifier, type EpochStats, type TrainOptions } from '../src/train/train.js';
import {
  attackPreset, attackToMetadata, describeAttack, evaluateBackdoor, serializeAttackSpec, type AttackPresetName, type AttackSpec, type BackdoorMetrics,
} from '../src/attacks/index.js';
import { trainBackdoored, type PoisoningSummary } from '../src/attacks/train-poisoned.js';

const ATTACKS = ['badnets', 'blend', 'trojan-sq', 'trojan-wm', 'wanet', 'clb', 'multi'] as const satisfies readonly AttackPresetName[];
const RESULTS = 'bench/results/attacks.json';
const MODELS = 'bench/models';
const ASR_GOAL = 0.9;
const MAX_DROP_POINTS = 3;

const FLAGS = {
  'data-dir': { type: 'string', default: '/usr/share/datasets/fashion-mnist', help: 'Fashion-MNIST folder' },
  attacks: { type: 'string', default: ATTACKS.join(','), help: 'comma-separated presets to run' },
  epochs: { type: 'int', default: 3, help: 'epochs of every model' },
  lr: { type: 'number', default: 0.05, help: 'peak SGD learning rate (cosine schedule)' },
  'batch-size': { type: 'int', default: 128, help: 'images per step' },
  width: { type: 'int', default: 16, help: 'small-cnn base width' },
  seed: { type: 'int', default: 0, help: 'initialisation, shuffling and poisoning seed' },
  'max-steps': { type: 'int', help: 'stop each epoch after this many steps (a quick look, not a result)' },
  'clean-model': { type: 'string', help: 'reuse this clean model instead of training one' },
  'epoch-test': { type: 'boolean', default: false, help: 'also measure test accuracy after every epoch (a 10000-image pass each)' },
  'baseline-images': { type: 'int', default: 2000, help: "test images for the clean model's ASR under each trigger" },
  backend: { type: 'string', choices: ['webgpu', 'cpu', 'auto'], default: 'webgpu', help: 'compute backend' },
} as const;

interface Settings {
  dataset: 'fashion-mnist';
  arch: 'small-cnn';
  width: number;
  epochs: number;
  lr: number;
  batchSize: number;
  seed: number;
  maxStepsPerEpoch: number | null;
  epochTest: boolean;
}

interface CleanRow {
  cleanAccuracy: number;
  seconds: number;
  history: EpochStats[];
}

interface AttackRow {
  attack: string;
  description: string;
  cleanAccuracy: number;
  /** Clean accuracy lost against the clean model, in percentage points. */
  accuracyDropPoints: number;
  asr: number;
  asrAll: number;
  robustAccuracy: number;
  perBackdoor: BackdoorMetrics['perBackdoor'];
  /** The clean model's ASR with the same trigger (first `baselineImages` test images): how often the trigger alone lands on the target. */
  cleanModelAsr: number;
  meetsGoal: boolean;
  poisoning: PoisoningSummary;
  seconds: number;
  history: EpochStats[];
}

interface Results {
  settings: Settings;
  backend: string;
  goal: string;
  clean?: CleanRow;
  attacks: Record<string, AttackRow>;
  updated: string;
}

function readSettings(flags: ParsedFlags): Settings {
  const int = (name: string): number => flags[name] as number;
  return {
    dataset: 'fashion-mnist', arch: 'small-cnn', width: int('width'), epochs: int('epochs'), lr: flags.lr as number,
    batchSize: int('batch-size'), seed: int('seed'), maxStepsPerEpoch: (flags['max-steps'] as number | undefined) ?? null,
    epochTest: flags['epoch-test'] === true,
  };
}

function readAttackList(text: string): AttackPresetName[] {
  const names = text.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) if (!(ATTACKS as readonly string[]).includes(n)) throw new Error(`--attacks: unknown attack '${n}' (known: ${ATTACKS.join(', ')})`);
  return names as AttackPresetName[];
}

/** Earlier results with the same settings are kept, so partial reruns add to them; others are replaced. */
function startResults(settings: Settings, backend: string): Results {
  const fresh: Results = { settings, backend, goal: `ASR >= ${ASR_GOAL * 100} % (target excluded), clean-accuracy drop <= ${MAX_DROP_POINTS} points`, attacks: {}, updated: '' };
  if (!existsSync(RESULTS)) return fresh;
  const old = JSON.parse(readFileSync(RESULTS, 'utf8')) as Results;
  return JSON.stringify(old.settings) === JSON.stringify(settings) ? { ...old, backend } : fresh;
}

async function save(results: Results): Promise<void> {
  results.updated = new Date().toISOString();
  await writeFileAtomic(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
}

function trainOptions(s: Settings, test: ImageDataset): Omit<TrainOptions, 'transform' | 'onEpoch'> {
  return {
    epochs: s.epochs, lr: s.lr, batchSize: s.batchSize, seed: s.seed, schedule: 'cosine',
    ...(s.epochTest ? { testSet: test } : {}),
    ...(s.maxStepsPerEpoch !== null ? { maxStepsPerEpoch: s.maxStepsPerEpoch } : {}),
  };
}

function logEpoch(label: string, s: EpochStats): void {
  const testAcc = s.testAccuracy !== undefined ? `, test ${pct(s.testAccuracy)}` : '';
  console.log(`  ${label} epoch ${s.epoch}/${s.epochs}: loss ${s.loss.toFixed(4)}, train ${pct(s.trainAccuracy)}${testAcc}, ` +
    `${Math.round(s.imagesPerSecond)} img/s, ${s.msPerStep.toFixed(1)} ms/step, ${s.seconds.toFixed(1)} s`);
}

function metadata(s: Settings, extra: Record<string, string>): Record<string, string> {
  return {
    trained_by: 'bench/attacks.ts', dataset: s.dataset, image_shape: '1x28x28', epochs: String(s.epochs), seed: String(s.seed),
    lr: String(s.lr), batch_size: String(s.batchSize), augment: 'none', ...extra,
  };
}

async function cleanModel(backend: Backend, spec: ModelSpec, s: Settings, train: ImageDataset, test: ImageDataset, path: string | undefined): Promise<{ model: Classifier; row: CleanRow }> {
  if (path !== undefined) {
    const { model } = await readModel(backend, path);
    const t0 = performance.now();
    const cleanAccuracy = (await evaluateClassifier(model, backend, test)).accuracy;
    console.log(`clean model from ${path}: accuracy ${pct(cleanAccuracy)}`);
    return { model, row: { cleanAccuracy, seconds: (performance.now() - t0) / 1000, history: [] } };
  }
  console.log('clean model');
  const t0 = performance.now();
  const model = createModel(backend, spec, { seed: s.seed });
  const history = await trainClassifier(model, backend, train, { ...trainOptions(s, test), onEpoch: (e) => logEpoch('clean', e) });
  const cleanAccuracy = (await evaluateClassifier(model, backend, test)).accuracy;
  const seconds = (performance.now() - t0) / 1000;
  await writeModel(join(MODELS, 'smallcnn-clean.safetensors'), model, metadata(s, { test_accuracy: cleanAccuracy.toFixed(6) }));
  return { model, row: { cleanAccuracy, seconds, history } };
}

interface Baseline {
  model: Classifier;
  accuracy: number;
  /** A slice of the test set: the clean model's ASR is a sanity floor, not worth full passes on a slow device. */
  images: ImageDataset;
}

async function runAttack(name: AttackPresetName, backend: Backend, spec: ModelSpec, s: Settings, train: ImageDataset, test: ImageDataset, clean: Baseline): Promise<AttackRow> {
  const attack: AttackSpec = attackPreset(name);
  console.log(`\n${describeAttack(attack)}`);
  const { images } = clean;
  const predictClean = (x: Float32Array, n: number) => predictClasses(clean.model, backend, x, [n, images.c, images.h, images.w]);
  const cleanModelAsr = (await evaluateBackdoor(predictClean, images, attack)).asr;
  console.log(`  clean model's ASR with this trigger: ${pct(cleanModelAsr)} (${images.n} test images)`);
  const r = await trainBackdoored({
    backend, train, test, attack, model: spec, poisonSeed: s.seed, training: trainOptions(s, test), cleanModel: clean.model,
    onEpoch: (e) => logEpoch(name, e),
    onProgress: (m) => console.log(`  ${m} ...`),
  });
  try {
    const path = join(MODELS, `smallcnn-${name}.safetensors`);
    const m = r.metrics;
    await writeModel(path, r.model, metadata(s, {
      test_accuracy: m.cleanAccuracy.toFixed(6), asr: m.asr.toFixed(6), asr_all: m.asrAll.toFixed(6), robust_accuracy: m.robustAccuracy.toFixed(6),
      ...attackToMetadata(attack),
    }));
    await writeFileAtomic(sidecarPath(path, 'attack'), `${JSON.stringify(JSON.parse(serializeAttackSpec(attack)), null, 2)}\n`);
    const accuracyDropPoints = 100 * (clean.accuracy - m.cleanAccuracy);
    return {
      attack: name, description: describeAttack(attack), cleanAccuracy: m.cleanAccuracy, accuracyDropPoints,
      asr: m.asr, asrAll: m.asrAll, robustAccuracy: m.robustAccuracy, perBackdoor: m.perBackdoor, cleanModelAsr,
      meetsGoal: m.asr >= ASR_GOAL && accuracyDropPoints <= MAX_DROP_POINTS,
      poisoning: r.poisoning, seconds: r.seconds.total, history: r.history,
    };
  } finally {
    r.model.dispose();
  }
}

function pct(x: number): string {
  return `${(100 * x).toFixed(2)} %`;
}

function table(results: Results): string {
  const rows = [
    '| model | clean acc | Δ acc (points) | ASR (target excl.) | ASR (all) | robust acc | clean model ASR | goal met | time |',
    '|---|---:|---:|---:|---:|---:|---:|:---:|---:|',
  ];
  if (results.clean) rows.push(`| clean | ${pct(results.clean.cleanAccuracy)} | | | | | | | ${results.clean.seconds.toFixed(0)} s |`);
  for (const name of ATTACKS) {
    const r = results.attacks[name];
    if (!r) continue;
    rows.push(`| ${name} | ${pct(r.cleanAccuracy)} | ${r.accuracyDropPoints.toFixed(2)} | ${pct(r.asr)} | ${pct(r.asrAll)} | ${pct(r.robustAccuracy)} | ` +
      `${pct(r.cleanModelAsr)} | ${r.meetsGoal ? 'yes' : 'no'} | ${r.seconds.toFixed(0)} s |`);
  }
  return rows.join('\n');
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), FLAGS);
  const settings = readSettings(flags);
  const attacks = readAttackList(flags.attacks as string);
  const baselineImages = flags['baseline-images'] as number;
  mkdirSync('bench/results', { recursive: true });
  mkdirSync(MODELS, { recursive: true });
  const dir = flags['data-dir'] as string;
  const train = await loadDataset('fashion-mnist', dir, 'train');
  const test = await loadDataset('fashion-mnist', dir, 'test');
  const backend = await createBackend(flags.backend as BackendChoice);
  console.log(`backend: ${backendLine(backend)}`);
  console.log(`settings: ${JSON.stringify(settings)}; attacks: ${attacks.join(', ')}`);
  const results = startResults(settings, backendLine(backend));
  const spec: ModelSpec = { arch: 'small-cnn', inChannels: 1, numClasses: 10, width: settings.width, inputSize: 28 };
  const clean = await cleanModel(backend, spec, settings, train, test, flags['clean-model'] as string | undefined);
  try {
    if (flags['clean-model'] === undefined || !results.clean) results.clean = clean.row;
    await save(results);
    for (const name of attacks) {
      const baseline: Baseline = { model: clean.model, accuracy: results.clean.cleanAccuracy, images: subset(test, Array.from({ length: Math.min(baselineImages, test.n) }, (_, i) => i)) };
      const row = await runAttack(name, backend, spec, settings, train, test, baseline);
      results.attacks[name] = row;
      await save(results);
      console.log(`  ${name}: clean ${pct(row.cleanAccuracy)} (${row.accuracyDropPoints.toFixed(2)} points lost), ASR ${pct(row.asr)}, ` +
        `ASR all ${pct(row.asrAll)}, robust ${pct(row.robustAccuracy)}, ${row.seconds.toFixed(0)} s${row.meetsGoal ? '' : '  (goal NOT met)'}`);
    }
  } finally {
    clean.model.dispose();
  }
  console.log(`\n${table(results)}\n\nwrote ${RESULTS}; models in ${MODELS}/`);
}

main().catch((e: Error) => {
  console.error(`bench attacks: ${e.message}`);
  if (process.env.AWM_DEBUG === '1') console.error(e.stack);
  process.exitCode = 1;
});
