#!/usr/bin/env node
// Evaluates a model with webgpu-awm's public API in Node: by default the browser page's BadNets small CNN
// (web/demo-assets/model.safetensors) on the Fashion-MNIST test subset that ships with the package
// (data/fashion-mnist-subset). It prints the clean accuracy and, when the model's file names its attack, the
// attack success rate (ASR).
// Usage: node node-eval.mjs [--webgpu] [MODEL.safetensors] [IDX_FOLDER]
//   --webgpu  run on WebGPU (Dawn, the optional `webgpu` package), falling back to the CPU with a notice
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { attacks, createBackend, data, evaluateClassifier, evaluateModel, io, nn } from 'webgpu-awm';

const args = process.argv.slice(2);
const useWebGpu = args.includes('--webgpu');
const [modelArg, dataArg, ...extra] = args.filter((a) => a !== '--webgpu');
if (extra.length || [modelArg, dataArg].some((a) => a?.startsWith('-'))) {
  console.error('usage: node node-eval.mjs [--webgpu] [MODEL.safetensors] [IDX_FOLDER]');
  process.exit(2);
}

// The files the package ships lie beside its package.json.
const packageRoot = dirname(fileURLToPath(import.meta.resolve('webgpu-awm/package.json')));
const modelPath = modelArg ?? join(packageRoot, 'web', 'demo-assets', 'model.safetensors');
const dataDir = dataArg ?? join(packageRoot, 'data', 'fashion-mnist-subset');

async function bytesOf(path) {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw new Error(`cannot read ${path}: ${e.message}`);
  }
}

/** One IDX file, gzipped or not (`io.maybeGunzip` uses the DecompressionStream that Node and browsers share). */
async function idxFile(name) {
  for (const file of [`${name}.gz`, name]) {
    const bytes = await bytesOf(join(dataDir, file)).catch(() => null);
    if (bytes) return io.maybeGunzip(bytes);
  }
  throw new Error(`${dataDir} holds neither ${name}.gz nor ${name}`);
}

const backend = await createBackend(useWebGpu ? 'auto' : 'cpu');
const { model, spec, metadata } = nn.loadModelFile(backend, await bytesOf(modelPath), { source: modelPath });
try {
  const test = data.idxDataset(await idxFile('t10k-images-idx3-ubyte'), await idxFile('t10k-labels-idx1-ubyte'), {
    imagesSource: join(dataDir, 't10k-images-idx3-ubyte'),
    labelsSource: join(dataDir, 't10k-labels-idx1-ubyte'),
    classNames: [...data.FASHION_MNIST_CLASS_NAMES],
  });
  console.log(`model: ${modelPath} (${spec.arch}, width ${spec.width}, ${spec.numClasses} classes) on ${backend.info.name} (${backend.info.description})`);
  console.log(`data: ${test.n} test images of ${test.c}x${test.h}x${test.w} from ${dataDir}`);
  const { accuracy } = await evaluateClassifier(model, backend, test);
  console.log(`clean accuracy: ${(100 * accuracy).toFixed(2)} %`);
  const attack = attacks.attackFromMetadata(metadata);
  if (attack) {
    const m = await evaluateModel(model, backend, { testSet: test, attack });
    console.log(`attack: ${attacks.describeAttack(attack)}`);
    console.log(`attack success rate: ${(100 * m.asr).toFixed(2)} % of the non-target test images`);
  }
} finally {
  model.dispose();
}
