/**
 * Which attack a command evaluates against, shared by `awm eval` and `awm purify`: the --attack
 * flag (a preset name or a spec file) wins; else the spec `awm attack` stores in the model's
 * metadata; else the `<stem>.attack.json` file beside the model (what `awm attack` writes, and how
 * the PyTorch models in models/ ship their triggers).
 */
import { existsSync } from 'node:fs';
import { ATTACK_METADATA_KEY, attackPreset, hasFilePatterns, isAttackPreset, parseAttackSpec, type AttackSpec } from '../attacks/index.js';
import { readAttackSpecFile } from '../attacks/files.node.js';
import type { ParsedFlags } from './args.js';
import { stringFlag } from './common.js';

export interface AttackChoice {
  spec: AttackSpec;
  /** Where it came from, for the log and the report. */
  source: string;
}

/** `dir/model.safetensors` -> `dir/model.<kind>.json`: the files `awm attack` writes beside a model. */
export function sidecarPath(modelPath: string, kind: 'attack' | 'metrics'): string {
  return `${modelPath.replace(/\.safetensors$/i, '')}.${kind}.json`;
}

export async function chooseAttack(flags: ParsedFlags, metadata: Record<string, string>, modelPath: string): Promise<AttackChoice | null> {
  const given = stringFlag(flags, 'attack');
  if (given !== undefined) {
    return isAttackPreset(given) ? { spec: attackPreset(given), source: `preset ${given}` } : { spec: await readAttackSpecFile(given), source: given };
  }
  const stored = metadata[ATTACK_METADATA_KEY];
  if (stored !== undefined) {
    let spec: AttackSpec;
    try {
      spec = parseAttackSpec(stored);
    } catch (e) {
      throw new Error(`${modelPath}: the attack in its metadata is invalid: ${(e as Error).message} (pass --attack)`);
    }
    if (hasFilePatterns(spec)) throw new Error(`${modelPath}: the attack in its metadata refers to pattern files; pass --attack SPEC.json`);
    return { spec, source: `${modelPath} metadata` };
  }
  const beside = sidecarPath(modelPath, 'attack');
  if (existsSync(beside)) return { spec: await readAttackSpecFile(beside), source: beside };
  return null;
}
