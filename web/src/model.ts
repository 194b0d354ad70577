/**
 * Opening a model file in the page: a file that is not safetensors, or safetensors that is not a
 * classifier this engine builds, becomes a PageError that says so in plain words.
 */
import type { Backend } from '../../src/tensor/backend.js';
import { parseSafetensors } from '../../src/io/safetensors.js';
import { loadModelFile, type LoadedModel } from '../../src/nn/model-file.js';
import { ArchitectureError } from '../../src/nn/infer.js';
import { StateDictError } from '../../src/nn/state-dict.js';
import { attackFromMetadata, type AttackSpec } from '../../src/attacks/index.js';
import { PageError } from './errors.js';

export interface OpenedModel extends LoadedModel {
  /** The attack the file records (models made by `awm attack` carry it), or null. */
  attack: AttackSpec | null;
  /** Why the recorded attack could not be used, when it could not. */
  attackProblem?: string;
}

export function openModel(backend: Backend, bytes: Uint8Array, source: string): OpenedModel {
  try {
    parseSafetensors(bytes, source);
  } catch (e) {
    throw new PageError('not-a-model', `${source} is not a model file`,
      `The page reads PyTorch-style state dicts saved as .safetensors (safetensors.torch.save_file, or the models this project writes). Reading it failed: ${(e as Error).message}`);
  }
  let loaded: LoadedModel;
  try {
    loaded = loadModelFile(backend, bytes, { source });
  } catch (e) {
    if (e instanceof ArchitectureError || e instanceof StateDictError) {
      throw new PageError('shapes', `The shapes in ${source} do not fit a model this page knows`,
        `${e.message}\nKnown architectures: small-cnn, resnet18 and preact-resnet18 (CIFAR-style, 3x3 stem).`);
    }
    throw e;
  }
  try {
    return { ...loaded, attack: attackFromMetadata(loaded.metadata) };
  } catch (e) {
    return { ...loaded, attack: null, attackProblem: (e as Error).message };
  }
}

/** One line about the model for the page. */
export function describeModel(m: LoadedModel): string {
  const s = m.spec;
  const size = s.inputSize ? `, ${s.inputSize}x${s.inputSize} inputs` : '';
  return `${s.arch} (width ${s.width}, ${s.inChannels} channel(s)${size}, ${s.numClasses} classes)`;
}
