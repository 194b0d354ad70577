/** Whether a set of images fits a model: channels, size and classes, with the reason when not. */
import type { ImageDataset } from '../../src/data/dataset.js';
import type { ModelSpec } from '../../src/nn/spec.js';
import { PageError } from './errors.js';

export function misfit(spec: ModelSpec, ds: ImageDataset): { kind: 'shapes' | 'image-size'; reason: string } | null {
  if (ds.c !== spec.inChannels) return { kind: 'shapes', reason: `the images have ${ds.c} channel(s) but the model takes ${spec.inChannels}` };
  if (spec.inputSize !== undefined && (ds.h !== spec.inputSize || ds.w !== spec.inputSize)) {
    return { kind: 'image-size', reason: `the images are ${ds.w}x${ds.h} pixels but the model takes ${spec.inputSize}x${spec.inputSize}` };
  }
  if (ds.numClasses > spec.numClasses) return { kind: 'shapes', reason: `the images have ${ds.numClasses} classes but the model only ${spec.numClasses}` };
  return null;
}

export function assertFits(spec: ModelSpec, ds: ImageDataset, what: string): void {
  const problem = misfit(spec, ds);
  if (problem) throw new PageError(problem.kind, problem.kind === 'image-size' ? 'Images of the wrong size' : 'The images do not fit the model', `The ${what}: ${problem.reason}.`);
}
