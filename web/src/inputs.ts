/**
 * Gathers what a run needs from the page: the model bytes, the clean images, the evaluation images
 * and the attack to measure, from the built-in demo or from files the person picked.
 */
import type { ImageDataset } from '../../src/data/dataset.js';
import { ATTACK_PRESETS, attackPreset, isAttackPreset, validateAttackForData, type AttackSpec } from '../../src/attacks/index.js';
import type { ModelSpec } from '../../src/nn/spec.js';
import { inputById } from './dom.js';
import { PageError } from './errors.js';
import { loadDemo, type DemoAssets } from './demo.js';
import { imagesToDataset, pickedFiles } from './images.js';
import { assertFits, misfit } from './fit.js';

export type Source = 'demo' | 'files';

let demo: Promise<DemoAssets> | null = null;

/** Fetched once per page; a failed fetch is retried on the next run. */
export function demoAssets(): Promise<DemoAssets> {
  demo ??= loadDemo().catch((e) => {
    demo = null;
    throw e;
  });
  return demo;
}

export function selectedSource(): Source {
  return (document.querySelector('input[name="source"]:checked') as HTMLInputElement | null)?.value === 'files' ? 'files' : 'demo';
}

export async function modelBytes(source: Source): Promise<{ bytes: Uint8Array; name: string }> {
  if (source === 'demo') return { bytes: (await demoAssets()).modelBytes, name: 'demo model' };
  const file = inputById('model-file').files?.[0];
  if (!file) throw new PageError('not-a-model', 'No model chosen', 'Pick a .safetensors model file under “Your files”, or choose the built-in demo.');
  return { bytes: new Uint8Array(await file.arrayBuffer()), name: file.name };
}

export async function cleanImages(source: Source, spec: ModelSpec): Promise<ImageDataset> {
  if (source === 'demo') {
    const ds = (await demoAssets()).clean;
    assertFits(spec, ds, 'demo’s clean images');
    return ds;
  }
  const files = [...pickedFiles(inputById('clean-files').files), ...pickedFiles(inputById('clean-folder').files)];
  if (files.length === 0) throw new PageError('images', 'No clean images chosen', 'Pick clean images (files or a folder with one subfolder per class), or choose the built-in demo.');
  return imagesToDataset(files, spec, 'clean images');
}

export interface Evaluation {
  set: ImageDataset | null;
  attack: AttackSpec | null;
  /** Why there is no before/after measurement, when there is none. */
  note: string;
}

function chosenAttack(source: Source, fromModel: AttackSpec | null): { attack: AttackSpec | null; note: string } {
  const choice = source === 'demo' ? 'model' : inputById('attack').value;
  if (choice === 'none') return { attack: null, note: 'No attack chosen, so ASR is not measured.' };
  if (choice === 'model') {
    return fromModel ? { attack: fromModel, note: '' } : { attack: null, note: `The model file records no attack; choose one (${ATTACK_PRESETS.join(', ')}) under “Attack to measure” to measure ASR.` };
  }
  if (!isAttackPreset(choice)) throw new PageError('settings', 'Unknown attack', `"${choice}" is not an attack preset.`);
  return { attack: attackPreset(choice), note: '' };
}

export async function evaluation(source: Source, spec: ModelSpec, fromModel: AttackSpec | null): Promise<Evaluation> {
  const { attack, note } = chosenAttack(source, fromModel);
  if (!attack) return { set: null, attack: null, note };
  const own = source === 'files' ? pickedFiles(inputById('eval-folder').files) : [];
  let set: ImageDataset;
  if (own.length > 0) {
    set = await imagesToDataset(own, spec, 'evaluation images');
  } else {
    set = (await demoAssets()).evaluation;
    const problem = misfit(spec, set);
    if (problem) return { set: null, attack, note: `The built-in evaluation images do not fit this model (${problem.reason}); add your own evaluation images to measure ASR.` };
  }
  try {
    validateAttackForData(attack, set);
  } catch (e) {
    return { set: null, attack, note: `The attack cannot be applied to these images: ${(e as Error).message}` };
  }
  return { set, attack, note: '' };
}
