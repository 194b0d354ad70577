/**
 * `awm train` and `awm eval` end to end on the CPU backend with tiny datasets in the official file
 * formats: a model is trained, saved, reloaded and evaluated (clean and with an attack spec), and bad
 * input fails with a message that names the problem.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseFlags } from '../../src/cli/args.js';
import type { Command, CommandIO } from '../../src/cli/command.js';
import { trainCommand } from '../../src/cli/cmd-train.js';
import { evalCommand } from '../../src/cli/cmd-eval.js';
import { main } from '../../src/cli/main.js';
import { CpuBackend } from '../../src/backends/cpu/index.js';
import { readModel } from '../../src/nn/model-file.node.js';
import { makeTempDir, ppmBytes, writeBytes, LEARNABLE_IDX_SIDE, writeLearnableIdxSplit } from '../data/fixtures.js';

const SIDE = LEARNABLE_IDX_SIDE;


function capture(): CommandIO & { lines: string[] } {
  const lines: string[] = [];
  return { lines, log: (l) => lines.push(l), warn: (l) => lines.push(l) };
}

async function run(command: Command, argv: string[]): Promise<string[]> {
  const io = capture();
  await command.run(parseFlags(argv, command.flags), io);
  return io.lines;
}

describe('awm train and awm eval (CPU backend)', () => {
  let root: string;
  let idx: string;
  let rgbFolder: string;
  let modelPath: string;
  const cpu = ['--backend', 'cpu'];

  beforeAll(async () => {
    root = makeTempDir('cli');
    idx = join(root, 'fmnist');
    writeLearnableIdxSplit(idx, 'train', 64, 1);
    writeLearnableIdxSplit(idx, 't10k', 32, 2);
    rgbFolder = join(root, 'rgb');
    for (const cls of ['a', 'b']) writeBytes(join(rgbFolder, cls, 'x.ppm'), ppmBytes(SIDE, SIDE, new Uint8Array(SIDE * SIDE * 3).fill(90)));
    writeBytes(join(root, 'garbage.safetensors'), new TextEncoder().encode('this is not a model'));
    modelPath = join(root, 'model.safetensors');
    const lines = await run(trainCommand, [
      '--dataset', 'fashion-mnist', '--data-dir', idx, '--arch', 'small-cnn', '--width', '4', '--epochs', '1',
      '--batch-size', '16', '--lr', '0.05', '--seed', '3', '--augment', 'crop', '--out', modelPath, ...cpu,
    ]);
    expect(lines.join('\n')).toMatch(/epoch 1\/1 {2}loss \d+\.\d+ {2}train acc [\d.]+% {2}test acc [\d.]+% {2}\d+ img\/s {2}[\d.]+ ms\/step/);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('writes a model that loads with its spec and training metadata', async () => {
    const { model, spec, metadata } = await readModel(new CpuBackend(), modelPath);
    model.dispose();
    expect(spec).toMatchObject({ arch: 'small-cnn', inChannels: 1, numClasses: 10, width: 4, inputSize: SIDE });
    expect(metadata).toMatchObject({ dataset: 'fashion-mnist', epochs: '1', epochs_completed: '1', seed: '3', augment: 'crop', image_shape: '1x8x8' });
    expect(Number(metadata.test_accuracy)).toBeGreaterThanOrEqual(0);
    expect(Number(metadata.test_accuracy)).toBeLessThanOrEqual(1);
  });

  it('evaluates clean accuracy, taking the dataset from the model, and writes a report', async () => {
    const report = join(root, 'report.json');
    const lines = await run(evalCommand, ['--model', modelPath, '--data-dir', idx, '--report', report, ...cpu]);
    expect(lines.join('\n')).toMatch(/clean accuracy: [\d.]+% \(32 test images\)/);
    const json = JSON.parse(readFileSync(report, 'utf8'));
    expect(json).toMatchObject({ dataset: 'fashion-mnist', split: 'test', n: 32, spec: { arch: 'small-cnn' } });
    expect(json.cleanAccuracy).toBeGreaterThanOrEqual(0);
    expect(json.cleanAccuracy).toBeLessThanOrEqual(1);
    expect(json.attack).toBeUndefined();
  });

  it('measures an attack given as a spec file', async () => {
    const specPath = join(root, 'badnets.json');
    writeFileSync(specPath, JSON.stringify({
      version: 1,
      name: 'tiny-badnets',
      backdoors: [{
        trigger: { type: 'patch', height: 2, width: 2, position: { corner: 'bottom-right', margin: 0 }, values: [1] },
        label: { type: 'all-to-one', target: 0 },
        poison: { rate: 0.1 },
      }],
    }));
    const report = join(root, 'attack-report.json');
    const lines = await run(evalCommand, ['--model', modelPath, '--dataset', 'fashion-mnist', '--data-dir', idx, '--attack', specPath, '--report', report, ...cpu]);
    expect(lines.join('\n')).toMatch(/ASR [\d.]+% \(target class excluded\)/);
    expect(lines.join('\n')).toMatch(/of that ASR: [\d.]+% of the images classified correctly without the trigger are flipped by it; [\d.]+% go to the target with no trigger/);
    const json = JSON.parse(readFileSync(report, 'utf8'));
    expect(json.attack).toMatchObject({ name: 'tiny-badnets', source: specPath });
    expect(json.attack.perBackdoor[0]).toMatchObject({ target: 0, nonTarget: 28 });
    for (const key of ['asr', 'asrAll', 'robustAccuracy', 'asrOfCorrect', 'cleanToTarget']) {
      expect(json.attack[key]).toBeGreaterThanOrEqual(0);
      expect(json.attack[key]).toBeLessThanOrEqual(1);
    }
  });

  it("loads folder images with the model's trained geometry unless told otherwise", async () => {
    const lines = await run(evalCommand, ['--model', modelPath, '--dataset', 'folder', '--data-dir', rgbFolder, ...cpu]);
    expect(lines.join('\n')).toMatch(/2 images, 1x8x8, 2 classes/);
  });

  it('trains a ResNet-18 for a single step', async () => {
    const out = join(root, 'resnet.safetensors');
    await run(trainCommand, ['--dataset', 'mnist', '--data-dir', idx, '--arch', 'resnet18', '--width', '2', '--epochs', '1', '--max-steps', '1', '--batch-size', '8', '--out', out, ...cpu]);
    const { model, spec, metadata } = await readModel(new CpuBackend(), out);
    model.dispose();
    expect(spec).toMatchObject({ arch: 'resnet18', width: 2, inChannels: 1 });
    expect(metadata).toMatchObject({ dataset: 'mnist', max_steps: '1' });
  });

  it('rejects a missing data folder, a bad or missing model file, and a channel mismatch', async () => {
    const out = join(root, 'never.safetensors');
    await expect(run(trainCommand, ['--dataset', 'mnist', '--data-dir', join(root, 'nowhere'), '--out', out, ...cpu])).rejects.toThrow(/data directory .*nowhere does not exist/);
    await expect(run(trainCommand, ['--dataset', 'mnist', '--data-dir', rgbFolder, '--out', out, ...cpu])).rejects.toThrow(/cannot load the train split of mnist/);
    await expect(run(trainCommand, ['--dataset', 'mnist', '--data-dir', idx, '--out', join(root, 'no', 'dir', 'm.safetensors'), ...cpu])).rejects.toThrow(/folder .* does not exist/);
    await expect(run(evalCommand, ['--model', join(root, 'garbage.safetensors'), '--dataset', 'mnist', '--data-dir', idx, ...cpu])).rejects.toThrow(/garbage\.safetensors.*safetensors|safetensors.*garbage\.safetensors/);
    await expect(run(evalCommand, ['--model', join(root, 'missing.safetensors'), '--dataset', 'mnist', '--data-dir', idx, ...cpu])).rejects.toThrow(/--model .*missing\.safetensors does not exist/);
    await expect(run(evalCommand, ['--model', modelPath, '--dataset', 'folder', '--data-dir', rgbFolder, '--channels', '3', ...cpu])).rejects.toThrow(/takes 1-channel images but the dataset has 3 channels/);
  });

  it('eval checks the dataset and its folder before the backend starts', async () => {
    for (const [argv, message] of [
      [['--model', modelPath, '--dataset', 'mnist', '--data-dir', join(root, 'nowhere')], /data directory .*nowhere does not exist/],
      [['--model', join(root, 'garbage.safetensors'), '--dataset', 'mnist', '--data-dir', idx], /garbage\.safetensors/],
    ] as const) {
      const io = capture();
      await expect(evalCommand.run(parseFlags([...argv, ...cpu], evalCommand.flags), io)).rejects.toThrow(message);
      expect(io.lines.filter((l) => l.startsWith('backend:'))).toEqual([]);
    }
    // The same run with the folder there starts the backend and names it.
    const io = capture();
    await evalCommand.run(parseFlags(['--model', modelPath, '--dataset', 'mnist', '--data-dir', idx, '--clean-only', ...cpu], evalCommand.flags), io);
    expect(io.lines.some((l) => l.startsWith('backend:'))).toBe(true);
  });

  it('--json prints the result alone on stdout, progress on stderr; --quiet prints the result lines only', async () => {
    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const argv = ['eval', '--model', modelPath, '--dataset', 'mnist', '--data-dir', idx, '--clean-only', ...cpu];
    try {
      expect(await main([...argv, '--json'])).toBe(0);
      const out = log.mock.calls.map((c) => String(c[0]));
      expect(out).toHaveLength(1);
      const data = JSON.parse(out[0]!) as { n: number; cleanAccuracy: number; dataset: string };
      expect(data).toMatchObject({ n: 32, dataset: 'mnist' });
      expect(data.cleanAccuracy).toBeGreaterThanOrEqual(0);
      expect(err.mock.calls.some((c) => String(c[0]).startsWith('backend:'))).toBe(true);
      log.mockClear();
      err.mockClear();
      expect(await main([...argv, '--quiet'])).toBe(0);
      expect(log.mock.calls.map((c) => String(c[0]))).toEqual([`clean accuracy: ${(100 * data.cleanAccuracy).toFixed(2)}% (32 test images)`]);
      expect(err).not.toHaveBeenCalled();
    } finally {
      err.mockRestore();
      log.mockRestore();
    }
  });

  it('reports errors through the CLI as one line and exit status 1', async () => {
    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      const code = await main(['train', '--dataset', 'mnist', '--data-dir', join(root, 'nowhere'), '--out', join(root, 'x.safetensors'), ...cpu]);
      expect(code).toBe(1);
      expect(err.mock.calls.map((c) => String(c[0])).join('\n')).toMatch(/^awm train: error: data directory .* does not exist/m);
      expect(await main(['eval', '--dataset', 'mnist', ...cpu])).toBe(2);
    } finally {
      err.mockRestore();
      log.mockRestore();
    }
  });
});
