/**
 * `awm demo` (`npm run demo`): the whole story on real Fashion-MNIST data in a few minutes.
 * 1. A backdoored model: a small CNN trained on the spot with BadNets poisoning (3x3 white patch,
 *    target 0, 10 % of the training images).
 * 2. Its clean accuracy and attack success rate on the test images.
 * 3. One-shot AWM: one clean image per class.
 * 4. The models, the report (JSON + Markdown) and its pictures in demo-output/, summary.png among them
 *    (triggered images with the answers before and after, the true and recovered trigger, the rates);
 *    then the before/after figures and what they mean.
 * The full data set is used when Debian's dataset-fashion-mnist is installed; otherwise the small
 * subset shipped in data/fashion-mnist-subset. Without a WebGPU adapter it runs on the CPU.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadDataset } from '../data/node.js';
import { perClassSample, subset, type ImageDataset } from '../data/dataset.js';
import { applyTrigger, attackPreset, fixedTarget, gatherFloatImages, serializeAttackSpec, type AttackSpec } from '../attacks/index.js';
import { trainBackdoored } from '../attacks/train-poisoned.js';
import { cleanSetFromDataset } from '../awm/clean-set.js';
import { purifyModel, type PurifyEvaluation } from '../awm/purify.js';
import { reportProgress, type DefenseMethod } from '../awm/defense.js';
import { reportMarkdown } from '../awm/report.js';
import { PICTURE_FILES, pictureLinks, reportPictures } from '../awm/report-pictures.js';
import type { SummaryInput } from '../awm/summary-picture.js';
import { predictClasses } from '../train/train.js';
import { saveModel } from '../nn/model-file.js';
import { writeFileAtomic } from '../io/atomic-write.node.js';
import { encodePngCompressed } from '../io/png.node.js';
import type { ParsedFlags } from './args.js';
import { emitResult, epochProgress, type Command, type CommandIO } from './command.js';
import { backendFlags, DEFAULT_DATA_DIRS, fashionMnistDir, openBackend, percent } from './common.js';

export const demoCommand: Command = {
  name: 'demo',
  summary: 'backdoor a small CNN on Fashion-MNIST, then erase the backdoor with one-shot AWM',
  flags: {
    'data-dir': { type: 'string', help: `Fashion-MNIST IDX folder (default ${DEFAULT_DATA_DIRS['fashion-mnist']} when installed, else the shipped subset)` },
    out: { type: 'string', default: 'demo-output', help: 'folder for the models, report and pictures' },
    method: { type: 'string', default: 'awm', choices: ['awm', 'awm+'], help: 'the defense to demonstrate' },
    epochs: { type: 'int', default: 2, help: 'training epochs of the backdoored model' },
    'train-images': { type: 'int', default: 6000, help: 'training images used (at most the split)' },
    'eval-images': { type: 'int', default: 1000, help: 'test images used for accuracy and ASR' },
    outer: { type: 'int', help: 'AWM rounds (default 20)' },
    seed: { type: 'int', default: 1, help: 'seed for every random choice' },
    ...backendFlags,
  },
  run: runDemo,
};

function firstN(ds: ImageDataset, n: number, seed: number): ImageDataset {
  if (n >= ds.n) return ds;
  // A class-balanced prefix keeps the demo's numbers comparable between the full set and the subset.
  const perClass = Math.floor(n / ds.numClasses);
  return subset(ds, perClassSample(ds, Math.min(perClass, Math.min(...countPerClass(ds))), seed));
}

function countPerClass(ds: ImageDataset): number[] {
  const c = new Array<number>(ds.numClasses).fill(0);
  for (let i = 0; i < ds.n; i++) c[ds.labels[i]!]!++;
  return c;
}

/** The goal this project holds a defense to: ASR at most 5 % with at most 8 points of clean accuracy lost. */
const GOAL = { asr: 0.05, accuracyLoss: 0.08 };

/** What the demo's result means, in words, against the goal. */
export function demoVerdict(before: { cleanAccuracy: number; asr: number }, after: { cleanAccuracy: number; asr: number }, modelPath: string): string[] {
  const lost = before.cleanAccuracy - after.cleanAccuracy;
  const points = (100 * lost).toFixed(1);
  // 1e-9: accuracies are ratios of counts, so "exactly 8 points" must not fail by rounding.
  if (after.asr <= GOAL.asr && lost <= GOAL.accuracyLoss + 1e-9) return [`The backdoor is erased: ASR at most 5 % with ${points} points of clean accuracy lost (the goal allows 8).`];
  if (after.asr <= GOAL.asr) return [`The backdoor is erased, but at ${points} points of clean accuracy (over the 8 the goal allows).`];
  return [
    'The backdoor is weakened, not erased (ASR above 5 %). From one image per class the faithful AWM\'s trigger search',
    'often misses a patch on this small CNN (docs/defenses.md, "The small CNNs", give what is left over seeds and attacks).',
    `One round step by step, and whether its trigger found the patch: npm run awm -- explain --model ${modelPath} --seed S`,
  ];
}

