import { describe, expect, it } from 'vitest';
import { applyTrigger, attackPreset, compileTrigger, materializePattern, type AttackSpec, type TriggerSpec } from '../../src/attacks/index.js';
import { changedPixels, constantImages, rectIndices } from './helpers.js';

const shape = (c: number, h: number, w: number) => ({ c, h, w });

describe('BadNets patch', () => {
  it('default preset whitens exactly the bottom-right 3x3 pixels of every channel and image', () => {
    const s = shape(3, 8, 10);
    const x = constantImages(2, 3, 8, 10, 0.25);
    const y = applyTrigger(attackPreset('badnets'), x, s);
    const expected = rectIndices(3, 8, 10, 5, 7, 3, 3);
    for (const i of [0, 1]) expect(changedPixels(x, y, 240, i)).toEqual(expected);
    for (const j of expected) expect(y[240 + j]).toBe(1);
    expect(x.every((v) => v === 0.25)).toBe(true); // input untouched
  });

  it('awm preset whitens a 4x4 square one pixel from the bottom-right border, target 8', () => {
    const spec = attackPreset('badnets-awm');
    expect(spec.backdoors[0]!.label).toEqual({ type: 'all-to-one', target: 8 });
    const x = constantImages(1, 1, 28, 28, 0);
    const y = applyTrigger(spec, x, shape(1, 28, 28));
    expect(changedPixels(x, y, 784)).toEqual(rectIndices(1, 28, 28, 23, 23, 4, 4));
    expect(y[27 * 28 + 27]).toBe(0);
    expect(y[26 * 28 + 26]).toBe(1);
  });

  it('takes per-channel and full values and explicit positions', () => {
    const perChannel: TriggerSpec = { type: 'patch', height: 1, width: 2, position: { top: 1, left: 0 }, values: [0.1, 0.2] };
    const y = compileTrigger(perChannel, shape(2, 3, 3))(new Float32Array(18));
    expect(Array.from(y)).toEqual([0, 0, 0, 0.1, 0.1, 0, 0, 0, 0, 0, 0, 0, 0.2, 0.2, 0, 0, 0, 0].map(Math.fround));
    const full: TriggerSpec = { type: 'patch', height: 2, width: 2, position: { corner: 'top-left', margin: 0 }, values: [1, 0, 0, 1] };
    expect(Array.from(compileTrigger(full, shape(1, 2, 3))(new Float32Array(6).fill(0.5)))).toEqual([1, 0, 0.5, 0, 1, 0.5]);
  });

  it('rejects patches that leave the image or values of the wrong count', () => {
    const big: TriggerSpec = { type: 'patch', height: 5, width: 5, position: { corner: 'bottom-right', margin: 1 }, values: [1] };
    expect(() => compileTrigger(big, shape(1, 5, 5))).toThrow(/does not fit 5x5/);
    const odd: TriggerSpec = { type: 'patch', height: 2, width: 2, position: { top: 0, left: 0 }, values: [1, 1, 1] };
    expect(() => compileTrigger(odd, shape(1, 4, 4))).toThrow(/must number 1, 1 \(channels\) or 4/);
  });
});

describe('Blend', () => {
  it('computes x\' = 0.8 x + 0.2 p with the seeded noise pattern', () => {
    const spec = attackPreset('blend');
    const s = shape(3, 4, 4);
    const x = Float32Array.from({ length: 96 }, (_, i) => (i % 17) / 16);
    const y = applyTrigger(spec, x, s);
    const trigger = spec.backdoors[0]!.trigger;
    if (trigger.type !== 'blend') throw new Error('blend preset');
    const p = materializePattern(trigger.pattern, s).values;
    expect(p.length).toBe(48);
    for (let i = 0; i < 96; i++) expect(y[i]).toBeCloseTo(0.8 * x[i]! + 0.2 * p[i % 48]!, 6);
    // Same seed, same pattern; another seed, another pattern.
    expect(materializePattern({ type: 'noise', seed: 1001 }, s).values).toEqual(p);
    expect(materializePattern({ type: 'noise', seed: 7 }, s).values).not.toEqual(p);
  });

  it('shares a one-channel pattern across channels', () => {
    const t: TriggerSpec = { type: 'blend', alpha: 0.5, pattern: { type: 'inline', shape: [1, 1, 2], data: 'AACAPwAAAAA=' } }; // [1, 0]
    expect(Array.from(compileTrigger(t, shape(2, 1, 2))(new Float32Array([0, 0, 1, 1])))).toEqual([0.5, 0, 1, 0.5]);
  });
});

