/**
 * Named attacks with the settings of the papers and benchmarks they come from. Pattern seeds are
 * fixed here, so a preset means the same trigger everywhere.
 *
 * - badnets: 3x3 white patch in the bottom-right corner, target 0, 10 % of the training set drawn from
 *   non-target images (BackdoorBench). The PyTorch models in models/ use this trigger.
 * - badnets-awm: 4x4 white patch one pixel from the bottom-right border, target 8 (AWM's BadNets); rate as badnets.
 * - blend: x' = 0.8 x + 0.2 p, p seeded uniform noise, target 0, 10 % non-target (BackdoorBench's rate and
 *   alpha; its Hello Kitty image is replaced by noise). Pass `pattern` to use a given image instead.
 * - trojan-sq / trojan-wm: additive TrojanNN-style triggers made here from fixed seeds (see patterns.ts),
 *   target 2, 20 % of the training set drawn from every class, as I-BAU and AWM.
 * - wanet: k 4, s 0.5, grid_rescale 1, cross ratio 2, target 0, 10 % of every batch (WaNet, BackdoorBench).
 * - clb: PGD (L-inf 16/255, 10 steps of 2/255, no random start) on 80 % of the target class's images,
 *   then 3x3 checkerboards in all four corners; target 0, labels unchanged.
 * - multi: three backdoors with distinct targets on disjoint poisoned sets, 5 % of the training set each:
 *   badnets' patch -> 0, blend's noise -> 1, trojan-wm's watermark -> 2.
 */
import type { AttackSpec, BackdoorSpec, PatternSource, TriggerSpec } from './types.js';

export const ATTACK_PRESETS = ['badnets', 'badnets-awm', 'blend', 'trojan-sq', 'trojan-wm', 'wanet', 'clb', 'multi'] as const;
export type AttackPresetName = (typeof ATTACK_PRESETS)[number];

export interface PresetOptions {
  /** Replaces the target class (single-backdoor presets). */
  target?: number;
  /** Replaces the poison rate (single-backdoor presets). */
  rate?: number;
  /** y -> (y + 1) mod C instead of one target, poisoning images of every class (not for clb and multi). */
  allToAll?: boolean;
  /** The blend preset's pattern (e.g. patternFromSafetensors of the shared blend_pattern.safetensors). */
  pattern?: PatternSource;
}

const SEEDS = { blend: 1001, trojanSquare: 1002, trojanWatermark: 1003, wanet: 1004 } as const;

export const TRIGGERS = {
  badnets: (): TriggerSpec => ({ type: 'patch', height: 3, width: 3, position: { corner: 'bottom-right', margin: 0 }, values: [1] }),
  badnetsAwm: (): TriggerSpec => ({ type: 'patch', height: 4, width: 4, position: { corner: 'bottom-right', margin: 1 }, values: [1] }),
  blend: (pattern: PatternSource = { type: 'noise', seed: SEEDS.blend }): TriggerSpec => ({ type: 'blend', alpha: 0.2, pattern }),
  trojanSquare: (): TriggerSpec => ({ type: 'additive', pattern: { type: 'trojan-square', seed: SEEDS.trojanSquare, size: 8, margin: 1 } }),
  trojanWatermark: (): TriggerSpec => ({ type: 'additive', pattern: { type: 'trojan-watermark', seed: SEEDS.trojanWatermark, density: 0.2, amplitude: 0.15 } }),
  wanet: (): TriggerSpec => ({ type: 'warp', k: 4, s: 0.5, gridRescale: 1, seed: SEEDS.wanet, crossRatio: 2 }),
  corners: (): TriggerSpec => ({ type: 'corners', size: 3 }),
};

function allToOne(trigger: TriggerSpec, target: number, rate: number, eligible: 'all' | 'non-target'): BackdoorSpec {
  return { trigger, label: { type: 'all-to-one', target }, poison: { rate, eligible, rateOf: 'all' } };
}

export function attackPreset(name: AttackPresetName, options: PresetOptions = {}): AttackSpec {
  if (!(ATTACK_PRESETS as readonly string[]).includes(name)) throw new Error(`attackPreset: unknown preset "${name}" (known: ${ATTACK_PRESETS.join(', ')})`);
  if (name === 'multi') {
    if (options.target !== undefined || options.rate !== undefined || options.allToAll || options.pattern) {
      throw new Error('attackPreset: the multi preset takes no target, rate, allToAll or pattern option; write its spec instead');
    }
    return {
      version: 1,
      name,
      backdoors: [allToOne(TRIGGERS.badnets(), 0, 0.05, 'non-target'), allToOne(TRIGGERS.blend(), 1, 0.05, 'non-target'), allToOne(TRIGGERS.trojanWatermark(), 2, 0.05, 'non-target')],
    };
  }
  if (options.pattern && name !== 'blend') throw new Error(`attackPreset: only the blend preset takes a pattern (got "${name}")`);
  let backdoor: BackdoorSpec;
  switch (name) {
    case 'badnets':
      backdoor = allToOne(TRIGGERS.badnets(), options.target ?? 0, options.rate ?? 0.1, 'non-target');
      break;
    case 'badnets-awm':
      backdoor = allToOne(TRIGGERS.badnetsAwm(), options.target ?? 8, options.rate ?? 0.1, 'non-target');
      break;
    case 'blend':
      backdoor = allToOne(TRIGGERS.blend(options.pattern), options.target ?? 0, options.rate ?? 0.1, 'non-target');
      break;
    case 'trojan-sq':
      backdoor = allToOne(TRIGGERS.trojanSquare(), options.target ?? 2, options.rate ?? 0.2, 'all');
      break;
    case 'trojan-wm':
      backdoor = allToOne(TRIGGERS.trojanWatermark(), options.target ?? 2, options.rate ?? 0.2, 'all');
      break;
    case 'wanet':
      backdoor = allToOne(TRIGGERS.wanet(), options.target ?? 0, options.rate ?? 0.1, 'all');
      break;
    case 'clb':
      if (options.allToAll) throw new Error('attackPreset: clb is a clean-label attack and has no all-to-all form');
      backdoor = {
        trigger: TRIGGERS.corners(),
        label: { type: 'clean-label', target: options.target ?? 0 },
        poison: { rate: options.rate ?? 0.8, eligible: 'target-only', rateOf: 'eligible' },
        pgd: { eps: 16 / 255, steps: 10, stepSize: 2 / 255 },
      };
      break;
  }
  if (options.allToAll) {
    if (options.target !== undefined) throw new Error('attackPreset: allToAll has no target');
    backdoor = { ...backdoor, label: { type: 'all-to-all' }, poison: { ...backdoor.poison, eligible: 'all' } };
  }
  return { version: 1, name: options.allToAll ? `${name}-all-to-all` : name, backdoors: [backdoor] };
}

/** Whether `value` names a preset (for CLI arguments). */
export function isAttackPreset(value: string): value is AttackPresetName {
  return (ATTACK_PRESETS as readonly string[]).includes(value);
}
