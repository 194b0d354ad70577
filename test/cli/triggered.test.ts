/**
 * `--triggered FILE` in `awm eval` and `awm purify`: ASR from a file of pre-triggered images must equal ASR from the
 * same trigger applied by the project itself; the target comes from the flags, the attack recorded for the model, or
 * the model card beside it; bad files and contradictory flags are refused with a message.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFlags } from '../../src/cli/args.js';
import type { Command, CommandIO } from '../../src/cli/command.js';
import { trainCommand } from '../../src/cli/cmd-train.js';
import { evalCommand } from '../../src/cli/cmd-eval.js';
import { purifyCommand } from '../../src/cli/cmd-purify.js';
import { triggeredRule, modelCardPath } from '../../src/cli/triggered-choice.js';
import { loadDataset } from '../../src/data/node.js';
import { compileTrigger, parseAttackSpec, toFloatImages, triggeredRates, type AttackSpec } from '../../src/attacks/index.js';
import { serializeSafetensors } from '../../src/io/safetensors.js';
import { makeTempDir, writeBytes, writeLearnableIdxSplit } from '../data/fixtures.js';

async function run(command: Command, argv: string[]): Promise<string[]> {
  const lines: string[] = [];
  const io: CommandIO = { log: (l) => lines.push(l), warn: (l) => lines.push(l) };
  await command.run(parseFlags(argv, command.flags), io);
  return lines;
}

describe('triggeredRates', () => {
  it('counts hits over non-target images, all-to-one and all-to-all', () => {
    const labels = Int32Array.from([0, 1, 2, 3]);
    const clean = { labels: Int32Array.from([1, 2]), pred: Int32Array.from([0, 2]) };
    const one = triggeredRates({ labels, rule: { type: 'all-to-one', target: 0 } }, Int32Array.from([0, 0, 2, 1]), clean, 4);
    expect(one).toMatchObject({ target: 0, nonTarget: 3, asr: 1 / 3, asrAll: 2 / 4, robustAccuracy: 1 / 3, cleanToTarget: 1 / 2 });
    const a2a = triggeredRates({ labels, rule: { type: 'all-to-all' } }, Int32Array.from([1, 2, 2, 0]), clean, 4);
    expect(a2a).toMatchObject({ target: null, nonTarget: 4, asr: 3 / 4, asrAll: 3 / 4, robustAccuracy: 1 / 4 });
  });
});

describe('--triggered (CPU backend)', () => {
  let root: string;
  let idx: string;
  let modelPath: string;
  let specPath: string;
  let triggeredPath: string;
  const cpu = ['--backend', 'cpu'];
  const spec: AttackSpec = parseAttackSpec(JSON.stringify({
    version: 1, name: 'tiny-badnets',
    backdoors: [{ trigger: { type: 'patch', height: 2, width: 2, position: { corner: 'bottom-right', margin: 0 }, values: [1] }, label: { type: 'all-to-one', target: 3 }, poison: { rate: 0.1 } }],
  }));

  beforeAll(async () => {
    root = makeTempDir('triggered');
    idx = join(root, 'fmnist');
    writeLearnableIdxSplit(idx, 'train', 64, 1);
    writeLearnableIdxSplit(idx, 't10k', 40, 2);
    modelPath = join(root, 'model.safetensors');
    await run(trainCommand, ['--dataset', 'fashion-mnist', '--data-dir', idx, '--arch', 'small-cnn', '--width', '4', '--epochs', '1', '--batch-size', '16', '--seed', '3', '--out', modelPath, ...cpu]);
    specPath = join(root, 'spec.json');
    writeFileSync(specPath, JSON.stringify(spec));
    // The whole test split with the trigger applied by the project's own code, in the zoo's file layout.
    const test = await loadDataset('fashion-mnist', idx, 'test');
    const images = compileTrigger(spec.backdoors[0]!.trigger, test)(toFloatImages(test.images));
    triggeredPath = join(root, 'triggered.safetensors');
    writeBytes(triggeredPath, serializeSafetensors({
      images: { shape: [test.n, test.c, test.h, test.w], data: images },
      labels: { shape: [test.n], data: Int32Array.from(test.labels), dtype: 'I64' },
    }));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('awm eval gives the same ASR from the triggered file as from the spec', async () => {
    const fromSpec = join(root, 'spec-report.json');
    const fromFile = join(root, 'file-report.json');
    await run(evalCommand, ['--model', modelPath, '--data-dir', idx, '--attack', specPath, '--report', fromSpec, ...cpu]);
    const lines = await run(evalCommand, ['--model', modelPath, '--data-dir', idx, '--triggered', triggeredPath, '--target', '3', '--report', fromFile, ...cpu]);
    expect(lines.join('\n')).toMatch(/attack from .*triggered\.safetensors \(target 3, from --target\)/);
    const a = JSON.parse(readFileSync(fromSpec, 'utf8'));
    const b = JSON.parse(readFileSync(fromFile, 'utf8'));
    expect(b.cleanAccuracy).toBe(a.cleanAccuracy);
    for (const key of ['asr', 'asrAll', 'robustAccuracy', 'cleanToTarget']) expect(b.attack[key]).toBeCloseTo(a.attack[key], 12);
    expect(b.attack.perBackdoor[0]).toMatchObject({ target: 3, nonTarget: a.attack.perBackdoor[0].nonTarget });
    expect(b.attack.triggeredImages).toBe(40);
    expect(b.attack.asrOfCorrect).toBeUndefined();
  });

  it('takes the target from the attack beside the model, then the model card', async () => {
    expect((await triggeredRule({}, {}, modelPath).catch((e: Error) => e)) as Error).toBeInstanceOf(Error);
    writeFileSync(modelCardPath(modelPath), JSON.stringify({ target: 5, all2all: false }));
    expect(await triggeredRule({}, {}, modelPath)).toEqual({ rule: { type: 'all-to-one', target: 5 }, source: modelCardPath(modelPath) });
    writeFileSync(modelCardPath(modelPath), JSON.stringify({ target: 0, all2all: true }));
    expect((await triggeredRule({}, {}, modelPath)).rule).toEqual({ type: 'all-to-all' });
    writeFileSync(join(root, 'model.attack.json'), JSON.stringify(spec));
    expect((await triggeredRule({}, {}, modelPath)).rule).toEqual({ type: 'all-to-one', target: 3 });
    expect((await triggeredRule({ 'all-to-all': true }, {}, modelPath)).rule).toEqual({ type: 'all-to-all' });
    rmSync(join(root, 'model.attack.json'));
    rmSync(modelCardPath(modelPath));
  });

  it('awm purify reports ASR from the triggered file before and after', async () => {
    const report = join(root, 'purify.json');
    const clean = join(root, 'clean.safetensors');
    const images = new Float32Array(10 * 64);
    for (let i = 0; i < images.length; i++) images[i] = ((i * 37) % 101) / 100;
    writeBytes(clean, serializeSafetensors({ images: { shape: [10, 1, 8, 8], data: images }, labels: { shape: [10], data: Int32Array.from({ length: 10 }, (_, i) => i) } }));
    const lines = await run(purifyCommand, [
      '--model', modelPath, '--clean', clean, '--eval-dataset', 'fashion-mnist', '--data-dir', idx, '--method', 'ft', '--steps', '2',
      '--triggered', triggeredPath, '--target', '3', '--out', join(root, 'out.safetensors'), '--report', report, ...cpu,
    ]);
    expect(lines.join('\n')).toMatch(/triggered images \(for ASR\): 40 from/);
    const json = JSON.parse(readFileSync(report, 'utf8'));
    expect(json.before.triggeredImages).toBe(40);
    expect(json.after.asr).toBeGreaterThanOrEqual(0);
    expect(json.after.asr).toBeLessThanOrEqual(1);
  });

  it('refuses contradictory flags, a missing file and images of the wrong shape', async () => {
    const base = ['--model', modelPath, '--data-dir', idx, ...cpu];
    await expect(run(evalCommand, [...base, '--triggered', triggeredPath, '--target', '1', '--all-to-all'])).rejects.toThrow(/--target or --all-to-all, not both/);
    await expect(run(evalCommand, [...base, '--target', '1'])).rejects.toThrow(/go with --triggered/);
    await expect(run(evalCommand, [...base, '--triggered', triggeredPath, '--attack', specPath])).rejects.toThrow(/--attack or --triggered, not both/);
    await expect(run(evalCommand, [...base, '--triggered', join(root, 'nope.safetensors'), '--target', '1'])).rejects.toThrow(/nope\.safetensors: no such file/);
    await expect(run(evalCommand, [...base, '--triggered', triggeredPath])).rejects.toThrow(/nothing records .*target; give --target N or --all-to-all/);
    const wrong = join(root, 'wrong.safetensors');
    writeBytes(wrong, serializeSafetensors({ images: { shape: [2, 1, 5, 5], data: new Float32Array(50) }, labels: { shape: [2], data: Int32Array.from([0, 1]) } }));
    await expect(run(evalCommand, [...base, '--triggered', wrong, '--target', '1'])).rejects.toThrow(/wrong\.safetensors \(target 1, from --target\): images are 1x5x5 but the test images are 1x8x8/);
  });
});