describe('Trojan triggers', () => {
  it('trojan-sq adds a colourful 8x8 square one pixel from the bottom-right border, then clips', () => {
    const spec = attackPreset('trojan-sq');
    expect(spec.backdoors[0]!.label).toEqual({ type: 'all-to-one', target: 2 });
    expect(spec.backdoors[0]!.poison.rate).toBe(0.2);
    const s = shape(3, 16, 16);
    const x = constantImages(1, 3, 16, 16, 0.25);
    const y = applyTrigger(spec, x, s);
    expect(changedPixels(x, y, 768)).toEqual(rectIndices(3, 16, 16, 7, 7, 8, 8));
    const trigger = spec.backdoors[0]!.trigger;
    if (trigger.type !== 'additive') throw new Error('additive');
    const p = materializePattern(trigger.pattern, s).values;
    for (const j of rectIndices(3, 16, 16, 7, 7, 8, 8)) {
      expect(Math.abs(p[j]!)).toBeGreaterThanOrEqual(0.5);
      expect(y[j]).toBeCloseTo(Math.min(Math.max(0.25 + p[j]!, 0), 1), 6);
    }
    // Colourful: the channels of one pixel are not all equal everywhere.
    const differ = rectIndices(1, 16, 16, 7, 7, 8, 8).some((j) => p[j] !== p[j + 256] || p[j] !== p[j + 512]);
    expect(differ).toBe(true);
  });

  it('trojan-wm is a faint sparse watermark, the same in every channel', () => {
    const spec = attackPreset('trojan-wm');
    const s = shape(3, 28, 28);
    const trigger = spec.backdoors[0]!.trigger;
    if (trigger.type !== 'additive') throw new Error('additive');
    const pattern = materializePattern(trigger.pattern, s);
    expect(pattern.c).toBe(1);
    const on = Array.from(pattern.values).filter((v) => v !== 0);
    expect(on.every((v) => Math.abs(v) === Math.fround(0.15))).toBe(true);
    expect(on.length / 784).toBeGreaterThan(0.15);
    expect(on.length / 784).toBeLessThan(0.25);
    const x = constantImages(1, 3, 28, 28, 0.5);
    const y = applyTrigger(spec, x, s);
    for (let j = 0; j < 784; j++) {
      expect(y[j]).toBeCloseTo(0.5 + pattern.values[j]!, 6);
      expect(y[j + 784]).toBe(y[j]);
    }
  });
});

describe('CLB corners', () => {
  it('puts a mirrored 3x3 checkerboard in each corner, white at the corner pixel', () => {
    const x = constantImages(1, 1, 7, 7, 0.5);
    const y = compileTrigger({ type: 'corners', size: 3 }, shape(1, 7, 7))(x);
    const rows = Array.from({ length: 7 }, (_, r) => Array.from(y.subarray(r * 7, r * 7 + 7)).map((v) => (v === 0.5 ? '.' : String(v))).join(''));
    expect(rows).toEqual(['101.101', '010.010', '101.101', '.......', '101.101', '010.010', '101.101']);
  });
});

describe('applyTrigger', () => {
  it('names a missing backdoor and a ragged batch', () => {
    const spec: AttackSpec = attackPreset('badnets');
    expect(() => applyTrigger(spec, new Float32Array(9), shape(1, 3, 3), 1)).toThrow(/has no backdoor 1/);
    expect(() => applyTrigger(spec, new Float32Array(10), shape(1, 3, 3))).toThrow(/not a whole number of 1x3x3 images/);
  });
});
