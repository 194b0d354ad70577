/**
 * What several `awm` commands share: the backend and dataset flags, typed access to parsed flags,
 * loading a dataset split with errors that say which flag to fix, and the model/data fit check.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError, type FlagSpecs, type ParsedFlags } from './args.js';
import type { CommandIO } from './command.js';
import { createBackend, WebGpuBackend, type BackendChoice } from '../backends/index.js';
import { describeAdapter } from '../device/gpu.js';
import type { Backend } from '../tensor/backend.js';
import type { ImageDataset, Split } from '../data/dataset.js';
import { loadDataset, type DatasetName, type LoadDatasetOptions } from '../data/node.js';
import type { ModelSpec } from '../nn/spec.js';
import { readModel } from '../nn/model-file.node.js';
import { parseSafetensors } from '../io/safetensors.js';
import type { LoadedModel } from '../nn/model-file.js';

export const DATASETS = ['fashion-mnist', 'mnist', 'cifar10', 'gtsrb', 'folder'] as const satisfies readonly DatasetName[];
export const BACKENDS = ['auto', 'webgpu', 'cpu'] as const satisfies readonly BackendChoice[];

/** Where Debian's dataset packages put each set; a folder dataset has no standard home. */
export const DEFAULT_DATA_DIRS: Readonly<Record<DatasetName, string | undefined>> = {
  'fashion-mnist': '/usr/share/datasets/fashion-mnist',
  mnist: '/usr/share/datasets/mnist',
  cifar10: '/usr/share/datasets/cifar10',
  gtsrb: '/usr/share/datasets/gtsrb',
  folder: undefined,
};

export const backendFlags: FlagSpecs = {
  backend: { type: 'string', choices: BACKENDS, default: 'auto', help: 'compute backend; auto uses WebGPU when an adapter exists, else the CPU' },
};

/** `dataset` may be left optional by a command that can take it from elsewhere (a model's metadata). */
export function datasetFlags(datasetRequired: boolean): FlagSpecs {
  return {
    dataset: { type: 'string', choices: DATASETS, required: datasetRequired, help: 'dataset to load' },
    'data-dir': { type: 'string', help: 'dataset folder (default /usr/share/datasets/<dataset>; required for folder)' },
    'image-size': { type: 'int', help: 'gtsrb and folder: images are resized to this square side (default 32)' },
    channels: { type: 'int', help: 'folder: 1 (gray) or 3 (RGB) (default 3)' },
  };
}

export function stringFlag(flags: ParsedFlags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}

export function numberFlag(flags: ParsedFlags, name: string): number | undefined {
  const v = flags[name];
  return typeof v === 'number' ? v : undefined;
}

/** A flag that must be an integer >= min when given. */
export function intAtLeast(flags: ParsedFlags, name: string, min: number): number | undefined {
  const v = numberFlag(flags, name);
  if (v !== undefined && v < min) throw new UsageError(`--${name} must be at least ${min}, got ${v}`);
  return v;
}

export function positiveNumber(flags: ParsedFlags, name: string): number | undefined {
  const v = numberFlag(flags, name);
  if (v !== undefined && !(v > 0)) throw new UsageError(`--${name} must be positive, got ${v}`);
  return v;
}

export function isDatasetName(name: string): name is DatasetName {
  return (DATASETS as readonly string[]).includes(name);
}

/** Creates the backend and prints one line naming it (the adapter and its limits for WebGPU). */
export async function openBackend(flags: ParsedFlags, io: CommandIO): Promise<Backend> {
  const choice = (stringFlag(flags, 'backend') ?? 'auto') as BackendChoice;
  const backend = await createBackend(choice, { onFallback: (m) => io.warn(m) });
  io.log(`backend: ${backendLine(backend)}`);
  return backend;
}

export function backendLine(backend: Backend): string {
  return backend instanceof WebGpuBackend ? `webgpu, ${describeAdapter(backend.handle.report)}` : backend.info.description;
}

export interface DataSource {
  name: DatasetName;
  dir: string;
  options: LoadDatasetOptions;
}

