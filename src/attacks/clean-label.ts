/**
 * Clean-label backdoor (Turner et al. 2019, as in BackdoorBench): a share of the target class's training
 * images are pushed by PGD against a clean model (so their content is hard to learn), then get the corner
 * trigger; labels stay as they are, so the model leans on the trigger to classify them.
 */
import type { ImageDataset } from '../data/dataset.js';
import type { Backend } from '../tensor/backend.js';
import { validateAttackForData } from './data-check.js';
import { gatherFloatImages, poisonDataset, selectBackdoorSets, type PoisonResult } from './poison.js';
import { pgdImages, type Classifier } from './pgd.js';
import type { AttackSpec } from './types.js';

export interface CleanLabelOptions {
  backend: Backend;
  /** A clean model's logits function (pixels in [0, 1]). */
  classifier: Classifier;
  batchSize?: number;
}

export async function poisonCleanLabel(ds: ImageDataset, spec: AttackSpec, seed: number, options: CleanLabelOptions): Promise<PoisonResult> {
  validateAttackForData(spec, ds);
  const backdoor = spec.backdoors[0]!;
  if (spec.backdoors.length !== 1 || backdoor.label.type !== 'clean-label') {
    throw new Error(`poisonCleanLabel: "${spec.name}" is not a single clean-label backdoor`);
  }
  if (!backdoor.pgd) return poisonDataset(ds, spec, seed);
  const set = selectBackdoorSets(ds.labels, spec, seed)[0]!;
  const labels = Int32Array.from(set, (i) => ds.labels[i]!);
  const adversarial = await pgdImages(options.backend, options.classifier, gatherFloatImages(ds, set), labels, ds, {
    ...backdoor.pgd,
    ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
  });
  return poisonDataset(ds, spec, seed, { adversarial });
}
