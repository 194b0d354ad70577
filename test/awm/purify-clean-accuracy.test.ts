/**
 * purifyModel's check on the clean images themselves (src/awm/purify.ts): the share the model answers right before and
 * after the defense goes into the report and the log, and a defense that loses them (here ANP pruning every channel)
 * gets a warning, the one sign a user without evaluation data has that the model was wrecked.
 */
import { describe, expect, it } from 'vitest';
import { createModel } from '../../src/nn/index.js';
import type { CleanSet } from '../../src/awm/clean-set.js';
import { cleanAccuracyWarning, cleanSetAccuracy, purifyModel } from '../../src/awm/purify.js';
import { reportMarkdown } from '../../src/awm/report.js';
import { predictClasses } from '../../src/train/train.js';
import { cpu32, randomArray } from '../helpers/backends.js';

describe('cleanAccuracyWarning', () => {
  it('warns only past 10 points and two images, with a hint for ANP', () => {
    expect(cleanAccuracyWarning('awm', 10, 1, 0.9)).toBeUndefined();
    expect(cleanAccuracyWarning('awm', 10, 1, 0.8)).toBeUndefined();
    expect(cleanAccuracyWarning('awm', 10, 1, 0.7)).toMatch(/answers 7 of 10 clean images right, against 10 of 10 before/);
    expect(cleanAccuracyWarning('awm', 100, 0.9, 0.85)).toBeUndefined();
    expect(cleanAccuracyWarning('awm', 100, 0.9, 0.79)).toMatch(/79 of 100 .* 90 of 100/);
    expect(cleanAccuracyWarning('awm+', 100, 0.9, 1)).toBeUndefined();
    expect(cleanAccuracyWarning('anp', 10, 1, 0.5)).toMatch(/--prune-count K/);
    expect(cleanAccuracyWarning('ft', 10, 1, 0.5)).not.toMatch(/prune/);
  });
});

/** A tiny 2-class ResNet and `perClass` random images of each class it answers, labelled with its answers (100 % right). */
async function modelAndOwnAnswers(perClass: number) {
  const model = createModel(cpu32, { arch: 'resnet18', inChannels: 1, numClasses: 2, width: 4 }, { seed: 3 });
  const pool = randomArray(64 * 144, 11, 0, 1);
  const answers = await predictClasses(model, cpu32, pool, [64, 1, 12, 12]);
  const rows = [0, 1].flatMap((k) => Array.from(answers.keys()).filter((i) => answers[i] === k).slice(0, perClass));
  expect(rows).toHaveLength(2 * perClass);
  const images = new Float32Array(rows.length * 144);
  rows.forEach((r, i) => images.set(pool.subarray(r * 144, (r + 1) * 144), i * 144));
  const clean: CleanSet = { images, labels: Int32Array.from(rows.map((r) => answers[r]!)), n: rows.length, c: 1, h: 12, w: 12, numClasses: 2 };
  return { model, clean };
}

describe('purifyModel on the clean images themselves', () => {
  it('reports them right before and after, and warns when ANP pruning every channel loses them', async () => {
    const { model, clean } = await modelAndOwnAnswers(3);
    expect(await cleanSetAccuracy(model, cpu32, clean)).toBe(1);

    const lines: string[] = [];
    // Pruning every BatchNorm channel leaves each block emitting its bias: one answer for every image.
    const { report } = await purifyModel(cpu32, model, clean, { method: 'anp', seed: 1, anp: { iterations: 1, batchSize: 4, pruneValue: 1 } }, { log: (l) => lines.push(l) });
    expect(report.clean.accuracyBefore).toBe(1);
    expect(report.clean.accuracyAfter).toBe(0.5);
    expect(await cleanSetAccuracy(model, cpu32, clean)).toBe(0.5);
    expect(lines).toContain('clean images right: 6 of 6 before the defense, 3 after');
    expect(lines.some((l) => /^warning: the purified model answers 3 of 6 clean images right, against 6 of 6 before the defense.*--prune-count/.test(l))).toBe(true);
    expect(reportMarkdown(report)).toContain('the model answered 100.00 % of them right before the defense, 50.00 % after');
    model.dispose();
  });

  it('does not warn when the defense keeps them', async () => {
    const { model, clean } = await modelAndOwnAnswers(2);
    const lines: string[] = [];
    // Pruning nothing (threshold 0: no mask reaches it after one step) keeps the model as it was.
    const { report } = await purifyModel(cpu32, model, clean, { method: 'anp', seed: 1, anp: { iterations: 1, batchSize: 4, pruneValue: 0 } }, { log: (l) => lines.push(l) });
    expect(report.clean.accuracyBefore).toBe(1);
    expect(report.clean.accuracyAfter).toBe(1);
    expect(lines).toContain('clean images right: 4 of 4 before the defense, 4 after');
    expect(lines.some((l) => l.startsWith('warning:'))).toBe(false);
    model.dispose();
  });
});