/** Image geometry to fall back on when the flags leave it open (e.g. what a model was trained on). */
export interface GeometryDefaults {
  size?: number;
  channels?: number;
}

/** The dataset, folder and loader options the flags ask for, checked before anything is read. */
export function dataSource(flags: ParsedFlags, name: DatasetName, defaults: GeometryDefaults = {}): DataSource {
  const dir = stringFlag(flags, 'data-dir') ?? DEFAULT_DATA_DIRS[name];
  if (dir === undefined) throw new UsageError(`--data-dir is required for --dataset ${name}`);
  if (!existsSync(dir)) throw new Error(`data directory ${dir} does not exist (pass --data-dir)`);
  if (!statSync(dir).isDirectory()) throw new Error(`data directory ${dir} is not a directory`);
  const size = intAtLeast(flags, 'image-size', 4) ?? defaults.size ?? 32;
  const channels = numberFlag(flags, 'channels') ?? defaults.channels ?? 3;
  if (channels !== 1 && channels !== 3) throw new UsageError(`--channels must be 1 or 3, got ${channels}`);
  return { name, dir, options: { gtsrb: { size }, folder: { size, channels } } };
}

export async function loadSplit(source: DataSource, split: Split): Promise<ImageDataset> {
  try {
    return await loadDataset(source.name, source.dir, split, source.options);
  } catch (e) {
    throw new Error(`cannot load the ${split} split of ${source.name} from ${source.dir}: ${(e as Error).message}`);
  }
}

export function describeDataset(ds: ImageDataset): string {
  return `${ds.n} images, ${ds.c}x${ds.h}x${ds.w}, ${ds.numClasses} classes`;
}

/** Throws when the model cannot take the dataset's images or predict all of its labels. */
export function assertModelFitsData(spec: ModelSpec, ds: ImageDataset, what: string): void {
  if (spec.inChannels !== ds.c) {
    throw new Error(`${what} takes ${spec.inChannels}-channel images but the dataset has ${ds.c} channel${ds.c === 1 ? '' : 's'}`);
  }
  if (spec.numClasses < ds.numClasses) {
    throw new Error(`${what} predicts ${spec.numClasses} classes but the dataset has ${ds.numClasses}`);
  }
  if (spec.arch === 'small-cnn' && (spec.inputSize !== ds.h || spec.inputSize !== ds.w)) {
    throw new Error(`${what} (small-cnn) is built for ${spec.inputSize}x${spec.inputSize} images but the dataset's are ${ds.h}x${ds.w}`);
  }
}

export function percent(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

/** Loads a model file; every failure names the file (missing, not safetensors, unknown architecture). */
export async function openModel(backend: Backend, path: string): Promise<LoadedModel> {
  return namingModelFile(path, () => readModel(backend, path));
}

/** The model file's metadata, read without a backend, so what depends on it is checked before any device starts. */
export async function readModelMetadata(path: string): Promise<Record<string, string>> {
  return namingModelFile(path, async () => parseSafetensors(new Uint8Array(await readFile(path)), path).metadata);
}

async function namingModelFile<T>(path: string, read: () => Promise<T>): Promise<T> {
  if (!existsSync(path)) throw new Error(`model file ${path} does not exist`);
  if (statSync(path).isDirectory()) throw new Error(`model file ${path} is a folder`);
  try {
    return await read();
  } catch (e) {
    const message = (e as Error).message;
    throw new Error(message.includes(path) ? message : `${path}: ${message}`);
  }
}

/**
 * A file or folder shipped with the package (data/..., web/demo-assets/...), found from this module's
 * place whether it runs bundled (dist/awm.mjs) or from src/cli.
 */
export function shippedFile(relative: string, missing: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, relative);
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error(missing);
}

/** Fashion-MNIST: Debian's full set when installed, else the subset shipped in data/fashion-mnist-subset. */
export function fashionMnistDir(): string {
  const full = DEFAULT_DATA_DIRS['fashion-mnist']!;
  return existsSync(full) ? full : shippedFile(join('data', 'fashion-mnist-subset'), 'the shipped Fashion-MNIST subset (data/fashion-mnist-subset) was not found; pass --data-dir');
}
