/**
 * Seeded fuzzing of the dataset parsers in src/data: every input is either refused with a ParseError
 * naming the file, or parsed to a dataset (or rows) that a write-and-read round trip gives back.
 */
import { describe, expect, it } from 'vitest';
import { fuzz, type SomeFuzzTarget } from './target.js';
import { cifar10Target, gtsrbCsvTarget, gtsrbImageTarget, idxTarget } from './targets-data.js';

describe('fuzzing the dataset parsers', () => {
  const targets: Array<[SomeFuzzTarget, number]> = [[idxTarget, 400], [cifar10Target, 300], [gtsrbCsvTarget, 500], [gtsrbImageTarget, 300]];
  for (const [target, runs] of targets) {
    it(`${target.name}: accepts or refuses with ParseError, never anything else`, async () => {
      const counts = await fuzz(target, runs);
      console.log(target.name, JSON.stringify(counts));
      expect(counts.tried).toBe(runs);
      expect(counts.accepted).toBeGreaterThan(runs / 20);
      expect(counts.rejected).toBeGreaterThan(runs / 20);
    });
  }
});
