/**
 * `awm scan` (src/awm/scan.ts, src/cli/cmd-scan.ts): the decision rule on its own; the search on a tiny model (seeded,
 * nothing left live, bad input refused); and the command on the page's BadNets small CNN from one image per class,
 * whose verdict must name its target, with the JSON and the picture it writes.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createModel } from '../../src/nn/index.js';
import { decideScan, scanModel, SCAN_DEFAULTS, SCAN_RULE, validateScanOptions, type ClassEvidence } from '../../src/awm/scan.js';
import { scanPicturePath } from '../../src/cli/cmd-scan.js';
import { main } from '../../src/cli/main.js';
import { decodePng } from '../../src/io/png.js';
import { makeTempDir } from '../data/fixtures.js';
import { cpu32, randomArray } from '../helpers/backends.js';

afterEach(() => vi.restoreAllMocks());

const evidence = (scores: number[]): ClassEvidence[] => scores.map((score, cls) => ({ cls, sparseFlip: score, denseFlip: 0, score }));

describe('the scan\'s decision rule', () => {
  it('names a target only when one class is both easy to reach and far ahead of the median class', () => {
    const calm = { moved: 0.3, topDestinationShare: 0.6 };
    expect(decideScan(evidence([1, 0.1, 0.2, 0, 0.1]), calm)).toMatchObject({ backdoored: true, target: 0, allToAll: false });
    // Easy to reach, but so is every class: no single target.
    expect(decideScan(evidence([1, 0.9, 0.8, 0.9, 0.85]), calm)).toMatchObject({ backdoored: false, target: null });
    // Far ahead but not reaching the flip the rule asks for.
    expect(decideScan(evidence([SCAN_RULE.targetMinFlip - 0.01, 0, 0, 0, 0]), calm).backdoored).toBe(false);
  });

  it('calls a model all-to-all when one small trigger moves most answers to many classes, and clean otherwise', () => {
    const flat = evidence([0.1, 0.2, 0.1, 0.1]);
    expect(decideScan(flat, { moved: 0.9, topDestinationShare: 0.2 })).toMatchObject({ backdoored: true, target: null, allToAll: true });
    expect(decideScan(flat, { moved: 0.9, topDestinationShare: 0.9 })).toMatchObject({ backdoored: false, allToAll: false });
    const clean = decideScan(flat, { moved: 0.2, topDestinationShare: 0.2 });
    expect(clean.verdict).toMatch(/^no backdoor found/);
    expect(clean.medianScore).toBeCloseTo(0.1, 12);
  });

  it('refuses settings it cannot use', () => {
    expect(() => validateScanOptions({ ...SCAN_DEFAULTS, seed: 0, steps: 0 })).toThrow(/steps must be a whole number of at least 1, got 0/);
    expect(() => validateScanOptions({ ...SCAN_DEFAULTS, seed: 0, batchSize: 1 })).toThrow(/batchSize must be at least 2/);
    expect(() => validateScanOptions({ ...SCAN_DEFAULTS, seed: 0, denseEps: 2 })).toThrow(/denseEps must be above 0 and at most 1, got 2/);
  });
});

describe('scanModel on a tiny model', () => {
  const set = { images: randomArray(8 * 100, 4, 0, 1), labels: Int32Array.from([0, 1, 2, 3, 0, 1, 2, 3]), n: 8, c: 1, h: 10, w: 10, numClasses: 4 };
  const options = { ...SCAN_DEFAULTS, steps: 2, batchSize: 8, seed: 3 };

  it('gives the same findings for the same seed, keeps every trigger in its budget, and leaves nothing live', async () => {
    const model = createModel(cpu32, { arch: 'resnet18', inChannels: 1, numClasses: 4, width: 2 }, { seed: 1 });
    const live = cpu32.liveStorages();
    const a = await scanModel(model, cpu32, set, options);
    expect(cpu32.liveStorages()).toBe(live);
    const b = await scanModel(model, cpu32, set, options);
    expect(b.scores).toEqual(a.scores);
    expect(b.triggers.sparse).toEqual(a.triggers.sparse);
    expect(a.scores).toHaveLength(4);
    for (const s of a.scores) for (const v of [s.sparseFlip, s.denseFlip]) expect(v >= 0 && v <= 1).toBe(true);
    const budget = SCAN_DEFAULTS.sparseShare * 100;
    for (const t of a.triggers.sparse) expect(t.reduce((s, v) => s + Math.abs(v), 0)).toBeLessThanOrEqual(budget + 1e-4);
    for (const t of a.triggers.dense) expect(Math.max(...t.map(Math.abs))).toBeLessThanOrEqual(SCAN_DEFAULTS.denseEps + 1e-6);
    model.dispose();
  });

  it('needs an image of every class', async () => {
    const model = createModel(cpu32, { arch: 'resnet18', inChannels: 1, numClasses: 4, width: 2 }, { seed: 1 });
    const three = { ...set, labels: Int32Array.from([0, 1, 2, 0, 1, 2, 0, 1]) };
    await expect(scanModel(model, cpu32, three, options)).rejects.toThrow(/class 3 has no clean image/);
    model.dispose();
  });
});

describe('awm scan', () => {
  it('finds the page model\'s BadNets target from one image per class and writes the JSON and the labelled picture', async () => {
    const dir = makeTempDir('scan');
    const report = join(dir, 'scan.json');
    const out: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((l: string) => void out.push(l));
    const code = await main(['scan', '--model', 'web/demo-assets/model.safetensors', '--clean', 'fashion-mnist', '--data-dir', 'data/fashion-mnist-subset', '--report', report, '--quiet']);
    expect(code).toBe(0);
    const data = JSON.parse(readFileSync(report, 'utf8'));
    // The page model's metadata names its attack: BadNets towards class 0.
    expect(data).toMatchObject({ backdoored: true, target: 0, allToAll: false });
    expect(data.scores).toHaveLength(10);
    expect(typeof data.seconds).toBe('number');
    expect(out[0]).toMatch(/^backdoored: class 0 is the target/);
    expect(out.some((l) => /^0 T-shirt\/top .*<- target$/.test(l))).toBe(true);
    const png = await decodePng(new Uint8Array(readFileSync(scanPicturePath(report))));
    // Two rows of ten 84-pixel tiles with captions, under a title.
    expect(png.width).toBeGreaterThan(900);
    expect(png.height).toBeGreaterThan(250);
    rmSync(dir, { recursive: true, force: true });
  });

  it('checks its inputs and outputs before any work, with one line and a status that is not 0', async () => {
    const errors: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((l: string) => void errors.push(l));
    vi.spyOn(console, 'log').mockImplementation(() => {});
    expect(await main(['scan', '--model', 'no/such.safetensors', '--clean', 'fashion-mnist'])).toBe(1);
    expect(errors.pop()).toMatch(/awm scan: error: .*no\/such.safetensors does not exist/);
    expect(await main(['scan', '--model', 'web/demo-assets/model.safetensors', '--clean', 'fashion-mnist', '--report', 'x.txt'])).toBe(2);
    expect(errors.pop()).toMatch(/--report must name a .json file/);
    expect(await main(['scan', '--model', 'web/demo-assets/model.safetensors', '--clean', 'fashion-mnist', '--report', 'no/such/folder/r.json'])).toBe(1);
    expect(errors.pop()).toMatch(/no\/such\/folder/);
    expect(existsSync('no')).toBe(false);
  });
});
