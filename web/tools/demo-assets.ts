/**
 * Makes the page's built-in demo (run through web/make-demo-assets.mjs, on the CPU backend so it
 * needs no GPU and gives the same bytes everywhere): a small-cnn trained with the BadNets preset on
 * the Fashion-MNIST subset in data/, and a few images from its test split that the model never saw
 * in training: 2 per class as the defender's clean set, 20 per class to measure accuracy and ASR.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CpuBackend } from '../../src/backends/cpu/index.js';
import { loadIdxDataset } from '../../src/data/idx.node.js';
import { FASHION_MNIST_CLASS_NAMES } from '../../src/data/idx.js';
import { perClassSample, subset, type ImageDataset } from '../../src/data/dataset.js';
import { attackPreset, attackToMetadata } from '../../src/attacks/index.js';
import { trainBackdoored } from '../../src/attacks/train-poisoned.js';
import { saveModel } from '../../src/nn/model-file.js';
import { serializeSafetensors } from '../../src/io/safetensors.js';
import { DEMO_CLEAN_PER_CLASS, DEMO_EVAL_PER_CLASS, DEMO_IMAGE_KEYS, DEMO_MODEL_SPEC } from '../src/demo-spec.js';

const dataDir = process.argv[2] ?? 'data/fashion-mnist-subset';
const outDir = process.argv[3] ?? 'web/demo-assets';
const SEED = 7;
const EPOCHS = 4;

function splitPerClass(test: ImageDataset): { clean: ImageDataset; evaluation: ImageDataset } {
  const per = DEMO_CLEAN_PER_CLASS + DEMO_EVAL_PER_CLASS;
  const picked = perClassSample(test, per, SEED);
  const clean: number[] = [];
  const evaluation: number[] = [];
  picked.forEach((index, k) => (k % per < DEMO_CLEAN_PER_CLASS ? clean : evaluation).push(index));
  return { clean: subset(test, clean), evaluation: subset(test, evaluation) };
}

async function main(): Promise<void> {
  const backend = new CpuBackend({ precision: 'float32' });
  const classNames = FASHION_MNIST_CLASS_NAMES;
  const train = loadIdxDataset(dataDir, 'train', { classNames });
  const test = loadIdxDataset(dataDir, 'test', { classNames });
  const attack = attackPreset('badnets');
  const t0 = performance.now();
  const result = await trainBackdoored({
    backend, train, test, attack, model: DEMO_MODEL_SPEC,
    training: { epochs: EPOCHS, lr: 0.05, batchSize: 128, seed: SEED },
    onEpoch: (s) => console.log(`epoch ${s.epoch}/${s.epochs}: loss ${s.loss.toFixed(4)}, train accuracy ${(100 * s.trainAccuracy).toFixed(1)} %`),
  });
  const m = result.metrics;
  console.log(`trained in ${((performance.now() - t0) / 1000).toFixed(1)} s; test (${m.n} images): clean accuracy ${(100 * m.cleanAccuracy).toFixed(2)} %, ASR ${(100 * m.asr).toFixed(2)} %`);

  mkdirSync(outDir, { recursive: true });
  const modelBytes = await saveModel(result.model, { ...attackToMetadata(attack), description: 'webgpu-awm demo: small-cnn, BadNets on a Fashion-MNIST subset' });
  writeFileSync(join(outDir, 'model.safetensors'), modelBytes);

  const { clean, evaluation } = splitPerClass(test);
  const shape = (d: ImageDataset) => [d.n, d.c, d.h, d.w];
  const images = serializeSafetensors({
    [DEMO_IMAGE_KEYS.cleanImages]: { shape: shape(clean), data: clean.images },
    [DEMO_IMAGE_KEYS.cleanLabels]: { shape: [clean.n], data: clean.labels },
    [DEMO_IMAGE_KEYS.evalImages]: { shape: shape(evaluation), data: evaluation.images },
    [DEMO_IMAGE_KEYS.evalLabels]: { shape: [evaluation.n], data: evaluation.labels },
  }, { class_names: JSON.stringify(classNames), source: 'Fashion-MNIST test split (data/fashion-mnist-subset), never used in training' });
  writeFileSync(join(outDir, 'images.safetensors'), images);
  console.log(`wrote ${outDir}/model.safetensors (${modelBytes.length} bytes) and images.safetensors (${clean.n} clean, ${evaluation.n} evaluation images, ${images.length} bytes)`);
  result.model.dispose();
}

await main();
