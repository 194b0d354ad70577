/** Where eval and purify take the attack from: flag, then model metadata, then <model>.attack.json. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseAttack, sidecarPath } from '../../src/cli/attack-choice.js';
import { ATTACK_METADATA_KEY, attackPreset, serializeAttackSpec } from '../../src/attacks/index.js';

describe('chooseAttack', () => {
  const dir = mkdtempSync(join(tmpdir(), 'awm-attack-choice-'));
  const model = join(dir, 'm.safetensors');
  const blend = attackPreset('blend');
  const badnets = attackPreset('badnets');

  it('maps a model path to its sidecar files', () => {
    expect(sidecarPath('/a/b/m.safetensors', 'attack')).toBe('/a/b/m.attack.json');
    expect(sidecarPath('/a/b/m.SAFETENSORS', 'metrics')).toBe('/a/b/m.metrics.json');
  });

  it('prefers the flag, then the metadata, then the file beside the model, else none', async () => {
    expect(await chooseAttack({}, {}, model)).toBeNull();
    writeFileSync(sidecarPath(model, 'attack'), serializeAttackSpec(blend));
    const beside = await chooseAttack({}, {}, model);
    expect(beside!.source).toBe(sidecarPath(model, 'attack'));
    expect(beside!.spec.name).toBe('blend');
    const stored = await chooseAttack({}, { [ATTACK_METADATA_KEY]: serializeAttackSpec(badnets) }, model);
    expect(stored!.source).toBe(`${model} metadata`);
    expect(stored!.spec.name).toBe('badnets');
    const flagged = await chooseAttack({ attack: 'trojan-sq' }, { [ATTACK_METADATA_KEY]: serializeAttackSpec(badnets) }, model);
    expect(flagged!.spec.name).toBe('trojan-sq');
  });

  it('names a broken spec in the metadata', async () => {
    await expect(chooseAttack({}, { [ATTACK_METADATA_KEY]: '{"version": 1' }, model)).rejects.toThrow(/m\.safetensors: the attack in its metadata is invalid/);
  });
});
