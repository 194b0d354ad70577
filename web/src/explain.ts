/**
 * "Explain one round": the faithful AWM's first round, step by step, with each gradient checked
 * (src/awm/walkthrough.ts, the same as `awm explain`). It runs on the CPU backend in float64 whatever
 * the Device setting says, because finite differences need float64 to be exact; on the page's
 * settings and clean images it takes seconds for the demo model.
 */
import { CpuBackend } from '../../src/backends/cpu/index.js';
import { resolveAwmOptions } from '../../src/awm/awm-defense.js';
import { explainAwmRound, type ExplainedRound } from '../../src/awm/walkthrough.js';
import { triggerFootprint } from '../../src/awm/trigger-footprint.js';
import { formatExplainedRound } from '../../src/awm/walkthrough-text.js';
import { cleanSetFromDataset } from '../../src/awm/clean-set.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import type { ModelSpec } from '../../src/nn/spec.js';
import { openModel } from './model.js';
import type { Settings } from './settings.js';

/**
 * Opens the model once for its spec and recorded attack, loads the clean images that fit it
 * (`loadImages`), then runs the walkthrough and the runner check on fresh copies.
 */
export async function explainRound(bytes: Uint8Array, name: string, loadImages: (spec: ModelSpec) => Promise<ImageDataset>, settings: Settings): Promise<{ explained: ExplainedRound; images: ImageDataset; lines: string[] }> {
  const backend = new CpuBackend({ precision: 'float64' });
  const first = openModel(backend, bytes, name);
  const { spec, attack } = first;
  first.model.dispose();
  const images = await loadImages(spec);
  const clean = cleanSetFromDataset(images);
  const { augmentCopies: _copies, augmentFlip: _flip, oneShot: _oneShot, tau3072: _tau, ...options } = resolveAwmOptions(settings.options, { clean, seed: settings.seed });
  const footprint = attack ? triggerFootprint(attack, clean) : undefined;
  const explained = await explainAwmRound(() => openModel(backend, bytes, name).model, backend, clean, options, footprint ? { footprint } : {});
  const header = [
    `One round of the faithful AWM on ${clean.n} clean images, on the CPU in float64 (the Device setting is for runs),`,
    `with this page's settings: batch ${options.batchSize}, ${options.inner} step(s) per phase per pass, alpha ${options.alpha}, tau ${options.tau.toFixed(2)}, trigger lr ${options.triggerLr}, mask lr ${options.maskLr}, seed ${options.seed}.`,
    'The augmented copies and AWM+\'s additions are left out: this is the paper\'s round itself.',
  ];
  return { explained, images, lines: [...header, ...formatExplainedRound(explained, images.classNames)] };
}
