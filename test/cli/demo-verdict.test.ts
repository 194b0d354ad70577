/** The demo's closing words: erased within the goal, erased at too high a cost, or only weakened. */
import { describe, expect, it } from 'vitest';
import { demoVerdict } from '../../src/cli/cmd-demo.js';

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
