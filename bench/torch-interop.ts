/**
 * PyTorch interoperability check, our half (`npm run bench torch-interop [-- flags]`; needs nothing
 * but Node; the other half, bench/torch_interop.py, needs PyTorch and is run after it):
 * for each architecture we build (resnet18, preact-resnet18, small-cnn) a seeded model takes one
 * train-mode forward (so the BatchNorm running statistics and num_batches_tracked are not their
 * initial values) and is written with the project's own writer; beside it, `<name>.io.safetensors`
 * holds a fixed input and our logits for it in eval mode and then in train mode. `--extra` adds model
 * files written elsewhere (e.g. by `awm purify`, masks folded in): only their logits are computed.
 * bench/torch_interop.py then loads every model with load_state_dict(strict=True) and compares.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseFlags } from '../src/cli/args.js';
import { backendLine } from '../src/cli/common.js';
import { createBackend, type BackendChoice } from '../src/backends/index.js';
import type { Backend } from '../src/tensor/backend.js';
import { tidy } from '../src/tensor/scope.js';
import { noGrad } from '../src/autograd/engine.js';
import * as ops from '../src/ops/index.js';
import { Rng } from '../src/data/rng.js';
import { createModel, type ModelSpecInput } from '../src/nn/index.js';
import type { Classifier } from '../src/nn/classifier.js';
import { saveModel } from '../src/nn/model-file.js';
import { readModel } from '../src/nn/model-file.node.js';
import { serializeSafetensors } from '../src/io/safetensors.js';

const FLAGS = {
  'out-dir': { type: 'string', default: 'dist/torch-interop', help: 'where the models and their logits go' },
  backend: { type: 'string', choices: ['webgpu', 'cpu', 'auto'], default: 'cpu', help: 'compute backend for the logits' },
  extra: { type: 'string', default: '', help: 'comma-separated model files (any writer of ours) to add, logits only' },
  batch: { type: 'int', default: 4, help: 'images in the fixed input' },
} as const;

const MODELS: Array<{ name: string; spec: ModelSpecInput }> = [
  { name: 'resnet18_w8_rgb', spec: { arch: 'resnet18', inChannels: 3, numClasses: 10, width: 8 } },
  { name: 'preact_resnet18_w8_rgb', spec: { arch: 'preact-resnet18', inChannels: 3, numClasses: 10, width: 8 } },
  { name: 'small_cnn_w16_gray28', spec: { arch: 'small-cnn', inChannels: 1, numClasses: 10, width: 16, inputSize: 28 } },
];

function uniformInput(n: number, c: number, hw: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n * c * hw * hw }, () => rng.uniform());
}

async function logitsOf(model: Classifier, backend: Backend, x: Float32Array, shape: [number, number, number, number], train: boolean): Promise<Float32Array> {
  train ? model.train() : model.eval();
  const out = tidy(() => noGrad(() => model.forward(ops.tensor(backend, x, shape))));
  const data = Float32Array.from(await out.data());
  out.dispose();
  model.eval();
  return data;
}

/** Eval logits, then train-mode logits (which also update the running statistics, as in PyTorch). */
async function writeIo(dir: string, name: string, model: Classifier, backend: Backend, batch: number, seed: number): Promise<void> {
  const { inChannels: c, inputSize } = model.spec;
  const hw = inputSize ?? 32;
  const shape: [number, number, number, number] = [batch, c, hw, hw];
  const input = uniformInput(batch, c, hw, seed);
  const evalLogits = await logitsOf(model, backend, input, shape, false);
  const trainLogits = await logitsOf(model, backend, input, shape, true);
  const k = model.spec.numClasses;
  const bytes = serializeSafetensors({
    input: { shape, data: input },
    logits_eval: { shape: [batch, k], data: evalLogits },
    logits_train: { shape: [batch, k], data: trainLogits },
  }, { model: `${name}.safetensors` });
  writeFileSync(join(dir, `${name}.io.safetensors`), bytes);
}

const flags = parseFlags(process.argv.slice(2), FLAGS);
const dir = flags['out-dir'] as string;
mkdirSync(dir, { recursive: true });
const backend = await createBackend(flags.backend as BackendChoice);
console.log(backendLine(backend));
const written: string[] = [];
for (const [i, m] of MODELS.entries()) {
  const model = createModel(backend, m.spec, { seed: 10 + i });
  try {
    // One train-mode forward moves the running statistics off their initial values.
    await logitsOf(model, backend, uniformInput(8, model.spec.inChannels, model.spec.inputSize ?? 32, 100 + i), [8, model.spec.inChannels, model.spec.inputSize ?? 32, model.spec.inputSize ?? 32], true);
    writeFileSync(join(dir, `${m.name}.safetensors`), await saveModel(model));
    await writeIo(dir, m.name, model, backend, flags.batch as number, 200 + i);
    written.push(m.name);
  } finally {
    model.dispose();
  }
}
for (const path of (flags.extra as string).split(',').filter(Boolean)) {
  const name = basename(path).replace(/\.safetensors$/, '');
  const { model } = await readModel(backend, path, { source: path });
  try {
    writeFileSync(join(dir, `${name}.safetensors`), readFileSync(path));
    await writeIo(dir, name, model, backend, flags.batch as number, 300);
    written.push(name);
  } finally {
    model.dispose();
  }
}
console.log(`wrote ${written.length} models and their logits to ${dir}: ${written.join(', ')}`);
console.log(`next: python3 bench/torch_interop.py ${dir}`);
