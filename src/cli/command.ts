import { TerminalProgress, type Progress } from './progress-line.js';
import { reportProgress } from '../awm/defense.js';
import type { EpochStats } from '../train/train.js';

/** What every `awm` subcommand provides: its flags, a one-line summary, and a run function. */
import type { FlagSpecs, ParsedFlags } from './args.js';

export interface Command {
  name: string;
  summary: string;
  flags: FlagSpecs;
  run(flags: ParsedFlags, io: CommandIO): Promise<void>;
}

/** Output channels, so tests can capture what a command prints. */
export interface CommandIO {
  /** Progress and detail: dropped by --quiet, sent to stderr by --json. */
  log(line: string): void;
  warn(line: string): void;
  /** How far a long run is; without it (or when piped) the progress line goes to log. */
  progress?(p: Progress): void;
  /**
   * What the command found or wrote, once at its end: `lines` for a person, `data` for a program (--json prints it
   * alone on stdout). Without it the lines go to log.
   */
  result?(lines: readonly string[], data: Record<string, unknown>): void;
}

/** Hands a command's result to the IO, or its lines to log where the IO has no result channel. */
export function emitResult(io: CommandIO, lines: readonly string[], data: Record<string, unknown>): void {
  if (io.result) io.result(lines, data);
  else for (const line of lines) io.log(line);
}

/**
 * Epoch progress for a training run: each epoch's line, and on a terminal the status line with the time left at the
 * mean epoch's pace (a second run, e.g. the clean model before the backdoored one, starts the count again at epoch 1).
 */
export function epochProgress(io: CommandIO): (s: EpochStats, line: string) => void {
  let seconds = 0;
  return (s, line) => {
    seconds = s.epoch === 1 ? s.seconds : seconds + s.seconds;
    reportProgress(io, { done: s.epoch, total: s.epochs, etaSeconds: (seconds / s.epoch) * (s.epochs - s.epoch), unit: 'epoch', line });
  };
}

/** The global output flags every command takes (main strips them before the command's own flags are parsed). */
export interface OutputMode {
  /** Progress lines dropped; warnings, errors and the result stay. */
  quiet: boolean;
  /** The result as one JSON document on stdout; progress on stderr (or nowhere with quiet). */
  json: boolean;
}

export const OUTPUT_FLAGS_HELP = [
  '  --quiet        print only the result (and warnings and errors)',
  '  --json         print the result as one JSON document on stdout; progress goes to stderr',
];

/** Where a terminal's status line is drawn: absent when stdout is not a terminal (a pipe, a file). */
export interface StatusTerminal {
  write(text: string): void;
  columns(): number;
}

/** stdout, when it is a terminal. */
export function stdoutTerminal(): StatusTerminal | undefined {
  const out = process.stdout;
  return out.isTTY ? { write: (text) => void out.write(text), columns: () => out.columns || 80 } : undefined;
}

/**
 * The console for an output mode. On a terminal (normal mode) progress also draws a status line with a bar and the
 * time left beneath the printed lines; piped, progress lines are plain lines.
 */
export function consoleIOFor(mode: OutputMode, terminal: StatusTerminal | undefined = mode.quiet || mode.json ? undefined : stdoutTerminal()): CommandIO {
  const toStderr = (line: string) => console.error(line);
  if (terminal && !mode.quiet && !mode.json) {
    const status = new TerminalProgress((text) => terminal.write(text), () => terminal.columns());
    return {
      log: (line) => status.line(line),
      warn: (line) => { status.end(); toStderr(line); },
      progress: (p) => status.update(p),
      result: (lines) => { status.end(); for (const line of lines) status.line(line); },
    };
  }
  const log = mode.quiet ? () => undefined : mode.json ? toStderr : (line: string) => console.log(line);
  return {
    log,
    warn: toStderr,
    progress: (p) => log(p.line),
    result: mode.json ? (_lines, data) => console.log(JSON.stringify(data, null, 2)) : (lines) => { for (const line of lines) console.log(line); },
  };
}

/** Plain lines, for help texts and messages outside a command's run. */
export const consoleIO: CommandIO = consoleIOFor({ quiet: false, json: false }, undefined);
