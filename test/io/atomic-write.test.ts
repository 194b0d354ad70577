import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/io/atomic-write.node.js';

describe('writeFileAtomic', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'awm-atomic-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes bytes and strings, replacing an existing file and leaving no temp files', async () => {
    const path = join(dir, 'weights.bin');
    writeFileSync(path, 'old contents');
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    expect(Array.from(readFileSync(path))).toEqual([1, 2, 3]);
    await writeFileAtomic(join(dir, 'note.txt'), 'héllo');
    expect(readFileSync(join(dir, 'note.txt'), 'utf8')).toBe('héllo');
    expect(readdirSync(dir).sort()).toEqual(['note.txt', 'weights.bin']);
  });

  it('removes the temp file and keeps the old file when the rename fails', async () => {
    // Renaming a file over a non-empty directory fails after the temp file has been written.
    const target = join(dir, 'occupied');
    mkdirSync(join(target, 'child'), { recursive: true });
    await expect(writeFileAtomic(target, 'data')).rejects.toThrow();
    expect(readdirSync(dir)).toEqual(['occupied']);
  });

  it('fails cleanly when the directory does not exist', async () => {
    await expect(writeFileAtomic(join(dir, 'missing', 'x.bin'), 'data')).rejects.toThrow(/ENOENT/);
  });
});
