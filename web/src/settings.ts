/**
 * The hyper-parameter form: reading it into AWM / AWM+ options, and two presets (a quick one that
 * shows the effect on the demo in well under a minute, and the paper's defaults).
 */
import type { AwmPartial } from '../../src/awm/awm-defense.js';
import type { AwmPlusPartial, HeadFitMode } from '../../src/awm/awm-plus.js';
import type { MaskOptimizer } from '../../src/awm/awm.js';
import { inputById } from './dom.js';
import { PageError } from './errors.js';

export type Method = 'awm' | 'awm+';
export type Device = 'webgpu' | 'cpu';

export interface Settings {
  method: Method;
  device: Device;
  seed: number;
  options: AwmPartial & AwmPlusPartial;
}

/** Form field id -> value. Empty tau means "the method's default, scaled to the image size". */
type Preset = Record<'method' | 'rounds' | 'inner' | 'batch' | 'alpha' | 'tau' | 'trigger-lr' | 'mask-lr' | 'lr-decay' | 'copies' | 'mixup' | 'noise-blend' | 'blend-ascent' | 'mask-optimizer' | 'head-fit' | 'suspect-shift' | 'suspect-target' | 'candidates' | 'seed', string>
  & { sparse: boolean; 'select-round': boolean; 'calibrate-head': boolean; 'suspect-trigger': boolean };

export const PRESETS: Readonly<Record<'quick' | 'paper', Preset>> = {
  quick: { method: 'awm+', rounds: '3', inner: '1', batch: '16', alpha: '0.5', tau: '25', 'trigger-lr': '10', 'mask-lr': '0.1', 'lr-decay': '1', copies: '4', mixup: '0', 'noise-blend': '0', 'blend-ascent': '0', 'mask-optimizer': 'adam', 'head-fit': 'linear', 'suspect-shift': '0', 'suspect-target': '0', candidates: '1', sparse: false, 'select-round': false, 'calibrate-head': false, 'suspect-trigger': false, seed: '1' },
  paper: { method: 'awm', rounds: '20', inner: '5', batch: '128', alpha: '0.9', tau: '', 'trigger-lr': '10', 'mask-lr': '0.01', 'lr-decay': '1', copies: '', mixup: '0', 'noise-blend': '0', 'blend-ascent': '0', 'mask-optimizer': 'adam', 'head-fit': 'linear', 'suspect-shift': '0', 'suspect-target': '0', candidates: '1', sparse: false, 'select-round': false, 'calibrate-head': false, 'suspect-trigger': false, seed: '1' },
};

export function applyPreset(name: keyof typeof PRESETS): void {
  for (const [id, value] of Object.entries(PRESETS[name])) {
    const field = document.getElementById(id) as HTMLInputElement | HTMLSelectElement | null;
    if (!field) continue;
    if (typeof value === 'boolean') (field as HTMLInputElement).checked = value;
    else field.value = value;
  }
}

function number(id: string, label: string, check: (v: number) => boolean, rule: string): number {
  const raw = inputById(id).value.trim();
  const v = Number(raw);
  if (raw === '' || !Number.isFinite(v) || !check(v)) throw new PageError('settings', 'A setting is out of range', `${label} must be ${rule} (got "${raw}").`);
  return v;
}

function optionalNumber(id: string, label: string, check: (v: number) => boolean, rule: string): number | undefined {
  return inputById(id).value.trim() === '' ? undefined : number(id, label, check, rule);
}

const wholeAtLeast = (min: number) => (v: number) => Number.isInteger(v) && v >= min;

export function readSettings(): Settings {
  const method = inputById('method').value as Method;
  const device = inputById('device').value as Device;
  const seed = number('seed', 'Seed', wholeAtLeast(0), 'a whole number ≥ 0');
  const copies = optionalNumber('copies', 'Augmented copies', wholeAtLeast(0), 'a whole number ≥ 0');
  return {
    method,
    device,
    seed,
    options: {
      outer: number('rounds', 'Rounds', wholeAtLeast(1), 'a whole number ≥ 1'),
      inner: number('inner', 'Steps per round', wholeAtLeast(1), 'a whole number ≥ 1'),
      batchSize: number('batch', 'Batch size', wholeAtLeast(1), 'a whole number ≥ 1'),
      alpha: number('alpha', 'Alpha', (v) => v >= 0 && v <= 1, 'between 0 and 1'),
      tauAbsolute: optionalNumber('tau', 'Trigger budget tau', (v) => v > 0, 'a positive number (or empty for the default)'),
      triggerLr: number('trigger-lr', 'Trigger learning rate', (v) => v > 0, 'a positive number'),
      maskLr: number('mask-lr', 'Mask learning rate', (v) => v > 0, 'a positive number'),
      lrDecay: number('lr-decay', 'Mask learning-rate decay', (v) => v > 0 && v <= 1, 'above 0 and at most 1'),
      ...(copies !== undefined ? { augmentCopies: copies } : {}),
      mixupCount: number('mixup', 'Mixtures', wholeAtLeast(0), 'a whole number ≥ 0'),
      sparseTrigger: inputById('sparse').checked,
      noiseBlend: number('noise-blend', 'Noise blends', (v) => v >= 0 && v < 1, 'at least 0 and below 1 (0: off)'),
      blendAscent: number('blend-ascent', 'Blend-pattern search', wholeAtLeast(0), 'a whole number of steps ≥ 0 (0: off)'),
      maskOptimizer: inputById('mask-optimizer').value as MaskOptimizer,
      calibrateHead: inputById('calibrate-head').checked,
      headFit: inputById('head-fit').value as HeadFitMode,
      suspectShift: number('suspect-shift', 'Suspect-class shift', (v) => v >= 0, 'a number ≥ 0 (0: off)'),
      suspectTrigger: inputById('suspect-trigger').checked,
      suspectTarget: number('suspect-target', 'Search towards the suspect', (v) => v >= 0 && v <= 1, 'a fraction of tau from 0 to 1 (0: off)'),
      candidates: number('candidates', 'Candidates', wholeAtLeast(1), 'a whole number ≥ 1'),
      selectRound: inputById('select-round').checked,
      fallback: inputById('fallback').checked,
      seed,
    },
  };
}
