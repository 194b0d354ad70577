/**
 * The AWM walkthrough (`awm explain`): on a tiny ResNet in float64 its checks hold (masks at 1 change
 * nothing, the trigger's gradient is the batch's summed input gradient, the chain rule through w * m,
 * finite differences), its round equals runAwm's first round, and it leaves nothing live. A mask whose
 * backward is 0.1 % off is caught by both the chain-rule and the finite-difference checks. And the
 * command itself on the page's BadNets model.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Tensor } from '../../src/tensor/tensor.js';
import { noGrad, record } from '../../src/autograd/engine.js';
import * as ops from '../../src/ops/index.js';
import { Conv2d } from '../../src/nn/conv.js';
import { createModel } from '../../src/nn/index.js';
import type { Module } from '../../src/nn/module.js';
import type { CleanSet } from '../../src/awm/clean-set.js';
import type { AwmOptions } from '../../src/awm/options.js';
import { awmWalkthrough, explainAwmRound } from '../../src/awm/walkthrough.js';
import { densestWindow, footprintShare, triggerFootprint } from '../../src/awm/trigger-footprint.js';
import { attackPreset } from '../../src/attacks/index.js';
import { formatTriggerOnAttack, triggerOnAttack } from '../../src/awm/purify.js';
import { explainedRoundAgrees, formatExplainedRound, walkthroughAgrees } from '../../src/awm/walkthrough-text.js';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { serializeSafetensors } from '../../src/io/safetensors.js';
import { makeTempDir } from '../data/fixtures.js';
import { cpu64, randomArray } from '../helpers/backends.js';

const set: CleanSet = { images: randomArray(8 * 1 * 10 * 10, 11, 0, 1), labels: Int32Array.from([0, 1, 2, 3, 0, 1, 2, 3]), n: 8, c: 1, h: 10, w: 10, numClasses: 4 };
const options: AwmOptions = { outer: 1, inner: 2, batchSize: 6, alpha: 0.9, gamma: 1e-3, tau: 0.1, triggerLr: 10, maskLr: 0.01, lrDecay: 1, seed: 5 };
const tinyResnet = (): Module => createModel(cpu64, { arch: 'resnet18', inChannels: 1, numClasses: 4, width: 2 }, { seed: 9 });

afterEach(() => vi.restoreAllMocks());

describe('awmWalkthrough', () => {
  it('its checks hold in float64, its round is runAwm\'s first round, and nothing is left live', async () => {
    const live = cpu64.liveBytes();
    let opened = 0;
    const explained = await explainAwmRound(() => (opened++, tinyResnet()), cpu64, set, options);
    const r = explained.result;
    expect(opened).toBe(2);
    expect(explained.runnerDifference).toBe(0);
    expect(explainedRoundAgrees(explained)).toBe(true);
    expect(r.stepsPerPhase).toBe(2);
    expect(r.layers).toHaveLength(20); // ResNet-18: 17 convs on the main path, 3 shortcuts
    expect(r.maskIdentity).toBe(0);
    expect(r.trigger.universalGradient).toBeLessThanOrEqual(1e-9);
    expect(r.firstMaskStep.chainRule).toBeLessThanOrEqual(1e-9);
    expect(r.firstMaskStep.finiteDifferences.map((f) => f.layer)).toEqual(['conv1', r.layers.at(-1)!.name]);
    for (const f of r.firstMaskStep.finiteDifferences) {
      expect(Math.abs(f.autograd)).toBeGreaterThan(0);
      expect(f.agrees, `${f.layer}`).toBe(true);
      expect(Math.abs(f.autograd - f.numeric), `${f.layer}`).toBeLessThanOrEqual(f.tolerance);
    }
    expect(walkthroughAgrees(r)).toBe(true);
    // The rescale puts the trigger on the L1 sphere of radius tau when the ascent went past it.
    expect(r.trigger.l1Before).toBeGreaterThan(options.tau);
    expect(r.trigger.l1Before * r.trigger.scale).toBeCloseTo(options.tau, 9);
    expect(r.trigger.steps).toHaveLength(2);
    // Adam's first step moves each entry by lr against its gradient's sign: every entry is either below 1 or was clamped back.
    expect(r.firstMaskStep.belowOne + r.firstMaskStep.clampedBack).toBe(r.maskElements);
    expect(r.maskSteps.at(-1)!.meanMask).toBeLessThan(1);

    // Both copies disposed, and nothing else left live.
    expect(cpu64.liveBytes()).toBe(live);

    const text = formatExplainedRound(explained).join('\n');
    expect(text).toMatch(/ends at the same masks: max difference 0.00e\+0 \(identical\)\.\nEvery check agrees\.$/);
    expect(text).toMatch(/exactly equal/);
    const share = ((1 - options.alpha) * r.firstMaskStep.triggered) / r.firstMaskStep.total;
    expect(text).toContain(`The triggered images carry ${(100 * share).toFixed(1)} % of L at this step (1 - alpha = 0.10 weighs them)`);
    expect(text).not.toMatch(/DISAGREE/);
    expect(text).toMatch(/conv1 \[\d+, 0, \d, \d\]: autograd \S+, numeric \S+: agree/);
  });

  it('holds on colour images of an odd size, with a PreAct-ResNet', async () => {
    const rgb: CleanSet = { images: randomArray(6 * 3 * 9 * 7, 13, 0, 1), labels: Int32Array.from([0, 1, 2, 0, 1, 2]), n: 6, c: 3, h: 9, w: 7, numClasses: 3 };
    const model = createModel(cpu64, { arch: 'preact-resnet18', inChannels: 3, numClasses: 3, width: 2 }, { seed: 4 });
    const r = await awmWalkthrough(model, cpu64, rgb, { ...options, batchSize: 5 });
    model.dispose();
    expect(walkthroughAgrees(r)).toBe(true);
    expect(r.trigger.densest.size).toBe(3);
    expect(r.trigger.densest.areaShare).toBeCloseTo(9 / 63, 12);
  });

  it('a mask backward 0.1 % off fails the chain-rule and finite-difference checks', async () => {
    // w * m whose backward scales the mask's gradient by 1.001 (the weight's stays right).
    vi.spyOn(Conv2d.prototype, 'effectiveWeight').mockImplementation(function (this: Conv2d): Tensor {
      const w = this.weight;
      const m = this.mask;
      if (!m) return w;
      return record(noGrad(() => ops.mul(w, m)), 'wrongMask', [w, m], (g) => [ops.mul(g, m), ops.mul(ops.mul(g, w), 1.001)]);
    });
    const model = tinyResnet();
    // gamma at the defaults' 1e-8, so the conv's part dominates every mask gradient.
    const r = await awmWalkthrough(model, cpu64, set, { ...options, gamma: 1e-8 });
    model.dispose();
    expect(r.firstMaskStep.chainRule).toBeGreaterThan(5e-4);
    for (const f of r.firstMaskStep.finiteDifferences) {
      expect(f.relError, f.layer).toBeGreaterThan(5e-4);
      expect(f.agrees, f.layer).toBe(false);
    }
    expect(walkthroughAgrees(r)).toBe(false);
    expect(formatExplainedRound({ result: r, runnerDifference: 0 }).join('\n')).toMatch(/DISAGREE[^]*A check DISAGREES/);
    // The runner check alone also fails the verdict.
    expect(explainedRoundAgrees({ result: { ...r, firstMaskStep: { ...r.firstMaskStep, chainRule: 0, finiteDifferences: [] } }, runnerDifference: 1e-12 })).toBe(false);
  });

  it('finds the densest window and the share on a footprint', () => {
    const t = new Float32Array(2 * 6 * 6);
    t[0] = 0.5; // spread mass, channel 0
    for (const [r, c] of [[3, 3], [4, 4], [5, 5]]) t[36 + r * 6 + c] = -2; // channel 1, inside the 3x3 window at (3, 3)
    const d = densestWindow(t, 2, 6, 6, 3);
    expect(d).toMatchObject({ row: 3, col: 3, size: 3 });
    expect(d.share).toBeCloseTo(6 / 6.5, 12);
    expect(d.areaShare).toBeCloseTo(9 / 36, 12);
    const footprint = new Uint8Array(36);
    footprint[0] = 1;
    expect(footprintShare(t, 2, 6, 6, footprint)).toEqual({ share: 0.5 / 6.5, areaShare: 1 / 36 });
    expect(() => footprintShare(t, 2, 6, 6, new Uint8Array(35))).toThrow(/footprint holds 35 pixels, expected 6x6/);
  });

  it('draws a patch trigger\'s footprint, and none for a blend', () => {
    const fp = triggerFootprint(attackPreset('badnets'), { c: 1, h: 10, w: 10 })!;
    const on = Array.from(fp.keys()).filter((i) => fp[i]).map((i) => [Math.floor(i / 10), i % 10]);
    expect(on).toEqual([[7, 7], [7, 8], [7, 9], [8, 7], [8, 8], [8, 9], [9, 7], [9, 8], [9, 9]]);
    expect(triggerFootprint(attackPreset('blend'), { c: 3, h: 10, w: 10 })).toBeUndefined();
    // The purify report's per-round view: one trigger on the patch, one beside it.
    const onPatch = new Float32Array(100);
    onPatch[99] = 1;
    const beside = new Float32Array(100);
    beside[0] = 1;
    beside[98] = 0.25; // a fifth of its mass on the patch: 20 % < 5 x 9 %
    const seen = triggerOnAttack(attackPreset('badnets'), [onPatch, beside], { c: 1, h: 10, w: 10 })!;
    expect(seen).toEqual({ areaShare: 0.09, perRound: [1, 0.2], found: 1 });
    expect(formatTriggerOnAttack(seen)).toBe("recovered triggers on the attack's own trigger pixels (9.0 % of the image; evaluation only): 1 of 2 rounds held at least 5x an even share there (100.0, 20.0 %)");
    expect(triggerOnAttack(attackPreset('blend'), [onPatch], { c: 1, h: 10, w: 10 })).toBeUndefined();
  });
});

describe('awm explain', () => {
  it('walks the page\'s BadNets model through one round: every check agrees, the runner matches, the trigger found the patch (seed 3 on the shipped subset)', async () => {
    const lines: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((l: unknown) => void lines.push(String(l)));
    vi.spyOn(console, 'error').mockImplementation((l: unknown) => void lines.push(String(l)));
    const code = await main(['explain', '--data-dir', 'data/fashion-mnist-subset', '--seed', '3']);
    const text = lines.join('\n');
    expect(code, text).toBe(0);
    expect(text).toMatch(/its metadata names the attack it carries: badnets: BadNets 3x3 white patch at bottom-right; label -> 0/);
    expect(text).toMatch(/one-shot preset \(batch 32, alpha 0.99, tau 25.52/);
    expect(text).toMatch(/The model's own trigger covers 1.1 % of the pixels; the recovered trigger holds [\d.]+ % of its L1 mass there.\n[^\n]*\d+ of them move to class 0 \(T-shirt\/top\), the most/);
    expect(text).toMatch(/Here it did: [\d.]+ times/);
    expect(text).toMatch(/ends at the same masks: max difference 0.00e\+0 \(identical\)/);
    expect(text).toMatch(/Every check agrees\.\n[\d.]+ s$/);
  });

  it('says which file is missing, and which images do not fit the model', async () => {
    const lines: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((l: string) => void lines.push(l));
    vi.spyOn(console, 'log').mockImplementation(() => {});
    expect(await main(['explain', '--model', 'no/such/model.safetensors'])).toBe(1);
    expect(lines.join('\n')).toMatch(/awm explain: error: model file no\/such\/model.safetensors does not exist/);
    // Clean images the model cannot take: three channels for a one-channel model.
    const dir = makeTempDir('explain');
    const file = join(dir, 'rgb.safetensors');
    writeFileSync(file, serializeSafetensors({ images: { shape: [10, 3, 28, 28], data: new Float32Array(10 * 3 * 28 * 28).fill(0.5) }, labels: { shape: [10], data: Int32Array.from({ length: 10 }, (_, i) => i), dtype: 'I64' } }));
    lines.length = 0;
    expect(await main(['explain', '--clean', file])).toBe(1);
    expect(lines.join('\n')).toMatch(/awm explain: error: the clean images have 3 channel\(s\) but the model takes 1/);
    rmSync(dir, { recursive: true, force: true });
  });
});
