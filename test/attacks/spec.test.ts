import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  ATTACK_METADATA_KEY,
  ATTACK_PRESETS,
  attackFromMetadata,
  attackToMetadata,
  applyTrigger,
  attackPreset,
  base64ToFloat32,
  describeAttack,
  float32ToBase64,
  hasFilePatterns,
  inlinePattern,
  materializePattern,
  parseAttackSpec,
  patternFromSafetensors,
  resolvePatternFiles,
  serializeAttackSpec,
  validateAttackForData,
} from '../../src/attacks/index.js';
import { loadPatternFile } from '../../src/attacks/files.node.js';
import { serializeSafetensors } from '../../src/io/safetensors.js';

const badnets = () => JSON.parse(serializeAttackSpec(attackPreset('badnets')));

function withTrigger(trigger: unknown, label: unknown = { type: 'all-to-one', target: 0 }, poison: unknown = { rate: 0.1 }) {
  return { name: 'x', backdoors: [{ trigger, label, poison }] };
}

describe('parseAttackSpec', () => {
  it('round-trips every preset and fills poison defaults from the label rule', () => {
    for (const name of ATTACK_PRESETS) {
      const spec = attackPreset(name);
      expect(parseAttackSpec(serializeAttackSpec(spec))).toEqual(spec);
      expect(describeAttack(spec).startsWith(`${name}: `)).toBe(true);
    }
    const patch = { type: 'patch', height: 1, width: 1, position: { corner: 'top-left' }, values: [1] };
    expect(parseAttackSpec(withTrigger(patch)).backdoors[0]!.poison).toEqual({ rate: 0.1, eligible: 'non-target', rateOf: 'all' });
    expect(parseAttackSpec(withTrigger(patch, { type: 'all-to-all' })).backdoors[0]!.poison.eligible).toBe('all');
    const clb = parseAttackSpec(withTrigger({ type: 'corners', size: 3 }, { type: 'clean-label', target: 1 }, { rate: 0.5 }));
    expect(clb.backdoors[0]!.poison).toEqual({ rate: 0.5, eligible: 'target-only', rateOf: 'eligible' });
    expect(parseAttackSpec(withTrigger(patch)).backdoors[0]!.trigger).toEqual({ ...patch, position: { corner: 'top-left', margin: 0 } });
  });

  it('names the bad field', () => {
    const cases: Array<[unknown, RegExp]> = [
      ['{"name":', /not valid JSON/],
      [[], /spec must be an object, got an array/],
      [{ backdoors: [] }, /spec\.name is required/],
      [{ name: 'x', backdoors: [] }, /spec\.backdoors must list at least one backdoor/],
      [{ ...badnets(), version: 2 }, /spec\.version must be 1, got 2/],
      [{ ...badnets(), extra: 1 }, /spec\.extra is not a known field/],
      [withTrigger({ type: 'blend', alpha: 2, pattern: { type: 'noise', seed: 1 } }), /backdoors\[0\]\.trigger\.alpha must be at most 1, got 2/],
      [withTrigger({ type: 'blend', alpha: 0.2, pattern: { type: 'noise', seed: 1.5 } }), /backdoors\[0\]\.trigger\.pattern\.seed must be an integer/],
      [withTrigger({ type: 'blend', alpha: 0.2, pattern: { type: 'noise' }, triger: 1 }), /backdoors\[0\]\.trigger\.triger is not a known field/],
      [withTrigger({ type: 'sticker' }), /backdoors\[0\]\.trigger\.type must be one of "patch", .* got "sticker"/],
      [withTrigger({ type: 'patch', height: 0, width: 1, position: { top: 0, left: 0 }, values: [1] }), /trigger\.height must be at least 1, got 0/],
      [withTrigger({ type: 'patch', height: 1, width: 1, position: { top: 0, left: 0 }, values: [1, 'a'] }), /trigger\.values\[1\] must be a number in \[0, 1\], got "a"/],
      [withTrigger({ type: 'patch', height: 1, width: 1, position: { corner: 'middle' }, values: [1] }), /trigger\.position\.corner must be one of/],
      [withTrigger({ type: 'patch', height: 1, width: 1, position: {}, values: [1] }), /trigger\.position needs either corner/],
      [withTrigger({ type: 'corners', size: 3 }, { type: 'all-to-one' }), /backdoors\[0\]\.label\.target is required/],
      [withTrigger({ type: 'corners', size: 3 }, { type: 'all-to-all', target: 1 }), /label\.target is not used by all-to-all/],
      [withTrigger({ type: 'corners', size: 3 }, { type: 'all-to-one', target: 0 }, { rate: '0.1' }), /poison\.rate must be a finite number, got "0\.1"/],
      [withTrigger({ type: 'corners', size: 3 }, { type: 'all-to-all' }, { rate: 0.1, eligible: 'non-target' }), /poison\.eligible must be "all" for all-to-all/],
      [withTrigger({ type: 'corners', size: 3 }, { type: 'clean-label', target: 0 }, { rate: 0.1, eligible: 'all' }), /must be "target-only" for clean-label/],
      [withTrigger({ type: 'warp', k: 4, s: 0.5, seed: 1 }, { type: 'all-to-one', target: 0 }, { rate: 0.1 }), /warp \(WaNet\) trigger must have eligible "all"/],
      [{ name: 'x', backdoors: [{ ...badnets().backdoors[0], pgd: { eps: 0.1, steps: 1, stepSize: 0.1 } }] }, /backdoors\[0\]\.pgd is only for clean-label/],
      [withTrigger({ type: 'blend', alpha: 0.2, pattern: { type: 'inline', shape: [1, 2, 2], data: 'AACAPw==' } }), /pattern\.data holds 1 values, shape 1x2x2 needs 4/],
      [withTrigger({ type: 'blend', alpha: 0.2, pattern: { type: 'inline', shape: [1, 1, 1], data: 'A$CAPw==' } }), /pattern\.data is not base64 float32 data/],
    ];
    for (const [input, message] of cases) expect(() => parseAttackSpec(input), String(message)).toThrow(message);
  });

  it('multiple backdoors need distinct targets and no per-batch or clean-label members', () => {
    const two = (a: unknown, b: unknown) => ({ name: 'm', backdoors: [a, b] });
    const bd = badnets().backdoors[0];
    expect(() => parseAttackSpec(two(bd, bd))).toThrow(/backdoors\[1\]\.label\.target repeats backdoors\[0\]'s target 0/);
    const wanet = JSON.parse(serializeAttackSpec(attackPreset('wanet'))).backdoors[0];
    expect(() => parseAttackSpec(two(bd, { ...wanet, label: { type: 'all-to-one', target: 1 } }))).toThrow(/backdoors\[1\] has a warp \(WaNet\) trigger/);
    const multi = attackPreset('multi');
    expect(multi.backdoors.map((b) => b.label)).toEqual([0, 1, 2].map((target) => ({ type: 'all-to-one', target })));
  });

  it('checks a spec against the data it is used with', () => {
    const data = { c: 1, h: 28, w: 28, numClasses: 10 };
    for (const name of ATTACK_PRESETS) expect(() => validateAttackForData(attackPreset(name), data)).not.toThrow();
    expect(() => validateAttackForData(attackPreset('badnets', { target: 10 }), data)).toThrow(/target 10 is not a class of a 10-class dataset/);
    expect(() => validateAttackForData(attackPreset('trojan-sq'), { ...data, h: 8, w: 8 })).toThrow(/8x8 trojan square 1 pixels from the border does not fit 8x8/);
    const inline = attackPreset('blend', { pattern: inlinePattern(new Float32Array(4), [2, 2]) });
    expect(() => validateAttackForData(inline, data)).toThrow(/inline pattern of shape 1x2x2 does not fit 1x28x28/);
  });
});

describe('presets', () => {
  it('take target, rate and all-to-all overrides where they make sense', () => {
    expect(attackPreset('badnets', { target: 3, rate: 0.05 }).backdoors[0]).toMatchObject({ label: { type: 'all-to-one', target: 3 }, poison: { rate: 0.05 } });
    const a2a = attackPreset('blend', { allToAll: true });
    expect(a2a.name).toBe('blend-all-to-all');
    expect(a2a.backdoors[0]).toMatchObject({ label: { type: 'all-to-all' }, poison: { eligible: 'all' } });
    expect(() => attackPreset('clb', { allToAll: true })).toThrow(/no all-to-all form/);
    expect(() => attackPreset('multi', { rate: 0.1 })).toThrow(/multi preset takes no/);
    expect(() => attackPreset('badnets', { pattern: { type: 'noise', seed: 1 } })).toThrow(/only the blend preset/);
    expect(() => attackPreset('nope' as never)).toThrow(/unknown preset "nope"/);
    const clb = attackPreset('clb').backdoors[0]!;
    expect(clb.pgd).toEqual({ eps: 16 / 255, steps: 10, stepSize: 2 / 255 });
    expect(clb.poison).toEqual({ rate: 0.8, eligible: 'target-only', rateOf: 'eligible' });
    expect(attackPreset('wanet').backdoors[0]!.trigger).toMatchObject({ type: 'warp', k: 4, s: 0.5, gridRescale: 1, crossRatio: 2 });
  });
});

describe('pattern images', () => {
  it('base64 float32 round-trips exactly', () => {
    const values = Float32Array.from([0, 1, -2.5, 1e-7, 0.1, 3.4e38, Number.MIN_VALUE]);
    for (let n = 0; n <= values.length; n++) expect(base64ToFloat32(float32ToBase64(values.subarray(0, n)))).toEqual(values.slice(0, n));
  });

  it('file patterns resolve to inline ones read from safetensors', async () => {
    const values = Float32Array.from({ length: 16 }, (_, i) => i / 16);
    const bytes = serializeSafetensors({ pattern: { shape: [1, 4, 4], data: values } });
    const spec = parseAttackSpec(withTrigger({ type: 'blend', alpha: 0.2, pattern: { type: 'file', path: 'p.safetensors' } }));
    expect(hasFilePatterns(spec)).toBe(true);
    expect(() => applyTrigger(spec, new Float32Array(16), { c: 1, h: 4, w: 4 })).toThrow(/must be loaded first/);
    const reads: string[] = [];
    const resolved = await resolvePatternFiles(spec, async (p) => (reads.push(p), bytes));
    expect(reads).toEqual(['p.safetensors']);
    expect(hasFilePatterns(resolved)).toBe(false);
    const trigger = resolved.backdoors[0]!.trigger;
    if (trigger.type !== 'blend') throw new Error('blend');
    expect(materializePattern(trigger.pattern, { c: 3, h: 4, w: 4 }).values).toEqual(values);
    expect(parseAttackSpec(serializeAttackSpec(resolved))).toEqual(resolved);
    expect(() => patternFromSafetensors(bytes, 'trigger')).toThrow(/no tensor "trigger" \(it has: pattern\)/);
  });

  const modelsPattern = fileURLToPath(new URL('../../models/blend_pattern.safetensors', import.meta.url));
  it.skipIf(!existsSync(modelsPattern))('loads models/blend_pattern.safetensors as a user-given pattern (x\' = 0.8 x + 0.2 p)', async () => {
    const pattern = await loadPatternFile(modelsPattern);
    expect(pattern).toMatchObject({ type: 'inline', shape: [1, 28, 28] });
    const direct = patternFromSafetensors(new Uint8Array(readFileSync(modelsPattern)));
    expect(direct).toEqual(pattern);
    const spec = attackPreset('blend', { pattern });
    const p = materializePattern(pattern, { c: 1, h: 28, w: 28 }).values;
    expect(p.every((v) => v >= 0 && v <= 1)).toBe(true);
    const x = Float32Array.from({ length: 784 }, (_, i) => (i % 256) / 255);
    const y = applyTrigger(spec, x, { c: 1, h: 28, w: 28 });
    for (let i = 0; i < 784; i++) expect(y[i]).toBeCloseTo(0.8 * x[i]! + 0.2 * p[i]!, 6);
  });
});

describe('model metadata', () => {
  it('stores a self-contained spec and reads it back', () => {
    const spec = attackPreset('trojan-wm');
    const meta = attackToMetadata(spec);
    expect(Object.keys(meta)).toEqual([ATTACK_METADATA_KEY]);
    expect(attackFromMetadata({ ...meta, other: 'x' })).toEqual(spec);
    expect(attackFromMetadata({})).toBeNull();
    expect(() => attackFromMetadata({ [ATTACK_METADATA_KEY]: '{}' })).toThrow(/model metadata "attack": attack spec: spec\.name is required/);
    const withFile = parseAttackSpec(withTrigger({ type: 'blend', alpha: 0.2, pattern: { type: 'file', path: 'p.safetensors' } }));
    expect(() => attackToMetadata(withFile)).toThrow(/resolve it \(resolvePatternFiles\)/);
  });
});
