/**
 * Outputs are checked before any work and written as a set: purify refuses to overwrite its input, names a missing or
 * unwritable folder up front (before the backend starts), replaces an existing file only with --force, and a failing
 * file in a set leaves none of the set behind. Numeric flags out of range are refused with what the user typed.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseFlags, UsageError } from '../../src/cli/args.js';
import type { CommandIO } from '../../src/cli/command.js';
import { purifyCommand } from '../../src/cli/cmd-purify.js';
import { evalCommand } from '../../src/cli/cmd-eval.js';
import { trainCommand } from '../../src/cli/cmd-train.js';
import { attackCommand } from '../../src/cli/cmd-attack.js';
import { checkOutputPaths } from '../../src/cli/outputs.js';
import { writeFilesAtomic } from '../../src/io/atomic-write.node.js';
import { CpuBackend } from '../../src/backends/cpu/index.js';
import { createModel } from '../../src/nn/index.js';
import { saveModel } from '../../src/nn/model-file.js';
import { serializeSafetensors } from '../../src/io/safetensors.js';
import { makeTempDir } from '../data/fixtures.js';

function capture(): CommandIO & { lines: string[] } {
  const lines: string[] = [];
  return { lines, log: (l) => lines.push(l), warn: (l) => lines.push(l) };
}

describe('output paths', () => {
  let dir: string;
  let modelPath: string;
  let cleanPath: string;
  const quick = ['--backend', 'cpu', '--method', 'ft', '--steps', '1', '--batch-size', '4'];
  const purify = async (argv: string[]) => {
    const io = capture();
    await purifyCommand.run(parseFlags(argv, purifyCommand.flags), io);
    return io.lines;
  };

  beforeAll(async () => {
    dir = makeTempDir('outputs');
    const model = createModel(new CpuBackend(), { arch: 'small-cnn', inChannels: 1, numClasses: 4, width: 2, inputSize: 8 }, { seed: 1 });
    modelPath = join(dir, 'model.safetensors');
    writeFileSync(modelPath, await saveModel(model));
    model.dispose();
    cleanPath = join(dir, 'clean.safetensors');
    const images = new Float32Array(4 * 64).map((_, i) => (i % 13) / 13);
    writeFileSync(cleanPath, serializeSafetensors({ images: { shape: [4, 1, 8, 8], data: images }, labels: { shape: [4], data: Int32Array.from([0, 1, 2, 3]) } }));
  });

  it('refuses to write the purified model over its input, even with --force, and leaves the input as it was', async () => {
    const before = readFileSync(modelPath);
    const io = capture();
    await expect(purifyCommand.run(parseFlags(['--model', modelPath, '--clean', cleanPath, '--out', modelPath, '--force', ...quick], purifyCommand.flags), io))
      .rejects.toThrow(/--out .*model\.safetensors is also the input --model; write the output elsewhere/);
    expect(readFileSync(modelPath).equals(before)).toBe(true);
    // refused before the backend started: nothing was logged
    expect(io.lines).toEqual([]);
    const spelled = join(dir, '.', 'sub', '..', 'model.safetensors');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    await expect(purify(['--model', modelPath, '--clean', cleanPath, '--out', spelled, ...quick])).rejects.toThrow(/is also the input --model/);
    await expect(purify(['--model', modelPath, '--clean', cleanPath, '--out', join(dir, 'o.safetensors'), '--report', cleanPath, ...quick])).rejects.toThrow(/--report .*clean\.safetensors is also the input --clean/);
  });

  it('names a missing folder for --out, --report or --masks before any work, and writes nothing', async () => {
    const io = capture();
    const out = join(dir, 'a.safetensors');
    await expect(purifyCommand.run(parseFlags(['--model', modelPath, '--clean', cleanPath, '--out', join(dir, 'nope', 'o.safetensors'), ...quick], purifyCommand.flags), io))
      .rejects.toThrow(/--out .*o\.safetensors: folder .*nope does not exist/);
    expect(io.lines).toEqual([]);
    await expect(purify(['--model', modelPath, '--clean', cleanPath, '--out', out, '--report', join(dir, 'nope', 'r.json'), ...quick])).rejects.toThrow(/--report .*r\.json: folder .*nope does not exist/);
    await expect(purify(['--model', modelPath, '--clean', cleanPath, '--out', out, '--masks', join(dir, 'nope', 'm.safetensors'), ...quick])).rejects.toThrow(/--masks .*: folder .*nope does not exist/);
    expect(existsSync(out)).toBe(false);
    await expect(purify(['--model', join(dir, 'missing.safetensors'), '--clean', cleanPath, '--out', out, ...quick])).rejects.toThrow(/--model .*missing\.safetensors does not exist/);
    await expect(purify(['--model', modelPath, '--clean', cleanPath, '--out', out, '--triggered', join(dir, 'none.safetensors'), '--target', '1', ...quick])).rejects.toThrow(/--triggered .*none\.safetensors: no such file/);
  });

  it('replaces an existing output only with --force', async () => {
    const out = join(dir, 'f.safetensors');
    const report = join(dir, 'f.json');
    await purify(['--model', modelPath, '--clean', cleanPath, '--out', out, '--report', report, ...quick]);
    expect(existsSync(out) && existsSync(report) && existsSync(join(dir, 'f.md'))).toBe(true);
    await expect(purify(['--model', modelPath, '--clean', cleanPath, '--out', out, ...quick])).rejects.toThrow(/--out .*f\.safetensors already exists; pass --force to replace it/);
    // the report's Markdown beside it is an output too
    await expect(purify(['--model', modelPath, '--clean', cleanPath, '--out', join(dir, 'g.safetensors'), '--report', join(dir, 'f.json'), ...quick])).rejects.toThrow(/--report .*f\.json already exists/);
    const lines = await purify(['--model', modelPath, '--clean', cleanPath, '--out', out, '--report', report, '--force', ...quick]);
    expect(lines.join('\n')).toMatch(/wrote .*f\.safetensors/);
  });

  it('refuses an unwritable folder', () => {
    const locked = join(dir, 'locked');
    mkdirSync(locked, { recursive: true });
    chmodSync(locked, 0o500);
    try {
      // root may write anywhere; the check must then agree with what the system allows
      let writable = true;
      try {
        writeFileSync(join(locked, 'probe'), 'x');
      } catch {
        writable = false;
      }
      if (writable) expect(() => checkOutputPaths([{ what: '--out', path: join(locked, 'x.safetensors') }], [], false)).not.toThrow();
      else expect(() => checkOutputPaths([{ what: '--out', path: join(locked, 'x.safetensors') }], [], false)).toThrow(/folder .*locked is not writable/);
    } finally {
      chmodSync(locked, 0o700);
    }
    expect(() => checkOutputPaths([{ what: '--out', path: join(dir, 'x') }, { what: '--report', path: join(dir, 'x') }], [], false)).toThrow(/--report and --out both name/);
    expect(() => checkOutputPaths([{ what: '--out', path: dir }], [], true)).toThrow(/is a folder; name a file/);
  });

  it('eval, train and attack check their outputs up front too', async () => {
    const report = join(dir, 'eval.json');
    writeFileSync(report, '{}');
    await expect(evalCommand.run(parseFlags(['--model', modelPath, '--dataset', 'mnist', '--data-dir', dir, '--report', report, '--backend', 'cpu'], evalCommand.flags), capture()))
      .rejects.toThrow(/--report .*eval\.json already exists; pass --force/);
    await expect(trainCommand.run(parseFlags(['--dataset', 'mnist', '--data-dir', dir, '--out', modelPath, '--backend', 'cpu'], trainCommand.flags), capture()))
      .rejects.toThrow(/--out .*model\.safetensors already exists; pass --force/);
    writeFileSync(join(dir, 'b.attack.json'), '{}');
    await expect(attackCommand.run(parseFlags(['--dataset', 'mnist', '--data-dir', dir, '--attack', 'badnets', '--out', join(dir, 'b.safetensors'), '--backend', 'cpu'], attackCommand.flags), capture()))
      .rejects.toThrow(/b\.attack\.json already exists; pass --force/);
  });
});

describe('writeFilesAtomic', () => {
  it('leaves none of the set when one file cannot be written, and no temporary files', async () => {
    const dir = makeTempDir('set');
    const a = join(dir, 'a.txt');
    writeFileSync(a, 'old');
    await expect(writeFilesAtomic([[a, 'new'], [join(dir, 'missing', 'b.txt'), 'b']])).rejects.toThrow(/ENOENT/);
    expect(readFileSync(a, 'utf8')).toBe('old');
    expect(readdirSync(dir)).toEqual(['a.txt']);
    await writeFilesAtomic([[a, 'new'], [join(dir, 'c.txt'), 'c']]);
    expect(readFileSync(a, 'utf8')).toBe('new');
    expect(readdirSync(dir).sort()).toEqual(['a.txt', 'c.txt']);
  });
});

describe('numeric flags', () => {
  const purifyFlags = (extra: string[]) => parseFlags(['--model', 'm.safetensors', '--clean', 'c', '--out', 'o.safetensors', ...extra], purifyCommand.flags);
  it('are refused out of range with the value as typed', () => {
    expect(() => purifyFlags(['--outer', '-3'])).toThrow(new UsageError("--outer must be at least 1, got '-3'"));
    expect(() => purifyFlags(['--alpha', '2'])).toThrow(new UsageError("--alpha must be between 0 and 1, got '2'"));
    expect(() => purifyFlags(['--tau', '-5'])).toThrow(new UsageError("--tau must be above 0, got '-5'"));
    expect(() => purifyFlags(['--eval-count', '-1'])).toThrow(new UsageError("--eval-count must be at least 1, got '-1'"));
    expect(() => purifyFlags(['--per-class', '0'])).toThrow(/--per-class must be at least 1, got '0'/);
    expect(() => purifyFlags(['--outer', '1e400'])).toThrow(/--outer takes an integer, got '1e400'/);
    expect(purifyFlags(['--alpha', '1', '--outer', '2', '--tau', '1e-3'])).toMatchObject({ alpha: 1, outer: 2, tau: 0.001 });
  });

  it('names of Object.prototype members are unknown flags, not found on the prototype', () => {
    for (const name of ['toString', 'constructor', 'hasOwnProperty', '__proto__']) {
      expect(() => purifyFlags([`--${name}=1`])).toThrow(new UsageError(`unknown flag --${name}`));
    }
  });
});

describe('the output flags', () => {
  it('every command\'s help lists --quiet and --json, and so does awm --help', async () => {
    const { main } = await import('../../src/cli/main.js');
    const { vi } = await import('vitest');
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      for (const name of ['train', 'eval', 'attack', 'purify', 'demo', 'explain']) {
        log.mockClear();
        expect(await main([name, '--help'])).toBe(0);
        const text = log.mock.calls.map((c) => String(c[0])).join('\n');
        expect(text).toMatch(/--quiet +print only the result/);
        expect(text).toMatch(/--json +print the result as one JSON document on stdout/);
      }
      log.mockClear();
      expect(await main(['--help'])).toBe(0);
      expect(log.mock.calls.map((c) => String(c[0])).join('\n')).toMatch(/every command also takes:\n {2}--quiet/);
    } finally {
      log.mockRestore();
    }
  });
});

describe('usage errors', () => {
  it('are one line with a pointer to --help, exit status 2, before any backend starts', async () => {
    const { main } = await import('../../src/cli/main.js');
    const { vi } = await import('vitest');
    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      expect(await main(['purify', '--model', 'm.safetensors', '--clean', 'c', '--out', 'o.safetensors', '--outer', '-3'])).toBe(2);
      expect(await main(['purfy'])).toBe(2);
      const lines = err.mock.calls.map((c) => String(c[0]));
      expect(lines).toEqual([
        "awm purify: --outer must be at least 1, got '-3' (awm purify --help lists the flags)",
        "awm: unknown command 'purfy' (commands: train, eval, attack, scan, purify, demo, explain; awm --help)",
      ]);
      expect(log).not.toHaveBeenCalled();
    } finally {
      err.mockRestore();
      log.mockRestore();
    }
  });
});
