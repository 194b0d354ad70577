/**
 * `awm attack` end to end on the CPU backend with a tiny Fashion-MNIST-format dataset: BadNets (poisoned
 * once), WaNet (poisoned per batch) and CLB (PGD against a clean model trained first) each write the model,
 * its attack spec and its metrics; bad flags fail with a message naming the flag.
 */
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseFlags, UsageError } from '../../src/cli/args.js';
import type { CommandIO } from '../../src/cli/command.js';
import { attackCommand } from '../../src/cli/cmd-attack.js';
import { sidecarPath } from '../../src/cli/attack-choice.js';
import { main } from '../../src/cli/main.js';
import { CpuBackend } from '../../src/backends/cpu/index.js';
import { readModel } from '../../src/nn/model-file.node.js';
import { attackFromMetadata, attackPreset, parseAttackSpec } from '../../src/attacks/index.js';
import { makeTempDir, LEARNABLE_IDX_SIDE, writeLearnableIdxSplit } from '../data/fixtures.js';

const SIDE = LEARNABLE_IDX_SIDE;


async function run(argv: string[]): Promise<string[]> {
  const lines: string[] = [];
  const io: CommandIO = { log: (l) => lines.push(l), warn: (l) => lines.push(l) };
  await attackCommand.run(parseFlags(argv, attackCommand.flags), io);
  return lines;
}

function readJson(path: string): Record<string, any> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, any>;
}

