/** The zoo benchmark's pure parts: which models a --models value names, and the tables written from its results. */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { cellKey, methodArgs, selectModels, ZOO, zooTables } from '../../bench/zoo.js';

const cell = (model: string, method: string, seed: number, accAfter: number, asrAfter: number, seconds: number, extra: Record<string, number> = {}) => ({
  model, method, perClass: 1, seed, evalImages: 1000, accBefore: 0.9, accAfter, asrBefore: 1, asrAfter, seconds, backend: 'test adapter',
  wallSeconds: seconds + 5, date: '2026-01-01', ...extra,
});

describe('the zoo benchmark', () => {
  it('has two halves of at least 14 models, and every PyTorch model file with its triggered images is in the repo', () => {
    expect(ZOO.length).toBeGreaterThanOrEqual(14);
    expect(new Set(ZOO.map((m) => m.id)).size).toBe(ZOO.length);
    expect(ZOO.filter((m) => m.split === 'held-out').length).toBeGreaterThanOrEqual(5);
    for (const m of ZOO.filter((z) => z.triggered)) {
      expect(existsSync(m.file), m.file).toBe(true);
      expect(existsSync(m.triggered!), m.triggered).toBe(true);
      expect(existsSync(m.file.replace(/\.safetensors$/, '.json')), `${m.id} model card`).toBe(true);
    }
  });

  it('turns a method with settings into awm purify flags, and names a setting without a value', () => {
    expect(methodArgs('awm')).toEqual(['--method', 'awm']);
    expect(methodArgs('awm-dual:alpha=0.7:mask-lr=0.01')).toEqual(['--method', 'awm-dual', '--alpha', '0.7', '--mask-lr', '0.01']);
    expect(() => methodArgs('awm-dual:alpha')).toThrow(/'alpha' in 'awm-dual:alpha' is not flag=value/);
  });

  it('selects models by id and by half, in zoo order, and names an unknown id', () => {
    expect(selectModels('r18-sig,r18-badnets').map((m) => m.id)).toEqual(['r18-badnets', 'r18-sig']);
    expect(selectModels('held-out').every((m) => m.split === 'held-out')).toBe(true);
    expect(selectModels('all')).toHaveLength(ZOO.length);
    expect(() => selectModels('r18-nope')).toThrow(/unknown model 'r18-nope'/);
  });

  it('writes one row per model, method and size, the goal judged on the mean and the worst seed', () => {
    const r = (k: string, v: object) => [cellKey(ZOO.find((m) => m.id === k.split('|')[0])!, k.split('|')[1]!, 1, Number(k.split('|')[2]), 1000), v] as const;
    const results = {
      updated: '',
      cells: Object.fromEntries([
        r('r18-sig|awm+|0', cell('r18-sig', 'awm+', 0, 0.88, 0.02, 100, { comebackAsr: 0.5, comebackSteps: 20 })),
        r('r18-sig|awm+|1', cell('r18-sig', 'awm+', 1, 0.88, 0.04, 100)),
        r('r18-sig|awm|0', cell('r18-sig', 'awm', 0, 0.89, 0.5, 200)),
        r('r18-sig|awm|1', cell('r18-sig', 'awm', 1, 0.89, 0.3, 200)),
        r('r18-a2a|awm+|0', cell('r18-a2a', 'awm+', 0, 0.88, 0.03, 100)),
        r('r18-a2a|awm+|1', cell('r18-a2a', 'awm+', 1, 0.88, 0.12, 100)),
        r('r18-clean|awm+|0', cell('r18-clean', 'awm+', 0, 0.86, 0.01, 100)),
        r('r18-wanet|awm+|0', { error: 'awm purify exited with status 1', date: '' }),
      ]),
    };
    const md = zooTables(results as Parameters<typeof zooTables>[0], 1000);
    const row = (id: string, method: string) => md.split('\n').find((l) => l.startsWith(`| ${id} |`) && l.includes(`| ${method} |`))!;
    expect(row('r18-sig', 'awm+')).toMatch(/\| 0,1 \| 90\.0 -> 88\.0 \| 100\.0 -> 3\.0 \[4\.0\] \| 50\.0 \(20 steps\) \| 100 \| 0\.50 \| met \|$/);
    expect(row('r18-sig', 'awm')).toMatch(/\| 100\.0 -> 40\.0 \[50\.0\] \| {2}\| 200 \| {2}\| missed \(ASR 40\.0, 1\.0 pts lost\) \|$/);
    // mean 7.5 % misses 5 %, and one seed above 10 % would miss it anyway
    expect(row('r18-a2a', 'awm+')).toMatch(/missed \(ASR 7\.5, 2\.0 pts lost\)/);
    // a clean model is judged on its accuracy alone, at 3 points
    expect(row('r18-clean', 'awm+')).toMatch(/missed \(4\.0 pts lost\)/);
    expect(md.indexOf('r18-clean')).toBeGreaterThan(md.indexOf('## Held-out half'));
    expect(md.indexOf('| r18-sig |')).toBeLessThan(md.indexOf('## Held-out half'));
    expect(md).toMatch(/## Failed cells\n\n- r18-wanet\|awm\+\|1\|seed0\|eval1000: awm purify exited with status 1/);
    expect(md).toMatch(/Not run yet: .*preact-badnets/);
    expect(md).toMatch(/Measured on: test adapter\./);
  });
});
