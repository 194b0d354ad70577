/**
 * A GPU device lost in the middle of `awm purify` ends the run with an error that says so, and no output file is left
 * behind (outputs are written only after the defense has finished). The device is destroyed from the command's own
 * progress log, after the first AWM round; a run after it gets a fresh device. Its own file: the destroyed device is the
 * process's cached one.
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseFlags } from '../../src/cli/args.js';
import { purifyCommand } from '../../src/cli/cmd-purify.js';
import { getGPU } from '../../src/device/gpu.js';
import { CpuBackend } from '../../src/backends/cpu/index.js';
import { createModel } from '../../src/nn/index.js';
import { saveModel } from '../../src/nn/model-file.js';
import { serializeSafetensors } from '../../src/io/safetensors.js';
import { makeTempDir } from '../data/fixtures.js';
import { gpuBackend } from '../helpers/backends.js';

describe('a lost GPU device', () => {
  it.skipIf(!gpuBackend)('stops awm purify with a clear error and leaves no output', async () => {
    const dir = makeTempDir('lost');
    const model = createModel(new CpuBackend(), { arch: 'small-cnn', inChannels: 1, numClasses: 4, width: 2, inputSize: 8 }, { seed: 1 });
    const modelPath = join(dir, 'model.safetensors');
    writeFileSync(modelPath, await saveModel(model));
    model.dispose();
    const clean = join(dir, 'clean.safetensors');
    const images = new Float32Array(4 * 64).map((_, i) => (i % 11) / 11);
    writeFileSync(clean, serializeSafetensors({ images: { shape: [4, 1, 8, 8], data: images }, labels: { shape: [4], data: Int32Array.from([0, 1, 2, 3]) } }));
    const handle = await getGPU();
    let destroyed = false;
    const lines: string[] = [];
    const io = {
      log: (l: string) => {
        lines.push(l);
        if (!destroyed && /round\s+1\b/i.test(l)) {
          destroyed = true;
          handle.device.destroy();
        }
      },
      warn: (l: string) => lines.push(l),
    };
    const out = join(dir, 'out.safetensors');
    const argv = ['--model', modelPath, '--clean', clean, '--out', out, '--report', join(dir, 'r.json'), '--masks', join(dir, 'm.safetensors'),
      '--backend', 'webgpu', '--method', 'awm', '--outer', '3', '--inner', '1', '--batch-size', '4', '--augment-copies', '0'];
    await expect(purifyCommand.run(parseFlags(argv, purifyCommand.flags), io)).rejects.toThrow(/WebGPU device lost/);
    expect(destroyed, lines.join('\n')).toBe(true);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(['clean.safetensors', 'model.safetensors']);
    // The lost device is forgotten: the next run in the same process gets a fresh one and finishes.
    const again = await getGPU();
    expect(again.device).not.toBe(handle.device);
    await purifyCommand.run(parseFlags(argv, purifyCommand.flags), { log: () => undefined, warn: () => undefined });
    expect(existsSync(out)).toBe(true);
  });
});