describe('awm attack (CPU backend)', () => {
  let root: string;
  let data: string;
  const common = (): string[] => [
    '--dataset', 'fashion-mnist', '--data-dir', data, '--arch', 'small-cnn', '--width', '4', '--epochs', '1',
    '--batch-size', '16', '--lr', '0.05', '--seed', '5', '--backend', 'cpu',
  ];

  beforeAll(() => {
    root = makeTempDir('cli-attack');
    data = join(root, 'fmnist');
    writeLearnableIdxSplit(data, 'train', 64, 1);
    writeLearnableIdxSplit(data, 't10k', 32, 2);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('badnets: writes the model with its attack in the metadata, the spec file and the metrics', async () => {
    const out = join(root, 'badnets.safetensors');
    const lines = (await run([...common(), '--attack', 'badnets', '--out', out])).join('\n');
    expect(lines).toMatch(/epoch 1\/1 {2}loss \d+\.\d+ {2}train acc [\d.]+% {2}test acc [\d.]+%/);
    expect(lines).toMatch(/ASR [\d.]+% \(target class excluded\)/);
    expect(lines).toMatch(/poisoned 6 of 64 training images/);

    const expected = parseAttackSpec(attackPreset('badnets'));
    const { model, metadata } = await readModel(new CpuBackend(), out);
    model.dispose();
    expect(attackFromMetadata(metadata)).toEqual(expected);
    expect(metadata).toMatchObject({ trained_by: 'awm attack', dataset: 'fashion-mnist', image_shape: '1x8x8', epochs: '1', seed: '5', poison_seed: '5' });
    expect(parseAttackSpec(readFileSync(join(root, 'badnets.attack.json'), 'utf8'))).toEqual(expected);

    const metrics = readJson(join(root, 'badnets.metrics.json'));
    expect(metrics).toMatchObject({
      model: out, dataset: 'fashion-mnist', n: 32, attack: { name: 'badnets' }, spec: { arch: 'small-cnn', width: 4, inputSize: SIDE },
      training: { epochs: 1, batchSize: 16, seed: 5, poisonSeed: 5, augment: 'none' },
      poisoning: { mode: 'dataset', images: 6, perBackdoor: [6] },
    });
    for (const key of ['cleanAccuracy', 'asr', 'asrAll', 'robustAccuracy', 'asrOfCorrect', 'cleanToTarget']) {
      expect(metrics[key]).toBeGreaterThanOrEqual(0);
      expect(metrics[key]).toBeLessThanOrEqual(1);
    }
    expect(metrics.cleanAccuracy).toBeCloseTo(Number(metadata.test_accuracy), 5);
    expect(metrics.perBackdoor).toEqual([expect.objectContaining({ target: 0, nonTarget: 28 })]);
    expect(metrics.history).toHaveLength(1);
    expect(metrics.seconds.total).toBeGreaterThan(0);
    expect(readdirSync(root).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('wanet: poisons every batch and records the per-batch counts', async () => {
    const out = join(root, 'wanet.safetensors');
    await run([...common(), '--attack', 'wanet', '--out', out]);
    const metrics = readJson(sidecarPath(out, 'metrics'));
    expect(metrics.poisoning).toEqual({ mode: 'per-batch', backdoorPerBatch: 1, crossPerBatch: 2, batchSize: 16 });
    expect(metrics.attack.name).toBe('wanet');
    const { model, metadata } = await readModel(new CpuBackend(), out);
    model.dispose();
    expect(attackFromMetadata(metadata)?.backdoors[0]?.trigger.type).toBe('warp');
  });

  it('clb: trains a clean model for PGD first, and takes preset flags', async () => {
    const out = join(root, 'clb.safetensors');
    const lines = (await run([...common(), '--attack', 'clb', '--target', '3', '--rate', '0.5', '--max-steps', '2', '--out', out])).join('\n');
    expect(lines).toMatch(/clean model epoch 1\/1/);
    const metrics = readJson(sidecarPath(out, 'metrics'));
    // Class 3 has 8 of the 64 training images; half of them are perturbed and triggered.
    expect(metrics.poisoning).toMatchObject({ mode: 'dataset', images: 4 });
    expect(metrics.cleanHistory).toHaveLength(1);
    expect(metrics.perBackdoor[0].target).toBe(3);
  });

  it('takes a spec file, and all-to-all from the preset flag', async () => {
    const specPath = join(root, 'spec.json');
    writeFileSync(specPath, JSON.stringify({ version: 1, name: 'tiny', backdoors: [{ trigger: { type: 'patch', height: 2, width: 2, position: { corner: 'top-left', margin: 0 }, values: [1] }, label: { type: 'all-to-all' }, poison: { rate: 0.25 } }] }));
    const out = join(root, 'tiny.safetensors');
    await run([...common(), '--attack', specPath, '--max-steps', '1', '--out', out]);
    expect(readJson(sidecarPath(out, 'metrics'))).toMatchObject({ attack: { name: 'tiny' }, poisoning: { images: 16 } });
    const a2a = join(root, 'a2a.safetensors');
    await run([...common(), '--attack', 'blend', '--all-to-all', '--max-steps', '1', '--out', a2a]);
    expect(readJson(sidecarPath(a2a, 'metrics')).perBackdoor[0].target).toBeNull();
  });

  it('rejects bad flags with messages that name them', async () => {
    const out = join(root, 'never.safetensors');
    const bad = (extra: string[]) => run([...common(), '--out', out, ...extra]);
    await expect(bad(['--attack', 'badnetz'])).rejects.toThrow(/--attack 'badnetz' is neither a preset \(badnets, .*\) nor an existing spec file/);
    await expect(bad(['--attack', 'badnets', '--rate', '1.5'])).rejects.toThrow(/--rate must be in \(0, 1\], got 1.5/);
    await expect(bad(['--attack', 'badnets', '--target', '12'])).rejects.toThrow(/target 12 is not a class of a 10-class dataset/);
    await expect(bad(['--attack', 'clb', '--all-to-all'])).rejects.toThrow(UsageError);
    await expect(bad(['--attack', 'multi', '--target', '1'])).rejects.toThrow(/--attack multi: the multi preset takes no target/);
    await expect(bad(['--attack', 'badnets', '--clean-epochs', '2'])).rejects.toThrow(/--clean-epochs is for clean-label attacks/);
    await expect(bad(['--attack', 'blend', '--pattern', join(root, 'missing.safetensors')])).rejects.toThrow(/--pattern file .*missing\.safetensors does not exist/);
    await expect(bad(['--attack', join(root, 'spec.json'), '--target', '1'])).rejects.toThrow(/--target shape a preset; edit the spec file/);
    await expect(run([...common(), '--attack', 'badnets', '--out', join(root, 'no', 'dir', 'm.safetensors')])).rejects.toThrow(/folder .* does not exist/);
    expect(existsSync(out)).toBe(false);
  });

  it('exits with status 2 and the usage on a usage error', async () => {
    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      expect(await main(['attack', ...common(), '--attack', 'nope', '--out', join(root, 'x.safetensors')])).toBe(2);
      expect(String(err.mock.calls[0]?.[0])).toMatch(/^awm attack: --attack 'nope'.* \(awm attack --help lists the flags\)$/);
    } finally {
      err.mockRestore();
    }
  });
});
