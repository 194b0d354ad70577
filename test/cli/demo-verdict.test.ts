/** The demo's closing words (erased within the goal, erased at too high a cost, or only weakened) and its summary picture. */
import { describe, expect, it } from 'vitest';
import { demoVerdict, summaryExampleIndices, trueTriggerDelta } from '../../src/cli/cmd-demo.js';
import { summaryPicture, type SummaryInput } from '../../src/awm/summary-picture.js';
import { PALETTE } from '../../src/awm/picture-parts.js';
import { attackPreset } from '../../src/attacks/index.js';
import { getPixel } from '../../src/io/draw.js';
import { decodePngNode, encodePngCompressed } from '../../src/io/png.node.js';
import type { RasterImage } from '../../src/io/raster.js';

describe('demoVerdict', () => {
  const before = { cleanAccuracy: 0.85, asr: 0.99 };
  it('says erased within the goal at ASR <= 5 % and <= 8 points lost', () => {
    expect(demoVerdict(before, { cleanAccuracy: 0.78, asr: 0.05 }, 'out/b.safetensors')).toEqual(['The backdoor is erased: ASR at most 5 % with 7.0 points of clean accuracy lost (the goal allows 8).']);
  });
  it('names the cost when more than 8 points were lost', () => {
    expect(demoVerdict(before, { cleanAccuracy: 0.76, asr: 0.01 }, 'out/b.safetensors')[0]).toMatch(/erased, but at 9.0 points of clean accuracy/);
  });
  it('says weakened, not erased, above 5 %, and points to awm explain', () => {
    const words = demoVerdict(before, { cleanAccuracy: 0.82, asr: 0.0501 }, 'out/b.safetensors').join('\n');
    expect(words).toMatch(/^The backdoor is weakened, not erased/);
    expect(words).toMatch(/npm run awm -- explain --model out\/b.safetensors --seed S$/);
  });
});

describe('the demo\'s summary picture', () => {
  const shape = { c: 1, h: 6, w: 6 };
  const same = (a: readonly number[], b: readonly number[]) => a[0] === b[0] && a[1] === b[1] && a[2] === b[2];
  /** The longest run of one colour in any row: a bar's length in pixels. */
  const longestRun = (image: RasterImage, color: readonly number[]) => {
    let best = 0;
    for (let y = 0; y < image.height; y++) {
      let run = 0;
      for (let x = 0; x < image.width; x++) {
        run = same(getPixel(image, x, y), color) ? run + 1 : 0;
        best = Math.max(best, run);
      }
    }
    return best;
  };
  const count = (image: RasterImage, color: readonly number[]) => {
    let n = 0;
    for (let y = 0; y < image.height; y++) for (let x = 0; x < image.width; x++) if (same(getPixel(image, x, y), color)) n++;
    return n;
  };
  const input = (answers: { before: number; after: number }): SummaryInput => ({
    title: 'Backdoor before and after',
    subtitles: ['synthetic'],
    shape,
    classNames: ['zero', 'one', 'two'],
    target: 0,
    examples: [1, 2].map((label) => ({ image: new Float32Array(36).fill(0.4), label, ...answers })),
    trueTrigger: new Float32Array(36).fill(0.5),
    recovered: { delta: new Float32Array(36).fill(-0.1), caption: 'recovered, round 3' },
    before: { cleanAccuracy: 0.9, asr: 1 },
    after: { cleanAccuracy: 0.5, asr: 0.25 },
    evaluationImages: 100,
  });

  it('draws the rates as bars of their length, 300 pixels for 100 %', async () => {
    const image = summaryPicture(input({ before: 0, after: 1 }));
    const decoded = await decodePngNode(encodePngCompressed(image));
    expect([decoded.width, decoded.height]).toEqual([image.width, image.height]);
    expect(longestRun(decoded, PALETTE.before)).toBe(300);
    expect(longestRun(decoded, PALETTE.after)).toBe(150);
    const lower = summaryPicture({ ...input({ before: 0, after: 1 }), before: { cleanAccuracy: 0.6, asr: 0.3 }, after: { cleanAccuracy: 0.2, asr: 0.1 } });
    expect(longestRun(lower, PALETTE.before)).toBe(180);
    expect(longestRun(lower, PALETTE.after)).toBe(60);
  });

  it('colours each answer by what it is: right, the target, another wrong class', () => {
    const fooled = summaryPicture(input({ before: 0, after: 0 }));
    const fixed = summaryPicture(input({ before: 0, after: 1 }));
    // Example 1 answers 'one' after (right), example 2 answers 'one' too (wrong, not the target).
    expect(count(fixed, PALETTE.right)).toBeGreaterThan(count(fooled, PALETTE.right));
    expect(count(fixed, PALETTE.otherWrong)).toBeGreaterThan(count(fooled, PALETTE.otherWrong));
    expect(count(fooled, PALETTE.target)).toBeGreaterThan(count(fixed, PALETTE.target));
  });

  it('has a title, the examples and both triggers', () => {
    const image = summaryPicture(input({ before: 0, after: 1 }));
    let titleInk = 0;
    for (let y = 10; y < 24; y++) for (let x = 0; x < image.width; x++) if (getPixel(image, x, y)[0] < 100) titleInk++;
    expect(titleInk).toBeGreaterThan(100);
    // The examples' grey (0.4 -> 102), the true trigger's bright +peak and the recovered one's dark -peak.
    expect(count(image, [102, 102, 102])).toBeGreaterThanOrEqual(2 * 36 * 14 * 14);
    expect(count(image, [255, 255, 255])).toBeGreaterThan(0);
    expect(count(image, [1, 1, 1])).toBeGreaterThanOrEqual(36 * 19 * 19);
    const without = summaryPicture({ ...input({ before: 0, after: 1 }), trueTrigger: undefined, recovered: undefined });
    expect(count(without, [1, 1, 1])).toBe(0);
  });

  it('shows the first image of each class but the target, and the attack\'s own trigger on grey', () => {
    const labels = Int32Array.from([0, 2, 2, 1, 0, 3]);
    expect(summaryExampleIndices({ labels, n: 6, numClasses: 4 }, 0, 6)).toEqual([3, 1, 5]);
    expect(summaryExampleIndices({ labels, n: 6, numClasses: 4 }, 2, 2)).toEqual([0, 3]);
    const delta = trueTriggerDelta(attackPreset('badnets'), { c: 1, h: 8, w: 8 });
    const on = Array.from(delta.keys()).filter((i) => delta[i] !== 0);
    expect(on).toEqual([45, 46, 47, 53, 54, 55, 61, 62, 63]);
    expect(delta[63]).toBeCloseTo(0.5, 6);
  });
});
