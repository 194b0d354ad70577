/**
 * Poisoning a training set once, before training (every attack but WaNet, which poisons per batch:
 * see wanet-batch.ts). The result is a new dataset; the input is not modified.
 */
import type { ImageDataset } from '../data/dataset.js';
import { validateAttackForData } from './data-check.js';
import { pixelsPerImage, toFloatImages, toUint8Images } from './image.js';
import { selectPoisonIndices } from './indices.js';
import { fixedTarget, labelFn } from './labels.js';
import { compileTrigger } from './triggers.js';
import type { AttackSpec } from './types.js';

export interface PoisonResult {
  dataset: ImageDataset;
  /** Every poisoned index, ascending. */
  poisoned: Int32Array;
  /** Each backdoor's poisoned indices, ascending; the sets are disjoint. */
  perBackdoor: Int32Array[];
}

export interface PoisonOptions {
  /**
   * Clean-label attacks with PGD: the perturbed float images of backdoor 0's poisoned set, in its
   * (ascending) index order; poisonCleanLabel computes them. The trigger is applied on top.
   */
  adversarial?: Float32Array;
}

/** The seed backdoor k draws its poisoned set with (k = 0 uses `seed` itself). */
export function backdoorSeed(seed: number, k: number): number {
  return (seed + Math.imul(k, 0x9e3779b9)) >>> 0;
}

/**
 * Multiple backdoors get disjoint poisoned sets: backdoor k draws, with its own seed, from the images
 * that backdoors 0..k-1 did not take (and that its eligibility rule allows). Its rate still counts the
 * whole set (or its eligible images), so each trigger poisons the share it asks for.
 */
export function selectBackdoorSets(labels: ArrayLike<number>, spec: AttackSpec, seed: number): Int32Array[] {
  const taken: number[] = [];
  return spec.backdoors.map((b, k) => {
    const set = selectPoisonIndices(labels, b.poison.rate, backdoorSeed(seed, k), {
      eligible: b.poison.eligible,
      target: fixedTarget(b.label),
      rateOf: b.poison.rateOf,
      exclude: taken,
    });
    for (const i of set) taken.push(i);
    return set;
  });
}

/**
 * Applies each backdoor's trigger and label rule to its poisoned set. Triggers run on u8/255 floats and
 * the result is stored back as bytes, rounded to the nearest 1/255 (see toUint8Images).
 */
export function poisonDataset(ds: ImageDataset, spec: AttackSpec, seed: number, options: PoisonOptions = {}): PoisonResult {
  validateAttackForData(spec, ds);
  if (spec.backdoors.some((b) => b.trigger.type === 'warp')) {
    throw new Error(`poisonDataset: "${spec.name}" uses a warp (WaNet) trigger, which poisons each batch during training (wanetPoisonBatch)`);
  }
  const perBackdoor = selectBackdoorSets(ds.labels, spec, seed);
  const images = ds.images.slice();
  const labels = ds.labels.slice();
  const size = pixelsPerImage(ds);
  spec.backdoors.forEach((b, k) => {
    const set = perBackdoor[k]!;
    let clean = gather(ds.images, set, size);
    if (b.pgd) {
      if (!options.adversarial) throw new Error(`poisonDataset: "${spec.name}" needs PGD-perturbed images of a clean model; use poisonCleanLabel`);
      if (options.adversarial.length !== clean.length) {
        throw new Error(`poisonDataset: adversarial holds ${options.adversarial.length} values, the ${set.length} poisoned images need ${clean.length}`);
      }
      clean = options.adversarial;
    }
    const triggered = toUint8Images(compileTrigger(b.trigger, ds)(clean));
    const relabel = labelFn(b.label);
    set.forEach((index, j) => {
      images.set(triggered.subarray(j * size, (j + 1) * size), index * size);
      labels[index] = relabel(labels[index]!, ds.numClasses);
    });
  });
  const poisoned = Int32Array.from(perBackdoor.flatMap((s) => Array.from(s))).sort();
  return { dataset: { ...ds, images, labels }, poisoned, perBackdoor };
}

/** Float [0, 1] copies of the listed images, in the given order. */
export function gatherFloatImages(ds: ImageDataset, indices: ArrayLike<number>): Float32Array {
  return gather(ds.images, indices, pixelsPerImage(ds));
}

function gather(bytes: Uint8Array, indices: ArrayLike<number>, size: number): Float32Array {
  const out = new Float32Array(indices.length * size);
  for (let j = 0; j < indices.length; j++) {
    const i = indices[j]!;
    out.set(toFloatImages(bytes.subarray(i * size, (i + 1) * size)), j * size);
  }
  return out;
}
