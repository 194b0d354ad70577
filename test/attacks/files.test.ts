import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { attackPreset, hasFilePatterns, inlinePattern } from '../../src/attacks/index.js';
import { readAttackSpecFile, writeAttackSpecFile } from '../../src/attacks/files.node.js';
import { serializeSafetensors } from '../../src/io/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'awm-attack-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('spec files', () => {
  it('resolve pattern files against the spec file\'s folder', async () => {
    const values = Float32Array.from({ length: 9 }, (_, i) => i / 9);
    writeFileSync(join(dir, 'trigger.safetensors'), serializeSafetensors({ img: { shape: [3, 3], data: values } }));
    const spec = { name: 'mine', backdoors: [{ trigger: { type: 'blend', alpha: 0.3, pattern: { type: 'file', path: 'trigger.safetensors', key: 'img' } }, label: { type: 'all-to-one', target: 1 }, poison: { rate: 0.1 } }] };
    writeFileSync(join(dir, 'spec.json'), JSON.stringify(spec));
    const read = await readAttackSpecFile(join(dir, 'spec.json'));
    expect(hasFilePatterns(read)).toBe(false);
    expect(read.backdoors[0]!.trigger).toEqual({ type: 'blend', alpha: 0.3, pattern: inlinePattern(values, [1, 3, 3]) });
  });

  it('write and read back; errors name the file', async () => {
    const spec = attackPreset('clb');
    await writeAttackSpecFile(join(dir, 'clb.json'), spec);
    expect(await readAttackSpecFile(join(dir, 'clb.json'))).toEqual(spec);
    writeFileSync(join(dir, 'bad.json'), '{"name": "b", "backdoors": [{}]}');
    await expect(readAttackSpecFile(join(dir, 'bad.json'))).rejects.toThrow(/bad\.json: attack spec: backdoors\[0\]\.trigger must be an object, got nothing/);
    await expect(readAttackSpecFile(join(dir, 'missing.json'))).rejects.toThrow(/cannot read .*missing\.json/);
  });
});
