/**
 * The built `awm` command (dist/awm.mjs) runs when Node starts on it under any name, as through npm's bin link
 * node_modules/.bin/awm, and not when another program imports it; `awm --version` prints the version of the
 * package.json above it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const script = fileURLToPath(new URL('../../scripts/build-package.mjs', import.meta.url));
// Not the repository's version, so that a printed version can only have come from this package.json.
const VERSION = '7.3.1-entry-test';
let dir = '';
let awm = '';
let link = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'awm-cli-entry-'));
  const pkg = join(dir, 'node_modules', 'webgpu-awm');
  const r = spawnSync(process.execPath, [script, 'cli', '--outdir', join(pkg, 'dist')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`build-package.mjs cli failed (${r.status}): ${r.stderr}`);
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'webgpu-awm', version: VERSION, type: 'module' }));
  awm = join(pkg, 'dist', 'awm.mjs');
  mkdirSync(join(dir, 'node_modules', '.bin'));
  link = join(dir, 'node_modules', '.bin', 'awm');
  symlinkSync('../webgpu-awm/dist/awm.mjs', link);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (file: string, args: string[]) => spawnSync(file, args, { encoding: 'utf8', cwd: dir, timeout: 60_000 });

describe('the awm command as a package installs it', () => {
  it('runs through a bin link named awm: --help prints the commands, --version the package version', () => {
    const help = run(process.execPath, [link, '--help']);
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^usage: awm <command>/);
    for (const name of ['train', 'eval', 'attack', 'purify', 'demo', 'explain']) expect(help.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));

    const version = run(process.execPath, [link, '--version']);
    expect(version.status, version.stderr).toBe(0);
    expect(version.stdout.trim()).toBe(VERSION);
  });

  it('runs when the link itself is executed (its #! line), as npx does', () => {
    const r = run(link, ['-v']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(VERSION);
  });

  it('stays quiet when another program imports it, even one named awm.mjs', () => {
    const importer = join(dir, 'awm.mjs');
    writeFileSync(importer, `await import(${JSON.stringify(pathToFileURL(awm).href)});\nconsole.log('imported');\n`);
    const r = run(process.execPath, [importer, '--help']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('imported\n');
  });
});
