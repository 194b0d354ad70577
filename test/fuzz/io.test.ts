/**
 * Seeded fuzzing of the byte-format parsers in src/io: every input is either refused with a
 * ParseError naming the file, or parsed to a value that survives a write-and-read round trip.
 */
import { describe, expect, it } from 'vitest';
import { fuzz, type SomeFuzzTarget } from './target.js';
import { imageTarget, pngTarget, pnmTarget, safetensorsTarget } from './targets-io.js';

describe('fuzzing the io parsers', () => {
  const targets: Array<[SomeFuzzTarget, number]> = [[safetensorsTarget, 400], [pngTarget, 300], [pnmTarget, 400], [imageTarget, 300]];
  for (const [target, runs] of targets) {
    it(`${target.name}: accepts or refuses with ParseError, never anything else`, async () => {
      const counts = await fuzz(target, runs);
      console.log(target.name, JSON.stringify(counts));
      expect(counts.tried).toBe(runs);
      // Both kinds of answer must occur, or the inputs never reach past the first check.
      expect(counts.accepted).toBeGreaterThan(runs / 20);
      expect(counts.rejected).toBeGreaterThan(runs / 20);
    });
  }
});
