/**
 * `awm demo` (`npm run demo`): the whole story on real Fashion-MNIST data in a few minutes.
 * 1. A backdoored model: a small CNN trained on the spot with BadNets poisoning (3x3 white patch,
 *    target 0, 10 % of the training images).
 * 2. Its clean accuracy and attack success rate on the test images.
 * 3. One-shot AWM: one clean image per class.
 * 4. Clean accuracy and ASR after, the report (JSON + Markdown) and the pictures, in demo-output/.
 * The full data set is used when Debian's dataset-fashion-mnist is installed; otherwise the small
 * subset shipped in data/fashion-mnist-subset. Without a WebGPU adapter it runs on the CPU.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadDataset } from '../data/node.js';
import { perClassSample, subset, type ImageDataset } from '../data/dataset.js';
import { attackPreset, serializeAttackSpec } from '../attacks/index.js';
import { trainBackdoored } from '../attacks/train-poisoned.js';
import { cleanSetFromDataset } from '../awm/clean-set.js';
import { purifyModel } from '../awm/purify.js';
import type { DefenseMethod } from '../awm/defense.js';
import { reportMarkdown } from '../awm/report.js';
import { histogramGrid, tileImages, triggerToRgb } from '../awm/pictures.js';
import { saveModel } from '../nn/model-file.js';
import { writeFileAtomic } from '../io/atomic-write.node.js';
import { encodePngCompressed } from '../io/png.node.js';
import type { ParsedFlags } from './args.js';
import type { Command, CommandIO } from './command.js';
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
    'often misses a patch on this small CNN (the README\'s small-CNN defense tables give what is left over seeds and attacks).',
    `One round step by step, and whether its trigger found the patch: npm run awm -- explain --model ${modelPath} --seed S`,
  ];
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
  io.log(`\n1. Backdoor: a small CNN trained on ${train.n} images, 10 % poisoned with BadNets (3x3 white patch at the bottom right -> class 0 "${testAll.classNames?.[0] ?? '0'}")`);
  const trained = await trainBackdoored({
    backend, train, test, attack,
    model: { arch: 'small-cnn', inChannels: 1, numClasses: 10, inputSize: 28 },
    training: { epochs: flags.epochs as number, lr: 0.05, batchSize: 64, seed, schedule: 'cosine' },
    onEpoch: (s) => io.log(`   epoch ${s.epoch}/${s.epochs}: loss ${s.loss.toFixed(4)}, train accuracy ${percent(s.trainAccuracy)}, ${Math.round(s.imagesPerSecond)} images/s`),
  });
  const model = trained.model;
  mkdirSync(outDir, { recursive: true });
  await writeFileAtomic(join(outDir, 'backdoored.safetensors'), await saveModel(model, { attack: serializeAttackSpec(attack), dataset: 'fashion-mnist' }));

  const method = flags.method as DefenseMethod;
  io.log(`\n2. The backdoored model on ${test.n} test images:`);
  const clean = cleanSetFromDataset(testAll, cleanIdx);
  io.log(`\n3. ${method === 'awm' ? 'One-shot AWM (the official one-shot preset)' : 'AWM+ (this project\'s one-shot variant)'} with ${clean.n} clean images, one per class:`);
  const outer = flags.outer as number | undefined;
  const { report, outcome } = await purifyModel(backend, model, clean, {
    method, seed,
    awm: outer !== undefined ? { outer } : {},
    awmPlus: outer !== undefined ? { outer } : {},
  }, { log: (l) => io.log(`   ${l}`) }, { testSet: test, attack });

  const before = report.before!;
  const after = report.after!;
  io.log('\n4. Result:');
  io.log(`   clean accuracy  ${percent(before.cleanAccuracy)} -> ${percent(after.cleanAccuracy)}`);
  io.log(`   attack success  ${percent(before.asr)} -> ${percent(after.asr)}   (triggered images of other classes classified as class 0)`);
  for (const line of demoVerdict(before, after, join(outDir, 'backdoored.safetensors'))) io.log(`   ${line}`);
  const files: Array<[string, Uint8Array | string]> = [
    [join(outDir, 'purified.safetensors'), await saveModel(model, { attack: serializeAttackSpec(attack), dataset: 'fashion-mnist', purified_by: method })],
    [join(outDir, 'report.json'), JSON.stringify(report, null, 2) + '\n'],
  ];
  const pics: { triggers?: string; masks?: string } = {};
  if (outcome.triggers?.length) {
    files.push([join(outDir, 'triggers.png'), encodePngCompressed(tileImages(outcome.triggers.map((t) => triggerToRgb(t, 1, 28, 28)), 28, 28, { perRow: 10, zoom: 3 }))]);
    pics.triggers = 'triggers.png';
  }
  if (report.maskStats?.length) {
    files.push([join(outDir, 'masks.png'), encodePngCompressed(histogramGrid(report.maskStats.map((m) => m.histogram)))]);
    pics.masks = 'masks.png';
  }
  files.push([join(outDir, 'report.md'), reportMarkdown(report, pics)]);
  for (const [path, bytes] of files) await writeFileAtomic(path, bytes);
  io.log(`\n   wrote ${outDir}/{backdoored,purified}.safetensors, report.md, report.json${pics.triggers ? ', triggers.png' : ''}${pics.masks ? ', masks.png' : ''}`);
  io.log(`   total time ${((performance.now() - t0) / 1000).toFixed(0)} s on ${backend.info.description}`);
}
