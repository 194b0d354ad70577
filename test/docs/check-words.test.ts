/**
 * scripts/check-words.mjs: its rules flag development-history narration and paths outside the repository, pass the
 * same words in their technical uses, and the command prints file:line for every hit in a git checkout and fails.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

interface Hit { line: number; column: number; words: string; rule: string }
const script = fileURLToPath(new URL('../../scripts/check-words.mjs', import.meta.url));
// A plain string specifier: the script is JavaScript with no declaration file, so its shape is stated here.
const { findHits } = (await import(script)) as { findHits(text: string): Hit[] };

const words = (text: string) => findHits(text).map((h) => h.words);

describe('check-words rules', () => {
  it.each([
    ['the same rounding as in stop 13', 'stop 13'],
    ['measured in stops 13-14', 'stops 13-14'],
    ['the stop-19 code', 'stop-19'],
    ['"stop16": {', 'stop16'],
    ['tried this stop and dropped', 'this stop'],
    ['the lease ran out', 'lease'],
    ['the second lease', 'lease'],
    ['earlier in the session', 'session'],
    ['it was previously 4 ms', 'previously'],
    ['the flag is no longer needed', 'no longer'],
    ['it used to pick the last round', 'it used to'],
    ['--check-starts N (new, opt-in)', '(new,'],
    ['see /work/shared/awm-spec.md', '/work/shared'],
    ['copied from /work/main/models', '/work/main'],
    ['the triggers of ../shared/models', '../shared'],
  ])('flags %j', (text, hit) => {
    expect(words(text)).toEqual([hit]);
  });

  it.each([
    'if (hooks.shouldStop?.()) throw new Error(\'AWM stopped\')',
    'stop the server with Ctrl+C',
    'serving on port 8080; Ctrl+C to stop',
    'stop each epoch after this many steps',
    'a stopped sweep resumes where it left off',
    'stops at the minimum of the regularised loss',
    'be.release(s); releaseTemporary(ctx, part)',
    'please name the file',
    'the seed used to draw the clean images',
    'the stop button aborts between steps',
    'the masks of round 2 of 8, 20 steps',
    'test/fixtures/README.md and ../fixtures/awm_round.safetensors',
  ])('passes %j', (text) => {
    expect(findHits(text)).toEqual([]);
  });

  it('reports every hit with its line and column, in order', () => {
    const hits = findHits('clean line\nas in stop 13, the lease\n\nnothing /work/shared here');
    expect(hits.map((h) => [h.line, h.column, h.words])).toEqual([[2, 7, 'stop 13'], [2, 20, 'lease'], [4, 9, '/work/shared']]);
    expect(hits.every((h) => h.rule.length > 0)).toBe(true);
  });
});

describe('check-words command', () => {
  const dir = mkdtempSync(join(tmpdir(), 'check-words-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const git = (...args: string[]) => {
    const r = spawnSync('git', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  };
  const run = () => spawnSync(process.execPath, [script], { cwd: dir, encoding: 'utf8' });

  it('prints file:line for each hit in the tracked files and exits 1; passes a clean tree', () => {
    git('init', '-q');
    writeFileSync(join(dir, 'clean.md'), 'What the code does and why.\nshouldStop() ends the run.\n');
    writeFileSync(join(dir, 'notes.md'), 'Fine.\nMeasured as in stop 13.\nThe lease ended.\n');
    writeFileSync(join(dir, 'model.bin'), Buffer.concat([Buffer.from([0, 1, 2]), Buffer.from('stop 13 lease')]));
    writeFileSync(join(dir, 'untracked.md'), 'stop 13\n');
    git('add', 'clean.md', 'notes.md', 'model.bin');
    const bad = run();
    expect(bad.status).toBe(1);
    expect(bad.stdout.trim().split('\n')).toEqual(['notes.md:2: "stop 13" (a numbered stop)', 'notes.md:3: "lease" (a lease)']);
    expect(bad.stderr).toMatch(/2 hit\(s\)/);

    writeFileSync(join(dir, 'notes.md'), 'Fine.\nMeasured with --seed 13.\n');
    const good = run();
    expect(good.stdout).toBe('');
    expect(good.status).toBe(0);
  });
});