/**
 * The test images the summary picture shows: the first image of each class other than the target, in class order,
 * at most `count` (so the picture shows the same images on every run with the same data).
 */
export function summaryExampleIndices(ds: Pick<ImageDataset, 'labels' | 'n' | 'numClasses'>, target: number, count: number): number[] {
  const first = new Map<number, number>();
  for (let i = 0; i < ds.n; i++) {
    const y = ds.labels[i]!;
    if (y !== target && !first.has(y)) first.set(y, i);
  }
  return [...first].sort((a, b) => a[0] - b[0]).slice(0, count).map(([, i]) => i);
}

/** What the attack's trigger adds to a flat mid-grey image: the true trigger, drawn as the recovered ones are. */
export function trueTriggerDelta(attack: AttackSpec, shape: { c: number; h: number; w: number }): Float32Array {
  const grey = new Float32Array(shape.c * shape.h * shape.w).fill(0.5);
  const marked = applyTrigger(attack, grey, shape);
  return marked.map((v) => v - 0.5);
}

async function runDemo(flags: ParsedFlags, io: CommandIO): Promise<void> {
  const t0 = performance.now();
  const seed = flags.seed as number;
  const outDir = resolve(String(flags.out));
  const dataDir = (flags['data-dir'] as string | undefined) ?? fashionMnistDir();
  io.log('== webgpu-awm demo: erase a backdoor with one clean image per class ==');
  const backend = await openBackend(flags, io);
  const trainAll = await loadDataset('fashion-mnist', dataDir, 'train');
  const testAll = await loadDataset('fashion-mnist', dataDir, 'test');
  io.log(`data: Fashion-MNIST from ${dataDir} (${trainAll.n} training, ${testAll.n} test images)`);

  // The clean images AWM may use come from the test split and are left out of evaluation.
  const cleanIdx = perClassSample(testAll, 1, seed);
  const taken = new Set(cleanIdx);
  const rest = subset(testAll, Array.from({ length: testAll.n }, (_, i) => i).filter((i) => !taken.has(i)));
  const test = firstN(rest, flags['eval-images'] as number, seed);
  const train = firstN(trainAll, flags['train-images'] as number, seed);

  const attack = attackPreset('badnets');
  const target = fixedTarget(attack.backdoors[0]!.label) ?? 0;
  const className = (k: number) => testAll.classNames?.[k] ?? String(k);
  const attackWords = `3x3 white patch at the bottom right -> class ${target} "${className(target)}"`;
  io.log(`\n1. Backdoor: a small CNN trained on ${train.n} images, 10 % poisoned with BadNets (${attackWords})`);
  const epochDone = epochProgress(io);
  const trained = await trainBackdoored({
    backend, train, test, attack,
    model: { arch: 'small-cnn', inChannels: 1, numClasses: 10, inputSize: 28 },
    training: { epochs: flags.epochs as number, lr: 0.05, batchSize: 64, seed, schedule: 'cosine' },
    onEpoch: (s) => epochDone(s, `   epoch ${s.epoch}/${s.epochs}: loss ${s.loss.toFixed(4)}, train accuracy ${percent(s.trainAccuracy)}, ${Math.round(s.imagesPerSecond)} images/s`),
  });
  const model = trained.model;
  mkdirSync(outDir, { recursive: true });
  await writeFileAtomic(join(outDir, 'backdoored.safetensors'), await saveModel(model, { attack: serializeAttackSpec(attack), dataset: 'fashion-mnist' }));

  const method = flags.method as DefenseMethod;
  const shape = { c: test.c, h: test.h, w: test.w };
  const evaluation: PurifyEvaluation = { testSet: test, attack };
  const shown = summaryExampleIndices(test, target, 6);
  const shownImages = applyTrigger(attack, gatherFloatImages(test, shown), shape);
  const answers = () => predictClasses(model, backend, shownImages, [shown.length, shape.c, shape.h, shape.w]);
  io.log(`\n2. The backdoored model on ${test.n} test images:`);
  // Measured by trainBackdoored on the same test images, with the same attack.
  const measured = trained.metrics;
  io.log(`   clean accuracy  ${percent(measured.cleanAccuracy)}   (clean images classified as their class)`);
  io.log(`   attack success  ${percent(measured.asr)}   (triggered images of other classes classified as class ${target})`);
  const answersBefore = await answers();

  const clean = cleanSetFromDataset(testAll, cleanIdx);
  const methodName = method === 'awm' ? 'one-shot AWM' : 'AWM+';
  io.log(`\n3. ${method === 'awm' ? 'One-shot AWM (the official one-shot preset)' : 'AWM+ (this project\'s one-shot variant)'} with ${clean.n} clean images, one per class:`);
  const outer = flags.outer as number | undefined;
  const { report, outcome } = await purifyModel(backend, model, clean, {
    method, seed,
    awm: outer !== undefined ? { outer } : {},
    awmPlus: outer !== undefined ? { outer } : {},
  }, {
    // purifyModel measures the model before the defense again; those figures are printed under 2 already.
    log: (l) => {
      if (!l.startsWith('before: clean accuracy')) io.log(`   ${l}`);
    },
    progress: (p) => reportProgress(io, { ...p, line: `   ${p.line}` }),
  }, evaluation);
  const before = report.before!;
  const after = report.after!;
  if (before.cleanAccuracy !== measured.cleanAccuracy || before.asr !== measured.asr) {
    io.warn(`   warning: the defense's own measurement before it ran (clean accuracy ${percent(before.cleanAccuracy)}, ASR ${percent(before.asr)}) differs from section 2's; the report uses its own`);
  }
  const answersAfter = await answers();

  const rounds = outcome.triggers?.length ?? 0;
  const onPatch = report.triggerOnAttack?.perRound[rounds - 1];
  const summary: SummaryInput = {
    title: `A BadNets backdoor before and after ${methodName}`,
    subtitles: [
      `small CNN trained on ${train.n} Fashion-MNIST images, 10 % poisoned: ${attackWords}`,
      `${methodName} used ${clean.n} clean images (one per class) and never saw the trigger; rates on ${test.n} other test images`,
    ],
    shape,
    classNames: testAll.classNames,
    target,
    examples: shown.map((_, k) => ({
      image: shownImages.subarray(k * shape.c * shape.h * shape.w, (k + 1) * shape.c * shape.h * shape.w),
      label: test.labels[shown[k]!]!,
      before: answersBefore[k]!,
      after: answersAfter[k]!,
    })),
    trueTrigger: trueTriggerDelta(attack, shape),
    recovered: rounds ? { delta: outcome.triggers![rounds - 1]!, caption: `recovered, round ${rounds}${onPatch === undefined ? '' : `: ${(100 * onPatch).toFixed(1)} % on the patch`}` } : undefined,
    before, after,
    evaluationImages: test.n,
  };
  const pictures = reportPictures(report, outcome, shape, { encode: encodePngCompressed, summary });
  const files: Array<[string, Uint8Array | string]> = [
    [join(outDir, 'purified.safetensors'), await saveModel(model, { attack: serializeAttackSpec(attack), dataset: 'fashion-mnist', purified_by: method })],
    [join(outDir, 'report.json'), JSON.stringify(report, null, 2) + '\n'],
    ...pictures.map(([name, png]): [string, Uint8Array] => [join(outDir, name), png]),
    [join(outDir, 'report.md'), reportMarkdown(report, pictureLinks(pictures))],
  ];
  for (const [path, bytes] of files) await writeFileAtomic(path, bytes);
  io.log(`\n4. Written to ${outDir}/:`);
  io.log('   backdoored.safetensors, purified.safetensors, report.md, report.json');
  io.log(`   pictures: ${pictures.map(([name]) => name).join(', ')}${pictures.some(([name]) => name === PICTURE_FILES.summary) ? ` (${PICTURE_FILES.summary}: the whole run at a glance)` : ''}`);

  const verdict = demoVerdict(before, after, join(outDir, 'backdoored.safetensors'));
  const seconds = (performance.now() - t0) / 1000;
  emitResult(io, [
    `\n== Before and after ${methodName} (${test.n} test images) ==`,
    `                   before    after`,
    `   clean accuracy  ${percent(before.cleanAccuracy).padStart(7)}   ${percent(after.cleanAccuracy).padStart(7)}`,
    `   attack success  ${percent(before.asr).padStart(7)}   ${percent(after.asr).padStart(7)}   (triggered images of other classes classified as class ${target})`,
    ...verdict.map((line) => `   ${line}`),
    `   total time ${seconds.toFixed(0)} s on ${backend.info.description}`,
  ], { method, target, before, after, verdict, evaluationImages: test.n, written: files.map(([path]) => path), seconds, backend: backend.info.description });
}
