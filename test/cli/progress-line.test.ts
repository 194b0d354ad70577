/**
 * Progress on a terminal (src/cli/progress-line.ts, consoleIOFor): a status line with a bar and the time left,
 * redrawn beneath the printed lines and gone at the end; piped, the same progress is plain lines and nothing else.
 */
import { describe, expect, it, vi } from 'vitest';
import { formatDuration, statusLine, TerminalProgress, type Progress } from '../../src/cli/progress-line.js';
import { consoleIOFor } from '../../src/cli/command.js';
import { roundLogger } from '../../src/awm/awm-defense.js';
import type { AwmRoundStats } from '../../src/awm/awm.js';

const at = (done: number, total: number, etaSeconds = 65): Progress => ({ done, total, etaSeconds, unit: 'round', line: `round ${done}/${total} loss 0.5` });
const ERASE = '\r\x1b[2K';

describe('progress on a terminal', () => {
  it('formats the time left', () => {
    expect(formatDuration(42.4)).toBe('42 s');
    expect(formatDuration(185)).toBe('3 min 05 s');
    expect(formatDuration(3720)).toBe('1 h 02 min');
    expect(formatDuration(Number.NaN)).toBe('?');
  });

  it('draws a bar, the count and the time left, cut to the terminal width', () => {
    expect(statusLine(at(5, 20), 80)).toBe('[#####...............] round 5/20  1 min 05 s left');
    expect(statusLine(at(20, 20), 80)).toBe('[####################] round 20/20  1 min 05 s left');
    expect(statusLine(at(5, 20), 20)).toHaveLength(19);
  });

  it('prints lines above the status line, redraws it, and removes it at the last unit', () => {
    const out: string[] = [];
    const tp = new TerminalProgress((t) => out.push(t), () => 80);
    tp.line('model: m');
    tp.update(at(1, 2));
    tp.line('a warning-free line');
    tp.update(at(2, 2));
    tp.line('done');
    expect(out.join('')).toBe(
      'model: m\n' +
      `round 1/2 loss 0.5\n${ERASE}[##########..........] round 1/2  1 min 05 s left` +
      `${ERASE}a warning-free line\n${ERASE}[##########..........] round 1/2  1 min 05 s left` +
      `${ERASE}round 2/2 loss 0.5\n` +
      'done\n');
  });

  it('consoleIOFor: a terminal gets the status line; a pipe gets the progress lines only', () => {
    const drawn: string[] = [];
    const term = consoleIOFor({ quiet: false, json: false }, { write: (t) => drawn.push(t), columns: () => 80 });
    term.progress!(at(1, 4));
    term.result!(['ASR 1 %'], {});
    expect(drawn.join('')).toContain('[#####...............] round 1/4');
    expect(drawn.join('').endsWith(`${ERASE}ASR 1 %\n`)).toBe(true);

    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      const piped = consoleIOFor({ quiet: false, json: false }, undefined);
      piped.progress!(at(1, 4));
      expect(log.mock.calls).toEqual([['round 1/4 loss 0.5']]);
      log.mockClear();
      consoleIOFor({ quiet: true, json: false }).progress!(at(1, 4));
      expect(log).not.toHaveBeenCalled();
    } finally {
      log.mockRestore();
    }
  });

  it('the AWM round logger hands progress with the time left to a caller that takes it, else logs the line', async () => {
    const stats = { round: 2, rounds: 8, loss: 1, cleanLoss: 1, triggeredLoss: 1, triggerL1: 1, triggerL1Rescaled: 1, meanMask: 1, seconds: 1 } as AwmRoundStats;
    const seen: Progress[] = [];
    const logged: string[] = [];
    const base = { backend: undefined as never, model: undefined as never, clean: undefined as never, seed: 0, log: (l: string) => logged.push(l) };
    await roundLogger({ ...base, progress: (p) => seen.push(p) }, performance.now() - 2000, 10).onRound!(stats);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ done: 2, total: 8, unit: 'round' });
    expect(seen[0]!.etaSeconds).toBeGreaterThan(5.9);
    expect(seen[0]!.line).toMatch(/^round  2\/8 .* ETA 6 s$/);
    expect(logged).toEqual([]);
    await roundLogger(base, performance.now(), 10).onRound!(stats);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/^round  2\/8 /);
  });
});
