/**
 * Progress on a terminal: one status line, redrawn in place, with a bar, the step count and the time left. Piped
 * output never sees it: there every progress report is a plain line (consoleIOFor decides).
 */
import type { DefenseProgress } from '../awm/defense.js';

/** Units done (rounds, steps, epochs) out of `total`, the seconds left at the pace so far, and the full line a pipe gets. */
export type Progress = DefenseProgress;

/** "1 h 02 min", "3 min 05 s", "42 s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

const BAR = 20;

/** The status line for `p`, cut to `columns` characters. */
export function statusLine(p: Progress, columns: number): string {
  const share = p.total > 0 ? Math.min(1, Math.max(0, p.done / p.total)) : 0;
  const filled = Math.round(share * BAR);
  const text = `[${'#'.repeat(filled)}${'.'.repeat(BAR - filled)}] ${p.unit} ${p.done}/${p.total}  ${formatDuration(p.etaSeconds)} left`;
  return text.length > columns - 1 ? text.slice(0, Math.max(0, columns - 1)) : text;
}

/** Erase the current terminal line and return to its start. */
const ERASE = '\r\x1b[2K';

/**
 * One redrawn status line beneath the ordinary lines. `line` prints an ordinary line above it; `update` prints the
 * progress line above it too (the same lines a pipe gets) and redraws it, until the last unit, when it goes.
 */
export class TerminalProgress {
  private shown: Progress | undefined;

  constructor(private readonly write: (text: string) => void, private readonly columns: () => number) {}

  line(text: string): void {
    this.above(text, this.shown);
  }

  update(p: Progress): void {
    this.above(p.line, p.done >= p.total ? undefined : p);
  }

  /** Clears the status line (before an error or at the end of a command). */
  end(): void {
    if (this.shown) this.write(ERASE);
    this.shown = undefined;
  }

  /** Erases the status line, prints `text`, and draws `next`'s status line beneath it (none when undefined). */
  private above(text: string, next: Progress | undefined): void {
    if (this.shown) this.write(ERASE);
    this.write(`${text}\n`);
    this.shown = next;
    if (next) this.draw(next);
  }

  private draw(p: Progress): void {
    this.write(`${ERASE}${statusLine(p, this.columns())}`);
  }
}
