/**
 * Seeded fuzzing of the attack-spec reader, the CLI's flag parser and the page's handling of dropped
 * model and image files: each input is accepted (and survives a round trip) or refused with the
 * project's own error (ParseError, UsageError, PageError), never with anything else.
 */
import { describe, expect, it } from 'vitest';
import { parseFlags, UsageError } from '../../src/cli/args.js';
import { fuzz, type SomeFuzzTarget } from './target.js';
import { attackSpecTarget, cliArgsTarget, pageImagesTarget, pageModelTarget } from './targets-other.js';

describe('fuzzing the text and page inputs', () => {
  const targets: Array<[SomeFuzzTarget, number]> = [[attackSpecTarget, 600], [cliArgsTarget(), 800], [pageModelTarget, 150], [pageImagesTarget, 200]];
  for (const [target, runs] of targets) {
    it(`${target.name}: accepts or refuses with the project's error, never anything else`, async () => {
      const counts = await fuzz(target, runs);
      console.log(target.name, JSON.stringify(counts));
      expect(counts.tried).toBe(runs);
      expect(counts.accepted).toBeGreaterThan(runs / 20);
      expect(counts.rejected).toBeGreaterThan(runs / 20);
    });
  }
});
